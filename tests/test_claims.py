"""The executable-claims registry and the `npfp claims` table."""
import io
import time

import pytest

from npfp import claims as C
from npfp.cli import main


def test_engine_claims_pass_in_quick_mode():
    results = C.run_claims(["engine"], quick=True)
    assert len(results) >= 5
    for c, r in results:
        assert r.status == "pass", (c.id, r)
        assert r.measured is not None and r.threshold is not None


def test_exact_paper_claims_pass_in_quick_mode():
    """The claims that need no training run: exact radii and Lipschitz constants."""
    for c, r in C.run_claims(["expressivity.f-star-lipschitz", "expressivity.f-star-robust",
                              "averaging.f-fa-radius", "averaging.f-fd-optimal"]):
        assert r.status == "pass", (c.id, r)


@pytest.mark.slow
def test_quick_claims_table_runs_in_under_two_minutes():
    """The whole quick table: no claim errors, and it fits the two-minute budget."""
    t0 = time.perf_counter()
    results = C.run_claims(quick=True)
    elapsed = time.perf_counter() - t0
    errors = [(c.id, r.detail) for c, r in results if r.status == "error"]
    assert not errors, errors
    assert elapsed < 120, f"quick claims table took {elapsed:.0f} s"


def test_result_helpers_compare_honestly():
    assert C.at_most(0.1, 0.2).passed and not C.at_most(0.3, 0.2).passed
    assert C.at_least(0.99, 0.99).passed and not C.at_least(0.5, 0.99).passed
    assert not C.at_most(float("nan"), 1.0).passed
    assert C.between(1.0, 0.8, 1.2).passed and not C.between(1.3, 0.8, 1.2).passed
    with pytest.raises(ValueError):
        C.ClaimResult("maybe")


def test_registry_reports_unavailable_and_error_instead_of_crashing():
    @C.claim("test.missing-package", "nobody", "a package that does not exist")
    def _missing(ctx):
        import npfp.no_such_package  # noqa: F401

    @C.claim("test.broken", "nobody", "a claim that raises")
    def _broken(ctx):
        raise RuntimeError("boom")

    @C.claim("test.ok", "nobody", "a claim that passes")
    def _ok(ctx):
        return C.at_least(ctx.quick, 1)

    try:
        with pytest.raises(ValueError, match="already registered"):
            C.claim("test.ok", "x", "y")(lambda ctx: None)
        res = dict((c.id, r) for c, r in C.run_claims(["test"]))
        assert res["test.missing-package"].status == "unavailable"
        assert res["test.broken"].status == "error" and "boom" in res["test.broken"].detail
        assert res["test.ok"].status == "pass"
        table = C.claims_table(C.run_claims(["test.ok"]))
        assert "test.ok" in table and "PASS" in table
    finally:
        for key in ("test.missing-package", "test.broken", "test.ok"):
            C.REGISTRY.pop(key, None)


def test_unknown_ids_are_rejected():
    with pytest.raises(ValueError, match="unknown claim ids"):
        C.run_claims(["no-such-claim"])


def test_every_claim_has_a_paper_and_statement():
    for c in C.REGISTRY.values():
        assert c.paper and c.statement and c.id.count(".") >= 1


def test_cli_lists_and_runs(capsys):
    assert main(["claims", "--list"]) == 0
    out = capsys.readouterr().out
    assert "engine.fgm-linear-exact" in out
    assert main(["claims", "engine.fgm-linear-exact", "engine.eps-zero-noop"]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "measured" in out and "paper" in out
    assert main(["claims", "engine.eps-zero-noop", "--markdown"]) == 0
    assert "| `engine.eps-zero-noop` |" in capsys.readouterr().out


def test_main_returns_nonzero_on_failure():
    @C.claim("test.fails", "nobody", "a claim that fails")
    def _fails(ctx):
        return C.at_most(1.0, 0.0)

    try:
        buf = io.StringIO()
        assert C.main(["test.fails"], out=buf) == 1
        assert "FAIL" in buf.getvalue()
    finally:
        C.REGISTRY.pop("test.fails", None)


# -- npfp.strategies: what the property-based claims draw from ------------------------
from hypothesis import given, settings  # noqa: E402

from npfp import strategies as nst  # noqa: E402
from npfp.gradcheck import check_model_gradients, is_near_kink  # noqa: E402


@settings(max_examples=15)
@given(nst.models_and_data())
def test_models_and_data_are_valid_and_away_from_kinks(case):
    assert case.kind in nst.MODEL_KINDS
    assert not is_near_kink(case.model, case.X)
    case.model.check_labels(case.y, case.X.shape[0])
    assert max(check_model_gradients(case.model, case.X, case.y).values()) < 1e-5


@settings(max_examples=15)
@given(nst.linear_problems(), nst.norms(include_l1=True), nst.eps_values(0.0, 1.0))
def test_linear_problems_norms_eps(problem, norm, eps):
    n, d = problem.X.shape
    assert problem.w.shape == (d,) and problem.y.shape == (n,)
    assert set(problem.y.tolist()) <= {-1.0, 1.0}
    assert norm in ("l2", "linf", "l1") and 0.0 <= eps <= 1.0


@settings(max_examples=10)
@given(nst.shapes(2, 5, 1, 3).flatmap(lambda nd: nst.float_arrays(nd, -1.0, 1.0)))
def test_float_arrays(X):
    assert X.ndim == 2 and 2 <= X.shape[0] <= 5 and X.dtype == float
    assert abs(X).max() <= 1.0


def test_builders_are_deterministic_and_validate():
    a = nst.make_model_case("patchcnn", 3, 4, 2, seed=5)
    b = nst.make_model_case("patchcnn", 3, 4, 2, seed=5)
    assert (a.X == b.X).all() and (a.model.params["W"] == b.model.params["W"]).all()
    with pytest.raises(ValueError, match="kind"):
        nst.make_model_case("resnet", 3, 4, 2, seed=0)
    with pytest.raises(ValueError, match="kind"):
        nst.models_and_data(kind="resnet")


def test_strategies_without_hypothesis_raise_a_clear_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hypothesis.strategies", None)
    with pytest.raises(ImportError, match=r"npfp\[test\]"):
        nst.seeds()
    nst.make_linear_problem(3, 2, seed=0)  # the builders need no hypothesis


def test_property_claims_fall_back_to_numpy_without_hypothesis(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "hypothesis", None)
    monkeypatch.setitem(sys.modules, "hypothesis.strategies", None)
    for c, r in C.run_claims(["engine.gradcheck", "engine.fgm-linear-exact"]):
        assert r.status == "pass", (c.id, r)
        assert "numpy" in r.detail
