# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 5: Why robust generalization is difficult -- expressive power
#
# B. Li, J. Jin, H. Zhong, J. E. Hopcroft, L. Wang, *Why Robust Generalization in Deep
# Learning is Difficult: Perspective of Expressive Power* (NeurIPS 2022).
#
# The story in one paragraph: take binary data in $[0,1]^d$ whose two classes are
# $2\epsilon$ apart, and ask for robustness at a radius $\delta < \epsilon$. *Robust
# training* is cheap: a network of size about $N d$ can memorise $N$ points together with
# their $\delta$-balls. *Robust generalization* is not: there are data sets -- even
# linearly separable ones -- on which every network smaller than about
# $\exp(d)$ keeps a constant robust test error. The hard instance is a grid of
# $(K+1)^{d-1}$ cells, $K = \lfloor 1/(2\epsilon) \rfloor$, one point per cell sitting just
# above or just below the hyperplane $x_d = 1/2$ according to an arbitrary labelling
# $\varphi$. Clean classification only needs the sign of $x_d - 1/2$; robust
# classification needs $\varphi$ itself, one bit per cell.
#
# Run it as a script (`python tutorials/05_expressivity.py`, under two minutes; set
# `NPFP_QUICK=1` for a few seconds) or open it as a notebook with jupytext. Figures go to
# `npfp-results/tutorial05/` (or `$NPFP_TUTORIAL_OUT`).

# %%
import dataclasses
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

from npfp.attacks import PGD
from npfp.evaluation import accuracy, robust_accuracy
from npfp.expressivity import (DistanceRatioClassifier, HardInstance, ManifoldHardInstance,
                               pairwise_distances, robust_accuracy_bounds, separation)
from npfp.expressivity import experiment as E

QUICK = os.environ.get("NPFP_QUICK", "0") not in ("", "0")
OUT = os.environ.get("NPFP_TUTORIAL_OUT", os.path.join("npfp-results", "tutorial05"))
os.makedirs(OUT, exist_ok=True)


def show(fig, name, **savefig_kw):
    """Save ``fig`` as OUT/name; in Jupyter also show it inline (as a script: file only)."""
    path = os.path.join(OUT, name)
    fig.savefig(path, **savefig_kw)
    print(f"figure saved to {path}")
    if "ipykernel" in sys.modules:        # a notebook: display it under the cell
        from IPython.display import display
        display(fig)
    plt.close(fig)


rng = np.random.default_rng(0)
cfg = E.quick_config() if QUICK else E.Config()
eps, eps0, delta = cfg.eps, cfg.eps0, cfg.delta
print(f"eps = {eps} (classes 2 eps = {2 * eps} apart), eps0 = {eps0}, robust radius delta = {delta}")

# %% [markdown]
# ## 1. The hard instance (Sec. 4)
#
# `HardInstance.create(d, eps, eps0, labelling)` builds the grid. With $\epsilon = 1/4$,
# $K = 2$: three values $\{0, 1/2, 1\}$ per grid axis. The label of a cell is the side of
# $x_d = 1/2$ its point lies on, $y = \mathrm{sign}(x_d - 1/2) = \varphi(i)$. Distinct
# cells differ by $1/K \ge 2\epsilon$ in a grid coordinate, so the classes are
# $2\epsilon$-separated whatever $\varphi$ is.

# %%
hi3 = HardInstance.create(3, eps, eps0, labelling="random", rng=rng)
X3, y3 = hi3.support()
print(f"d = 3: K = {hi3.K}, M = {hi3.n_cells} cells")
print("separation (l2):", round(separation(X3[y3 > 0], X3[y3 < 0]), 4), ">= 2 eps =", 2 * eps)
print("x_d - 1/2 classifies every point:", np.all(np.sign(X3[:, -1] - 0.5) == y3))
for d in (3, 5, 7, 9):
    print(f"  d = {d}: the support has (K+1)^(d-1) = {(hi3.K + 1) ** (d - 1)} cells")

fig = plt.figure(figsize=(5, 4.5))
ax = fig.add_subplot(projection="3d")
for lab, col in ((1, "tab:red"), (-1, "tab:blue")):
    P = X3[y3 == lab]
    ax.scatter(P[:, 0], P[:, 1], P[:, 2], c=col, s=40, label=f"y = {lab:+d}")
ax.set(xlabel="x1", ylabel="x2", zlabel="x3", zlim=(0.3, 0.7), title="grid hard instance, d = 3")
ax.legend()
show(fig, "hard_instance.png", dpi=110)

