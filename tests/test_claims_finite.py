"""No claim can pass on an infinite or undefined measured value (issue 13 (c)).

Checked for every judged declaration of every registered paper (``PAPER_CLAIM_MODULES``),
by replacing its measurement with +inf, -inf and NaN, and for the property-claim
helpers (``at_most``, ``at_least``, ``between``) and the registry's adapter.
"""
import dataclasses
import importlib
import math

import pytest

from npfp import claims as C

_BAD = (float("inf"), float("-inf"), float("nan"), None)


def _declared():
    out = []
    for module in C.PAPER_CLAIM_MODULES.values():
        mod = importlib.import_module(module)
        out += [c for c in mod.CLAIMS if c.target is not None]
    return out


DECLARED = _declared()


def test_every_paper_declares_judged_claims():
    papers = {c.id.split(".")[0] for c in DECLARED}
    assert len(papers) >= len(set(C.PAPER_CLAIM_MODULES)) - 1   # averaging-digits shares a prefix


@pytest.mark.parametrize("claim", DECLARED, ids=lambda c: c.id)
@pytest.mark.parametrize("bad", _BAD, ids=repr)
def test_declared_claim_never_passes_a_non_finite_value(claim, bad):
    fake = dataclasses.replace(claim, measure=lambda r: bad, show=None, applies=None)
    v = fake.verdict(object())              # float(None) is caught inside verdict
    assert v.passed is False and v.status == "FAIL"
    assert v.as_dict()["value"] is None     # and it is written as undefined, not as a number


@pytest.mark.parametrize("bad", [float("inf"), float("-inf"), float("nan")], ids=repr)
def test_targets_and_helpers_reject_non_finite(bad):
    for t in (C.ge(0.5), C.le(0.5), C.gt(0.5), C.lt(0.5), C.within(0.0, 1.0),
              C.ge(-math.inf), C.le(math.inf), C.within(-math.inf, math.inf)):
        assert not t.passed(bad), (t, bad)
    assert C.at_most(bad, math.inf).status == "fail"
    assert C.at_least(bad, -math.inf).status == "fail"
    assert C.between(bad, -math.inf, math.inf).status == "fail"


def test_registered_paper_claims_report_fail_on_non_finite():
    # the registry's adapter (register_paper_claims) turns a verdict into a ClaimResult:
    # with a non-finite measurement it must be 'fail' for every registered paper claim
    class Ctx:
        def experiment(self, name):
            return None, None, object()

    registered = [c for c in DECLARED if c.id in C.REGISTRY]
    assert registered
    for claim in registered:
        for bad in _BAD:
            fake = dataclasses.replace(claim, measure=lambda r, bad=bad: bad, show=None,
                                       applies=None)
            assert _adapter(fake)(Ctx()).status == "fail", (claim.id, bad)


def _adapter(claim):
    """The measure function register_paper_claims builds, for one claim (same code path)."""
    reg = {}
    saved = dict(C.REGISTRY)
    try:
        C.REGISTRY.clear()
        C.register_paper_claims("x", "paper", [claim])
        reg = dict(C.REGISTRY)
    finally:
        C.REGISTRY.clear()
        C.REGISTRY.update(saved)
    return next(iter(reg.values())).func
