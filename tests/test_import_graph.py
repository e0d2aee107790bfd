"""No import circle between npfp's modules (issue 18 item 5), function-level imports included."""
import ast
import pathlib

import npfp

ROOT = pathlib.Path(npfp.__file__).parent


def _module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _graph():
    graph = {}
    for path in ROOT.rglob("*.py"):
        if "assignments" in path.parts or "templates" in path.parts:
            continue
        name = _module_name(path)
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        deps = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                deps.add(target)
                deps.update(f"{target}.{a.name}" for a in node.names)
        graph[name] = deps
    return {k: {d for d in v if d in graph and d != k} for k, v in graph.items()}


def _cycles(graph, modules):
    """Two-module circles a <-> b among ``modules`` (package __init__ re-exports excluded)."""
    return sorted((a, b) for a in modules for b in graph[a]
                  if a < b and a in graph.get(b, ()) and not
                  (a.count(".") != b.count(".") and (b.startswith(a + ".") or a.startswith(b + "."))))


def test_no_two_module_import_circle_in_expressivity():
    g = _graph()
    mods = [m for m in g if m.startswith("npfp.expressivity.")]
    assert not _cycles(g, mods)


def test_no_two_module_import_circle_anywhere():
    g = _graph()
    assert not _cycles(g, list(g))


def test_plotting_helpers_live_in_their_own_module():
    """evaluation and the paper packages import plotting from npfp.plotting, not from
    npfp.experiments (which re-exports them for existing code)."""
    import npfp.experiments
    import npfp.plotting
    files = [ROOT / "evaluation.py"] + [ROOT / pkg / "experiment.py" for pkg in
                                        ("purification", "averaging", "robust_features", "cgro",
                                         "expressivity")]
    for path in files:
        sources = {node.module for node in ast.walk(ast.parse(path.read_text()))
                   if isinstance(node, ast.ImportFrom)
                   and {a.name for a in node.names} & {"subplots", "save_figure"}}
        assert sources == {"plotting"}, (path, sources)
    assert npfp.experiments.subplots is npfp.plotting.subplots
    assert npfp.experiments.save_figure is npfp.plotting.save_figure
