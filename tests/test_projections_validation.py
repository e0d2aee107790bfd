"""Issue 17 item 3: the exported geometry helpers validate norm, eps and shapes."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from npfp.attacks import dual_maximizer, project_ball, project_ball_box, random_in_ball

V = np.array([[3.0, 4.0]])
CALLS = {
    "project_ball": lambda eps, norm, v=V: project_ball(v, eps, norm),
    "project_ball_box": lambda eps, norm, v=V: project_ball_box(v, eps, norm),
    "dual_maximizer": lambda eps, norm, v=V: dual_maximizer(v, eps, norm),
    "random_in_ball": lambda eps, norm, v=V: random_in_ball(v.shape, eps, norm,
                                                            np.random.default_rng(0)),
}


@pytest.mark.parametrize("name", list(CALLS))
def test_issue_examples(name):
    with pytest.raises(ValueError, match=r"norm must be one of \['l2', 'linf', 'l1'\], got 'l3'"):
        CALLS[name](1.0, "l3")
    with pytest.raises(ValueError, match="eps must be >= 0, got -1"):
        CALLS[name](-1.0, "l2")


@settings(max_examples=60, deadline=None)
@given(name=st.sampled_from(list(CALLS)),
       norm=st.one_of(st.sampled_from(["l2", "linf", "l1"]), st.text(max_size=4), st.none()),
       eps=st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(-5, 5),
                     st.lists(st.floats(-2, 2), min_size=1, max_size=3)))
def test_helpers_accept_valid_arguments_and_reject_the_rest_clearly(name, norm, eps):
    valid_norm = norm in ("l2", "linf", "l1")
    arr = np.asarray(eps, dtype=float)
    valid_eps = (np.all(np.isfinite(arr)) and np.all(arr >= 0) and arr.ndim in (0, 1)
                 and (arr.ndim == 0 or arr.shape[0] == V.shape[0]))
    if valid_norm and valid_eps:
        out = CALLS[name](eps, norm)
        assert out.shape == V.shape and np.all(np.isfinite(out))
    else:
        with pytest.raises((ValueError, TypeError), match="norm|eps"):
            CALLS[name](eps, norm)


def test_shapes_are_checked():
    with pytest.raises(ValueError, match=r"v must be 2-dimensional \(n, D\)"):
        project_ball(np.ones(3), 1.0, "l2")
    with pytest.raises(ValueError, match=r"g must be 2-dimensional"):
        dual_maximizer(np.ones((1, 2, 3)), 1.0, "l2")
    with pytest.raises(ValueError, match=r"shape must be a pair \(n, D\)"):
        random_in_ball(3, 1.0, "l2", np.random.default_rng(0))
    np.testing.assert_allclose(project_ball([[3, 4]], 1.0, "l2"), [[0.6, 0.8]])
    with pytest.raises(ValueError, match="eps has 2 radii but v has 1 rows"):
        project_ball(V, np.array([1.0, 2.0]), "l2")