# %% [markdown]
# Why robustness at $\delta > \epsilon_0$ needs $\varphi$: the two possible points of a
# cell, $x^\pm = (i/K, 1/2 \pm \epsilon_0)$, are $2\epsilon_0 < 2\delta$ apart, so their
# $\delta$-balls overlap; a classifier robust at $x^+$ must say $+1$ on the overlap, one
# robust at $x^-$ must say $-1$. It can be robust at only one of them, and which one is the
# bit $\varphi(i)$. For a random $\varphi$ a cell never seen in training is a coin flip:
# **no learner** has expected robust accuracy above
# $\text{coverage} + (1 - \text{coverage})/2$ (coverage = the fraction of test points whose
# cell is in the training set). The paper's theorem says more: even with the whole support
# as data, a network must have exponentially many parameters to store the bits.

# %% [markdown]
# ## 2. The robust classifier $f^*$ (Sec. 3)
#
# $f^*(x) = \dfrac{d(x,B) - d(x,A)}{d(x,A) + d(x,B)}$ with $A$ the positive and $B$ the
# negative points. It is $+1$ on $A$, $-1$ on $B$, $1/\epsilon$-Lipschitz (because
# $d(x,A) + d(x,B) \ge 2\epsilon$), and keeps its sign on every ball of radius
# $< \epsilon$ around a data point. `DistanceRatioClassifier` implements it as an npfp
# model (forward and input gradient), so PGD runs against it too. A 2-D picture with a
# finer grid ($\epsilon = 0.1$, $K = 5$):

# %%
hi2 = HardInstance.create(2, 0.1, 0.025, labelling="random", rng=1)
X2, y2 = hi2.support()
f2 = DistanceRatioClassifier(X2, y2)
g = np.linspace(-0.05, 1.05, 221)
G = np.stack(np.meshgrid(g, np.linspace(0.35, 0.65, 121)), -1).reshape(-1, 2)
F = f2.decision_function(G).reshape(121, 221)
fig, ax = plt.subplots(figsize=(8, 3))
cs = ax.contourf(g, np.linspace(0.35, 0.65, 121), F, levels=21, cmap="RdBu_r", vmin=-1, vmax=1)
ax.contour(g, np.linspace(0.35, 0.65, 121), F, levels=[0], colors="k")
ax.scatter(X2[:, 0], X2[:, 1], c=np.where(y2 > 0, "tab:red", "tab:blue"), edgecolors="k", zorder=3)
for x in X2:
    ax.add_patch(plt.Circle(x, 0.05, fill=False, ls="--", lw=0.8))
ax.axhline(0.5, color="gray", lw=0.5)
ax.set(aspect="equal", title=r"$f^*$, 2-D grid (black: $f^*=0$; dashed: radius 0.05)")
fig.colorbar(cs, ax=ax, shrink=0.8)
show(fig, "fstar_2d.png", dpi=110, bbox_inches="tight")

# the Lipschitz bound on random pairs
P = rng.uniform(0, 1, (2000, 2))
Q = P + 0.05 * rng.standard_normal(P.shape)
ratio = np.abs(f2.decision_function(P) - f2.decision_function(Q)) / np.linalg.norm(P - Q, axis=1)
print(f"max |f*(x)-f*(x')| / ||x-x'|| = {ratio.max():.3f} <= 1/eps = {f2.lipschitz_constant:.3f}")

# %% [markdown]
# Its robust accuracy can be computed **exactly** in l2:
# `robust_accuracy_bounds` certifies points with the bisector bound and breaks the rest
# with verified adversarial points (projections onto the opposite Voronoi cells); when
# the two meet, the number is exact. Built on the whole support, $f^*$ is 100% robust --
# a robust classifier exists -- but it *stores all $(K+1)^{d-1}$ points*. Built on a
# training sample, it is the memorising construction: 100% robust on its training set,
# not on new cells.

# %%
d_demo = 5 if QUICK else 7
n_train, n_test = (60, 200) if QUICK else (150, 500)
hi = HardInstance.create(d_demo, eps, eps0, rng=rng)
Xtr, ytr, ctr = hi.sample(n_train, rng, return_cells=True)
Xte, yte, cte = hi.sample(n_test, rng, return_cells=True)
coverage = np.isin(cte, ctr).mean()
f_sup, f_tr = DistanceRatioClassifier(*hi.support()), DistanceRatioClassifier(Xtr, ytr)
print(f"d = {d_demo}, M = {hi.n_cells} cells, n_train = {n_train}, coverage of the test set = {coverage:.2f}")
for name, f in (("f* on the support", f_sup), ("f* on the training set", f_tr)):
    b_tr = robust_accuracy_bounds(f, Xtr, ytr, delta)
    b_te = robust_accuracy_bounds(f, Xte, yte, delta)
    print(f"  {name:24s} robust train {b_tr['lower']:.3f} (exact {b_tr['exact']}), "
          f"robust test [{b_te['lower']:.3f}, {b_te['upper']:.3f}] (exact {b_te['exact']})")
