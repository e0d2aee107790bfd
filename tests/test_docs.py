"""The documentation: every name it cites exists, its commands and code run, the site builds.

Generic over ``docs/**/*.md``, so pages added later (one per paper) are covered too.
"""
import dataclasses
import glob
import importlib
import os
import re
import shlex
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCS = os.path.join(ROOT, "docs")
PAGES = sorted(glob.glob(os.path.join(DOCS, "**", "*.md"), recursive=True))
ENV = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MPLBACKEND="Agg")

# a backticked fully qualified name, optionally called: `npfp.nn.LinearModel` or `npfp.fit(...)`
NAME = re.compile(r"`(npfp(?:\.[A-Za-z_]\w*)+)(?:\([^`]*\))?`")
LINK = re.compile(r"(?<!!)\[[^\]]+\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def read(path):
    with open(path, encoding="utf-8") as fh:
        return fh.read()


def rel(path):
    return os.path.relpath(path, ROOT)


def resolve(name: str):
    """Import the longest importable module prefix of ``name`` and get the rest as attributes."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError as exc:
            if exc.name and ".".join(parts[:cut]).startswith(exc.name):
                continue
            raise
        for attr in parts[cut:]:
            obj = getattr(obj, attr)
        return obj
    raise ImportError(name)


def cited_names():
    found = {}
    for page in PAGES:
        for lineno, line in enumerate(read(page).splitlines(), 1):
            for m in NAME.finditer(line):
                found.setdefault(m.group(1), []).append(f"{rel(page)}:{lineno}")
    return found


def test_docs_pages_exist():
    for name in ("index.md", "notation.md", "assignments.md", "architecture.md", "claims.md"):
        assert os.path.isfile(os.path.join(DOCS, name)), name


def test_every_cited_name_is_importable():
    names = cited_names()
    assert len(names) > 20  # the tables do cite the code
    missing = []
    for name, where in sorted(names.items()):
        try:
            resolve(name)
        except (ImportError, AttributeError) as exc:
            missing.append(f"{name} ({where[0]}): {type(exc).__name__}: {exc}")
    assert not missing, "names cited in docs/ that do not exist:\n" + "\n".join(missing)


def test_claims_page_names_every_claim_family():
    from npfp.claims import REGISTRY

    text = read(os.path.join(DOCS, "claims.md"))
    for prefix in sorted({cid.split(".")[0] for cid in REGISTRY}):
        assert f"npfp claims {prefix}" in text or f"`{prefix}." in text or prefix in text, prefix


def test_paper_pages_map_the_paper_to_the_code():
    """Each docs/papers/*.md page has a table whose rows cite npfp functions."""
    papers = [p for p in PAGES if os.sep + "papers" + os.sep in p]
    for page in papers:
        rows = [ln for ln in read(page).splitlines() if ln.startswith("|") and NAME.search(ln)]
        assert len(rows) >= 3, f"{rel(page)}: no definition/claim -> function table"


def test_relative_links_and_tutorial_paths_exist():
    broken = []
    for page in PAGES:
        text = read(page)
        for target in LINK.findall(text):
            if re.match(r"^[a-z]+:", target) or target.startswith("#"):
                continue
            path = os.path.normpath(os.path.join(os.path.dirname(page), target.split("#")[0]))
            if not os.path.exists(path):
                broken.append(f"{rel(page)}: link {target}")
        for tut in set(re.findall(r"tutorials/\d\d_\w+\.py", text)):
            if not os.path.isfile(os.path.join(ROOT, tut)):
                broken.append(f"{rel(page)}: {tut}")
    assert not broken, "\n".join(broken)


def test_index_quotes_the_readme_commands_verbatim():
    readme = read(os.path.join(ROOT, "README.md"))
    index = read(os.path.join(DOCS, "index.md"))
    commands = [body.strip() for lang, body in FENCE.findall(readme) if lang == "bash"]
    assert len(commands) >= 2
    for cmd in commands[:2]:
        assert cmd in index, f"docs/index.md must quote the README command: {cmd}"


def _npfp_commands(page):
    """Every `npfp ...` command line in the bash blocks of a page, as argv lists."""
    cmds = []
    for lang, body in FENCE.findall(read(page)):
        if lang != "bash":
            continue
        for line in body.splitlines():
            line = line.split("#")[0]
            for part in re.split(r"&&|;", line):
                words = shlex.split(part)
                if words and os.path.basename(words[0]) == "npfp":
                    cmds.append(words[1:])
    return cmds


def _is_subcommand(name: str) -> bool:
    """Whether `npfp NAME --help` is accepted by the command line."""
    import contextlib
    import io

    from npfp.cli import main

    buf = io.StringIO()
    try:
        with contextlib.redirect_stdout(buf), contextlib.redirect_stderr(buf):
            main([name, "--help"])
    except SystemExit as exc:
        return exc.code == 0
    return False


def test_commands_in_the_docs_exist():
    """Each `npfp CMD ...` shown in the docs parses, and its reproductions/claims exist."""
    from npfp.claims import REGISTRY
    from npfp.cli import main
    from npfp.experiments import EXPERIMENTS, load_experiment

    seen = 0
    for page in PAGES:
        for argv in _npfp_commands(page):
            seen += 1
            assert argv and _is_subcommand(argv[0]), \
                f"{rel(page)}: unknown command npfp {' '.join(argv)}"
            if argv[0] == "reproduce":
                name = argv[1]
                assert name in EXPERIMENTS, f"{rel(page)}: unknown reproduction {name}"
                mod = load_experiment(name)
                fields = {f.name for f in dataclasses.fields(mod.Config)}
                if "--set" in argv:
                    for kv in argv[argv.index("--set") + 1:]:
                        if kv.startswith("-"):
                            break
                        assert kv.split("=")[0] in fields, f"{rel(page)}: {name} has no {kv}"
            if argv[0] == "claims":
                for cid in [a for a in argv[1:] if not a.startswith("-")]:
                    assert any(c == cid or c.startswith(cid + ".") for c in REGISTRY), cid
            if argv[0] == "list" or argv[:2] == ["assignments", "list"]:
                assert main(argv) == 0
    assert seen >= 5


@pytest.mark.parametrize("page", ["index.md", "assignments.md", "notation.md", "claims.md"])
def test_python_blocks_run(tmp_path, page):
    path = os.path.join(DOCS, page)
    if not os.path.isfile(path):
        pytest.skip(f"{page} not written")
    blocks = [body for lang, body in FENCE.findall(read(path)) if lang == "python"]
    if not blocks:
        pytest.skip(f"{page} has no python blocks")
    script = tmp_path / "blocks.py"
    script.write_text("\n\n".join(blocks))
    res = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=ENV,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-3000:]
    if page == "index.md":  # the tour states that these two numbers are equal
        nums = dict(line.rsplit(":", 1) for line in res.stdout.splitlines() if ":" in line)
        assert float(nums["PGD robust accuracy at 0.3"]) == float(nums["the same network, exact"])


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    pytest.importorskip("pdoc")
    pytest.importorskip("latex2mathml")
    out = tmp_path_factory.mktemp("docs") / "site"
    res = subprocess.run([sys.executable, os.path.join(DOCS, "build.py"), "--out", str(out)],
                         cwd=str(out.parent), env=ENV, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-5000:]
    assert "with 0 warnings" in res.stdout
    return out


def test_site_builds_without_warnings(site):
    out = site
    for page in ("index.html", "guide.html", "guide/notation.html", "npfp.html",
                 "npfp/claims.html", "npfp/strategies.html"):
        assert (out / page).is_file(), page
    # every guide page is in the site, and its backticked names link to the API reference
    for page in PAGES:
        stem = os.path.relpath(page, DOCS)[:-3]
        if stem == "index":
            continue
        html = out / "guide" / (re.sub(r"[^\w/]", "_", stem) + ".html")
        assert html.is_file(), html
    assert 'href="npfp/' in (out / "guide.html").read_text(encoding="utf-8")


class _Text(__import__("html.parser").parser.HTMLParser):
    """The visible prose of a page: no code, pre, script, style, math or signatures."""

    SKIP = {"code", "pre", "script", "style", "math", "textarea"}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.stack, self.parts = [], []

    def handle_starttag(self, tag, attrs):
        if tag in ("br", "img", "hr", "input", "meta", "link", "wbr", "col"):
            return
        cls = dict(attrs).get("class") or ""
        self.stack.append(tag in self.SKIP or "signature" in cls)

    def handle_endtag(self, tag):
        if tag in ("br", "img", "hr", "input", "meta", "link", "wbr", "col"):
            return
        if self.stack:
            self.stack.pop()

    def handle_data(self, data):
        if not any(self.stack):
            self.parts.append(data)


def _prose(path):
    parser = _Text()
    parser.feed(path.read_text(encoding="utf-8"))
    return "".join(parser.parts)


def _html_pages(site):
    return sorted(p for p in site.rglob("*.html") if p.name != "index.html" or p.parent != site)


def test_site_math_is_rendered_offline(site):
    """No formula is left as raw LaTeX, and nothing is loaded from the network."""
    raw, n_math = [], 0
    for page in _html_pages(site):
        html = page.read_text(encoding="utf-8")
        assert "mathjax" not in html.lower() and "cdn.jsdelivr" not in html, page
        assert not re.search(r'<script[^>]+src="https?://', html), page
        n_math += html.count("<math")
        text = _prose(page)
        for m in re.finditer(r"\$(?:[^$\n]|\n(?![ \t]*\n)){1,160}?\$|\$\$|\\\(|\\\[", text):
            raw.append(f"{page.relative_to(site)}: {text[max(0, m.start() - 30):m.end() + 30]!r}")
    assert not raw, "raw math left:\n" + "\n".join(raw[:20])
    assert n_math > 500   # formulas of the guide and the docstrings, as MathML


def test_site_keeps_angle_brackets(site):
    """A formula such as y = sign(<w*, z>) keeps its <...> (it is not read as an HTML tag)."""
    sys.path.insert(0, DOCS)
    try:
        import build
    finally:
        sys.path.remove(DOCS)
    checked, lost = 0, []
    for page in PAGES:
        text = read(page)
        text = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
        text = re.sub(r"`[^`]*`", "", text)
        text = re.sub(r"\$\$.*?\$\$|\$[^$\n]+\$", "", text, flags=re.S)
        stem = os.path.relpath(page, DOCS)[:-3]
        html = site / ("guide.html" if stem == "index" else
                       os.path.join("guide", re.sub(r"[^\w/]", "_", stem) + ".html"))
        prose = " ".join(_prose(html).split())
        for m in re.finditer(r"<[A-Za-z][^<>|\n]{0,60}>", text):
            if build._TAG.match(m.group(0)):
                continue
            checked += 1
            if " ".join(m.group(0).split()) not in prose:
                lost.append(f"{rel(page)}: {m.group(0)}")
    assert checked >= 20 and not lost, lost


def test_every_cited_name_has_its_api_entry(site):
    """Each `npfp.x.y` of docs/papers/*.md has its module's page and an entry on it."""
    sys.path.insert(0, DOCS)
    try:
        import build
    finally:
        sys.path.remove(DOCS)
    names = build.cited_names()
    missing = []
    for name, where in names.items():
        _, modname, qual = build.split_name(name)
        page = site.joinpath(*modname.split(".")).with_suffix(".html")
        if not page.is_file():
            missing.append(f"{name} ({where[0]}): no page {page.relative_to(site)}")
        elif qual and f'id="{qual}"' not in page.read_text(encoding="utf-8"):
            missing.append(f"{name} ({where[0]}): no entry on {page.relative_to(site)}")
    assert len(names) > 100 and not missing, "\n".join(missing)


def test_code_blocks_scroll(site):
    html = (site / "guide" / "papers" / "feature_purification.html").read_text(encoding="utf-8")
    css = re.sub(r"\s+", " ", html)
    assert re.search(r"\.pdoc pre[^{]*\{ ?overflow-x: ?auto", css), "code blocks do not scroll"


def test_tour_installs_every_tool_before_it_uses_it():
    """Each `.venv/bin/TOOL` of a shell block in the tour is installed by the README's
    commands or by a `pip install` of an extra earlier on the page (e.g. jupytext: docs)."""
    from npfp._extras import EXTRAS

    installed = {"python", "python3", "pip", "npfp"}
    used = []
    for lang, body in FENCE.findall(read(os.path.join(DOCS, "index.md"))):
        if lang not in ("bash", "sh", "shell"):
            continue
        for line in body.splitlines():
            code = line.split(" #")[0]
            for part in code.split("&&"):
                m = re.search(r"pip install\s+(.*)", part)
                if m:
                    for extras in re.findall(r"\.\[([\w,]+)\]", m.group(1)):
                        for extra in extras.split(","):
                            installed.update(EXTRAS[extra])
                for tool in re.findall(r"\.venv/bin/([\w.-]+)", part.split("pip install")[0]):
                    used.append(tool)
                    assert tool in installed, f"docs/index.md: `{line.strip()}` uses {tool}, " \
                                              f"which no earlier install provides"
    assert "jupytext" in used
