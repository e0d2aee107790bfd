r"""Robust evaluation: accuracy, worst case over attacks, radius curves, attack sanity checks.

Robust accuracy at radius eps is the fraction of points that stay correctly classified
under every perturbation in the threat set.  An attack only gives an *upper bound* on it
(it may miss the worst perturbation), so

* :func:`robust_accuracy` takes the per-point worst case over a list of attacks (a
  point counts as robust only if it is clean-correct and *no* attack breaks it);
* :func:`accuracy_vs_radius` traces the curve over a grid of radii (and its
  monotone envelope: a point broken at eps is broken at every larger eps);
* :func:`minimal_radius` estimates each point's minimal adversarial radius by bisection;
* :func:`check_attack` runs the checklist that makes an attack's numbers trustworthy
  (cf. Carlini et al. 2019, "On evaluating adversarial robustness", Sec. 5):
  eps = 0 equals clean accuracy, PGD at least as strong as FGM, more steps / restarts
  change little, accuracy non-increasing in eps, a very large eps drives accuracy to
  ~0, PGD beats random noise of the same norm, no NaN, every perturbation within eps.

On linear models the exact answers of :mod:`npfp.attacks.linear` are the reference.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ._validation import check_array, check_int, check_nonnegative, check_rng
from .attacks.gradient import FGM
from .attacks.directional import RandomNoise
from .attacks.projections import norms, validate_eps
from .plotting import save_figure, subplots

__all__ = ["accuracy", "correct_mask", "robust_accuracy", "robust_mask", "RadiusCurve",
           "accuracy_vs_radius", "curves_and_worst_case", "plot_accuracy_vs_radius",
           "minimal_radius",
           "CheckRow", "AttackReport", "check_attack"]


def _check_model_data(model, X, y):
    if not hasattr(model, "forward"):
        raise TypeError(f"model must be an npfp model, got {type(model).__name__}")
    X = model.check_X(X)
    y = model.check_labels(y, X.shape[0])
    return X, y


def correct_mask(model, X, y) -> np.ndarray:
    """Per point: model.predict(x) == y (strict: a zero score or tied logits is an error)."""
    X, y = _check_model_data(model, X, y)
    return model.predict(X) == y


def accuracy(model, X, y) -> float:
    """Fraction of correctly classified points, (1/n) sum_i 1[pred(x_i) = y_i]."""
    c = correct_mask(model, X, y)
    return float(np.mean(c)) if c.size else float("nan")


def _as_list(attacks):
    if attacks is None:
        return []
    if callable(attacks):
        return [attacks]
    return list(attacks)


def _run_attack(attack, model, X, y, rng):
    """Call an attack and return (x_adv, success mask)."""
    res = attack(model, X, y, rng=rng)
    x_adv = getattr(res, "x_adv", res)
    x_adv = check_array(x_adv, "attack output", dtype=X.dtype)
    if x_adv.shape != X.shape:
        raise ValueError(f"attack returned shape {x_adv.shape}, expected {X.shape}")
    return x_adv, model.predict(x_adv) != y


def robust_mask(model, X, y, attacks, *, rng=None) -> np.ndarray:
    r"""Per point: clean-correct and not broken by any of ``attacks``.

    .. math:: \mathrm{robust}_i = 1[f(x_i) \text{ correct}] \prod_a 1[f(x_i + \delta^a_i) \text{ correct}]
    """
    X, y = _check_model_data(model, X, y)
    rng = check_rng(rng)
    ok = model.predict(X) == y
    for atk in _as_list(attacks):
        if not callable(atk):
            raise TypeError(f"every attack must be callable, got {type(atk).__name__}")
        _, broken = _run_attack(atk, model, X, y, rng)
        ok &= ~broken
    return ok


def robust_accuracy(model, X, y, attacks, *, rng=None) -> float:
    """Robust accuracy: the fraction of points that survive every attack (per-point worst case).

    Parameters
    ----------
    model : npfp model
    X, y : ndarray
    attacks : attack or list of attacks
        Callables ``attack(model, X, y, rng=...)`` returning an AttackResult or an
        array of adversarial points.  An empty list gives the clean accuracy.
    rng : Generator or int

    Returns
    -------
    float
        An upper bound on the true robust accuracy (exact when an exact attack is among
        ``attacks``).
    """
    ok = robust_mask(model, X, y, attacks, rng=rng)
    return float(np.mean(ok)) if ok.size else float("nan")


# ----------------------------------------------------------------------------------
def _at_eps(attack, eps):
    """The attack at radius eps: ``attack.replace(eps=...)`` or a factory ``attack(eps)``."""
    if hasattr(attack, "replace"):
        return attack.replace(eps=eps)
    if callable(attack):
        return attack(eps)
    raise TypeError(f"need an attack with .replace(eps=...) or a factory eps -> attack, got "
                    f"{type(attack).__name__}")


@dataclass
class RadiusCurve:
    """Accuracy as a function of the attack radius.

    Attributes
    ----------
    eps : ndarray (k,)
        The radii, increasing.
    accuracy : ndarray (k,)
        Robust accuracy measured independently at each radius.
    envelope : ndarray (k,)
        Monotone envelope: a point counts as robust at eps_k only if no attack broke it
        at any eps_j <= eps_k (valid because the eps_j-ball is inside the eps_k-ball).
    robust : ndarray of bool (k, n)
        Per radius and point: survived the attack(s) at that radius.
    label : str
    """

    eps: np.ndarray
    accuracy: np.ndarray
    envelope: np.ndarray
    robust: np.ndarray = field(repr=False, default=None)
    label: str = ""

    def as_dict(self) -> dict:
        return {"eps": self.eps.tolist(), "accuracy": self.accuracy.tolist(),
                "envelope": self.envelope.tolist(), "label": self.label}


def accuracy_vs_radius(model, X, y, attack, eps_grid, *, rng=None, label: str = "") -> RadiusCurve:
    r"""Robust accuracy over a grid of radii, acc(eps) = (1/n) sum_i robust_i(eps).

    Parameters
    ----------
    attack : attack, factory, or list of them
        Each is re-instantiated at every radius via ``attack.replace(eps=e)`` (attack
        objects) or ``attack(e)`` (a factory); with a list, the per-point worst case.
    eps_grid : array_like of float >= 0
        Sorted increasingly; 0 gives the clean accuracy.
    rng : Generator or int
    """
    X, y = _check_model_data(model, X, y)
    eps = check_array(eps_grid, "eps_grid", ndim=1, dtype=np.float64)
    if eps.size == 0:
        raise ValueError("eps_grid must contain at least one radius")
    if np.any(eps < 0):
        raise ValueError(f"eps_grid must be >= 0, got minimum {eps.min()}")
    if np.any(np.diff(eps) < 0):
        raise ValueError("eps_grid must be sorted increasingly")
    rng = check_rng(rng)
    atks = _as_list(attack) if isinstance(attack, (list, tuple)) else [attack]
    rob = np.empty((eps.size, X.shape[0]), dtype=bool)
    for k, e in enumerate(eps):
        rob[k] = robust_mask(model, X, y, [_at_eps(a, float(e)) for a in atks], rng=rng)
    env = np.logical_and.accumulate(rob, axis=0)
    # an empty batch has no accuracy: NaN, as accuracy() and robust_accuracy() give
    n = X.shape[0] if X.shape[0] else np.nan
    return RadiusCurve(eps=eps, accuracy=rob.sum(axis=1) / n, envelope=env.sum(axis=1) / n,
                       robust=rob, label=label)


def curves_and_worst_case(model, X, y, attacks: dict, eps_grid, *, rng=None) -> tuple:
    r"""Each attack's accuracy over the radii, and the per-point worst case over all of them.

    ``acc_worst(eps) = (1/n) sum_i prod_a robust_{i,a}(eps)``: a point counts as robust
    only if every attack failed on it.  Each attack runs once (its own
    :func:`accuracy_vs_radius` call with the same ``rng``), so its curve can be shown beside
    the worst case at no extra cost.

    Returns
    -------
    curves : dict
        Attack name -> accuracy per radius.
    worst : ndarray (k,)
        The worst-case accuracy per radius.
    """
    curves, robust = {}, None
    for name, atk in attacks.items():
        rc = accuracy_vs_radius(model, X, y, atk, eps_grid, rng=rng)
        curves[name] = rc.accuracy
        robust = rc.robust if robust is None else robust & rc.robust
    if robust is None:
        raise ValueError("attacks must name at least one attack")
    return curves, robust.mean(axis=1)


def plot_accuracy_vs_radius(curves, path: str, *, reference_lines=None, title: str = "",
                            xlabel: str = r"radius $\epsilon$", envelope: bool = False) -> str:
    """Save accuracy-vs-radius curves as a PNG (matplotlib Agg canvas, no pyplot); returns the path.

    Parameters
    ----------
    curves : RadiusCurve or list of RadiusCurve
    path : str
        Output file (.png).
    reference_lines : dict of label -> x, or list of x, optional
        Vertical dashed lines (e.g. a theoretical radius).
    envelope : bool
        Plot the monotone envelope instead of the raw accuracies.
    """
    curves = [curves] if isinstance(curves, RadiusCurve) else list(curves)
    fig, ax = subplots(figsize=(5, 3.5))   # no pyplot: never touches the global backend
    for c in curves:
        ax.plot(c.eps, c.envelope if envelope else c.accuracy, marker="o", ms=3,
                label=c.label or None)
    if reference_lines is not None:
        items = reference_lines.items() if isinstance(reference_lines, dict) else \
            [(None, x) for x in reference_lines]
        for i, (lab, x) in enumerate(items):
            ax.axvline(float(x), ls="--", lw=1, color=f"C{(i + len(curves)) % 10}", label=lab)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("accuracy")
    ax.set_ylim(-0.02, 1.02)
    if title:
        ax.set_title(title)
    if any(c.label for c in curves) or isinstance(reference_lines, dict):
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def minimal_radius(model, X, y, attack, *, eps_max: float, iters: int = 20, rng=None) -> np.ndarray:
    r"""Per-point estimate of the minimal adversarial radius by bisection, shape (n,).

    For every point, bisect on r in [0, eps_max] with the attack run at per-point radii
    (``attack.replace(eps=r_vec)`` or a factory ``attack(r_vec)``): if the attack breaks
    the point at r the upper end moves to r, else the lower end does.  Returns the upper
    end, the smallest radius at which the attack was seen to succeed -- an upper bound on
    the true minimal radius (exact to the bisection tolerance eps_max / 2^iters for an
    exact attack).  Misclassified points get 0; points not broken at eps_max get inf.
    """
    X, y = _check_model_data(model, X, y)
    eps_max = check_nonnegative(eps_max, "eps_max")
    iters = check_int(iters, "iters", minimum=1)
    rng = check_rng(rng)
    n = X.shape[0]
    clean_ok = model.predict(X) == y
    _, broken = _run_attack(_at_eps(attack, np.full(n, eps_max)), model, X, y, rng)
    lo, hi = np.zeros(n), np.full(n, eps_max)
    active = clean_ok & broken
    for _ in range(iters):
        if not active.any():
            break
        mid = 0.5 * (lo + hi)
        idx = np.flatnonzero(active)
        _, b = _run_attack(_at_eps(attack, mid[idx]), model, X[idx], y[idx], rng)
        hi[idx] = np.where(b, mid[idx], hi[idx])
        lo[idx] = np.where(b, lo[idx], mid[idx])
    r = np.where(broken, hi, np.inf)
    return np.where(clean_ok, r, 0.0)


# ----------------------------------------------------------------------------------
@dataclass
class CheckRow:
    """One sanity check: name, verdict (None = skipped), measured value, reference, note."""

    name: str
    passed: bool | None
    value: float
    reference: float
    detail: str = ""


@dataclass
class AttackReport:
    """The outcome of :func:`check_attack`; ``print(report)`` shows a table."""

    rows: list
    clean_accuracy: float
    attack_accuracy: float
    eps: float
    norm: str
    curve: RadiusCurve | None = None

    @property
    def passed(self) -> bool:
        """All checks that ran passed."""
        return all(r.passed for r in self.rows if r.passed is not None)

    def failed(self) -> list:
        return [r.name for r in self.rows if r.passed is False]

    def __getitem__(self, name) -> CheckRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(name)

    def table(self) -> str:
        from .experiments import format_table
        rows = [[r.name, "skip" if r.passed is None else bool(r.passed), r.value, r.reference,
                 r.detail] for r in self.rows]
        head = (f"attack check at eps={self.eps:g} ({self.norm}): clean acc "
                f"{self.clean_accuracy:.4f}, attacked acc {self.attack_accuracy:.4f}")
        from .claims import RESULT_COLUMN   # one name for the PASS/FAIL column everywhere
        return head + "\n" + format_table(rows, ["check", RESULT_COLUMN, "value", "reference",
                                                 "detail"])

    __str__ = table


def check_attack(model, X, y, attack, *, eps_grid=None, large_eps=None, tol: float = 0.01,
                 large_eps_max_accuracy: float = 0.02, rng=None) -> AttackReport:
    r"""Sanity checklist for an attack at its radius eps (cf. Carlini et al. 2019).

    Checks (value vs reference; ``tol`` is in accuracy units):

    ``eps0_is_clean``      attack at eps = 0: accuracy == clean accuracy and x_adv == x
    ``within_eps``         max_i ||delta_i|| <= eps (1 + 1e-9), and inside ``bounds``
    ``no_nan``             x_adv and the loss trace are finite
    ``stronger_than_fgm``  acc(attack) <= acc(FGM at the same eps, norm, bounds) + tol
    ``beats_noise``        acc(attack) <= acc(random noise of norm eps)
    ``steps_x2``           acc(attack) - acc(attack with 2x steps) <= tol
    ``restarts_x2``        acc(attack) - acc(attack with 2x restarts) <= tol
    ``monotone_in_eps``    accuracy over ``eps_grid`` never increases by more than tol
    ``large_eps``          acc at ``large_eps`` <= ``large_eps_max_accuracy`` (skipped with
                           bounds, where the box may make points unbreakable)

    ``eps_grid`` defaults to 7 radii in [0, 2 eps]; ``large_eps`` to
    10 max_i ||x_i|| + 10 eps in the attack's norm.  Checks that need a field the attack
    lacks (``steps``, ``restarts``) are reported as skipped.
    """
    X, y = _check_model_data(model, X, y)
    if X.shape[0] == 0:
        raise ValueError("check_attack needs at least one point: X has 0 rows (its checks "
                         "compare accuracies, which an empty batch does not have)")
    if not hasattr(attack, "replace") or not hasattr(attack, "eps"):
        raise TypeError("check_attack needs an attack object with .eps, .norm and .replace(...)")
    rng = check_rng(rng)
    tol = check_nonnegative(tol, "tol")
    eps = validate_eps(attack.eps)
    if np.ndim(eps) != 0:
        raise ValueError("check_attack needs a scalar attack.eps")
    norm = getattr(attack, "norm", "l2")
    bounds = getattr(attack, "bounds", None)
    seed = int(rng.integers(2**31))

    def acc_of(atk, Xa=X, ya=y):
        return float(np.mean(robust_mask(model, Xa, ya, [atk], rng=np.random.default_rng(seed))))

    clean_ok = model.predict(X) == y
    clean = float(np.mean(clean_ok))
    rows = []
    res = attack(model, X, y, rng=np.random.default_rng(seed))
    x_adv = getattr(res, "x_adv", res)
    # robust accuracy as everywhere else: clean-correct and still correct at x_adv
    acc_a = float(np.mean(clean_ok & (model.predict(x_adv) == y)))

    # eps = 0 is an exact no-op
    r0 = _at_eps(attack, 0.0)(model, X, y, rng=np.random.default_rng(seed))
    x0 = getattr(r0, "x_adv", r0)
    acc0 = float(np.mean(model.predict(x0) == y))
    same = bool(np.array_equal(x0, X))
    rows.append(CheckRow("eps0_is_clean", acc0 == clean and same, acc0, clean,
                         "x_adv == x exactly" if same else "x_adv differs from x"))

    # feasibility and NaN
    dn = norms(x_adv - X, norm) if X.shape[0] else np.zeros(0)
    mx = float(dn.max()) if dn.size else 0.0
    ok_norm = mx <= eps * (1 + 1e-9)
    detail = f"max ||delta||_{norm[1:]}"
    if bounds is not None:
        lo, hi = np.broadcast_to(bounds[0], X.shape), np.broadcast_to(bounds[1], X.shape)
        inside = bool(np.all(x_adv >= lo) and np.all(x_adv <= hi))
        ok_norm = ok_norm and inside
        detail += ", inside bounds" if inside else ", OUTSIDE bounds"
    rows.append(CheckRow("within_eps", bool(ok_norm), mx, eps, detail))
    trace = np.asarray(getattr(res, "loss_trace", np.zeros(0)), dtype=float)
    finite = bool(np.all(np.isfinite(x_adv)) and np.all(np.isfinite(trace)))
    rows.append(CheckRow("no_nan", finite, float(np.sum(~np.isfinite(x_adv))), 0.0,
                         "non-finite entries in x_adv"))

    # stronger than one-step FGM and than random noise
    acc_fgm = acc_of(FGM(eps, norm, bounds=bounds))
    rows.append(CheckRow("stronger_than_fgm", acc_a <= acc_fgm + tol, acc_a, acc_fgm,
                         f"acc(attack) <= acc(FGM) + {tol:g}"))
    acc_noise = acc_of(RandomNoise(eps, norm, bounds=bounds))
    rows.append(CheckRow("beats_noise", acc_a <= acc_noise, acc_a, acc_noise,
                         "acc(attack) <= acc(noise of norm eps)"))

    # convergence: doubling the budget changes little
    for fld, name in (("steps", "steps_x2"), ("restarts", "restarts_x2")):
        if hasattr(attack, fld):
            acc2 = acc_of(attack.replace(**{fld: 2 * max(int(getattr(attack, fld)), 1)}))
            rows.append(CheckRow(name, acc_a - acc2 <= tol, acc2, acc_a,
                                 f"acc drops by {acc_a - acc2:.4f} (<= {tol:g})"))
        else:
            rows.append(CheckRow(name, None, np.nan, acc_a, f"attack has no '{fld}'"))

    # monotone in eps
    grid = np.linspace(0.0, 2 * eps, 7) if eps_grid is None else eps_grid
    curve = accuracy_vs_radius(model, X, y, attack, grid, rng=np.random.default_rng(seed))
    rise = float(np.max(np.diff(curve.accuracy))) if curve.eps.size > 1 else 0.0
    rows.append(CheckRow("monotone_in_eps", rise <= tol, rise, tol,
                         f"largest change between neighbouring radii "
                         f"({curve.eps.size} radii; <= {tol:g})"))

    # very large eps breaks (almost) everything
    if bounds is None:
        if large_eps is None:
            xn = norms(X, norm)
            large_eps = 10.0 * float(xn.max() if xn.size else 1.0) + 10.0 * eps
        acc_big = acc_of(attack.replace(eps=float(large_eps)))
        rows.append(CheckRow("large_eps", acc_big <= large_eps_max_accuracy, acc_big,
                             large_eps_max_accuracy, f"eps = {float(large_eps):.4g}"))
    else:
        rows.append(CheckRow("large_eps", None, np.nan, large_eps_max_accuracy,
                             "skipped: bounded inputs"))
    return AttackReport(rows=rows, clean_accuracy=clean, attack_accuracy=acc_a, eps=float(eps),
                        norm=norm, curve=curve)