pgd = PGD(delta, "l2", steps=30, restarts=2)
print(f"  PGD on f*(train set): robust test {robust_accuracy(f_tr, Xte, yte, pgd, rng=0):.3f} "
      "(an attack can only over-estimate it)")
print(f"  coverage bound for any learner: {coverage + (1 - coverage) / 2:.3f}")

# %% [markdown]
# ## 3. Adversarial training on a sample: this measures coverage, not size
#
# `train_robust_net` trains a `TwoLayerNet` (both layers) by full-batch gradient descent on
# PGD points (`fit(attack=PGD(delta, 'l2', steps=5))`); `evaluate_net` measures robust
# accuracy as the per-point worst case of a stronger PGD (more steps, an extra restart)
# and the fixed moves the construction suggests (across the hyperplane $x_d = 1/2$, to the
# cell centre, towards the nearest point of the other class). Robust training accuracy
# climbs to 100% with width; robust test accuracy does not move -- but with far fewer
# training points than cells, **no learner of any size** could beat the coverage bound,
# so this shows the coverage bound, not the network size the theorem is about. The
# theorem's statement (with the whole support as data) is section 5.

# %%
widths = (8, 64, 256) if QUICK else (8, 32, 128, 512)
rows = []
for m in widths:
    net, ep = E.train_robust_net(Xtr, ytr, m, cfg, rng)
    rows.append((m, E.evaluate_net(net, Xtr, ytr, cfg, rng).mean(),
                 E.evaluate_net(net, Xte, yte, cfg, rng).mean(), accuracy(net, Xte, yte)))
    print(f"width {m:4d}: robust train {rows[-1][1]:.3f}  robust test {rows[-1][2]:.3f}  "
          f"clean test {rows[-1][3]:.3f}  ({ep} epochs)")
rows = np.array(rows)
fig, ax = plt.subplots(figsize=(5.5, 4))
ax.semilogx(rows[:, 0], rows[:, 1], "o-", label="robust train")
ax.semilogx(rows[:, 0], rows[:, 2], "s-", label="robust test")
ax.semilogx(rows[:, 0], rows[:, 3], "^--", label="clean test")
ax.axhline(coverage + (1 - coverage) / 2, color="k", ls=":", label="coverage bound (any learner)")
ax.set(xlabel="width m", ylabel="accuracy", ylim=(0, 1.05), title=f"d = {d_demo}, M = {hi.n_cells}")
ax.legend(fontsize=8)
show(fig, "width_sweep.png", dpi=110, bbox_inches="tight")

# %% [markdown]
# ## 4. Data on a k-dimensional manifold (Sec. 5)
#
# `ManifoldHardInstance` embeds the $k$-dimensional instance isometrically in
# $\mathbb{R}^d$ (a $k$-dim subspace spanned by normalised block indicators, so distances
# and the $[0,1]^d$ box are kept). The number of bits to store is $(K+1)^{k-1}$, whatever
# $d$ is: the robust test accuracy tracks $k$.

# %%
man = ManifoldHardInstance.create(24, 4, eps, eps0, rng=rng)
Xm, ym = man.support()
print("manifold: ambient d =", man.d, " intrinsic k =", man.k, " rank of centred data =",
      np.linalg.matrix_rank(Xm - Xm.mean(0)), " max distortion of distances =",
      float(np.abs(pairwise_distances(Xm, Xm) - pairwise_distances(*[man.intrinsic.support()[0]] * 2)).max()))

# %% [markdown]
# ## 5. The whole experiment: the width the theorem is about
#
# `npfp reproduce expressivity` measures, at each dimension d, the smallest width (1, 2,
# 4, ...) that reaches 95% on three tasks: **robust on the whole support** (the training
# set is every cell, so this is robust generalization with unlimited data), **robust on
# N fixed points** (robust memorisation) and **clean on the whole support**. The theorem:
# the first grows exponentially in d, the other two polynomially (here: flat). Here its
# quick configuration (`npfp reproduce expressivity --quick`), or a smaller one with
# `NPFP_QUICK=1`; `docs/papers/expressivity.md` has the default run's numbers at seeds 0-4.

# %%
small = E.quick_config()
if QUICK:
    small = dataclasses.replace(small, dims=(2, 3, 4), max_width=16, epochs=200)
result = E.run(small)
print(E.summary_table(result))
for p in E.save(result, os.path.join(OUT, "experiment")):
    print("saved", p)
print("figures written to", OUT)
