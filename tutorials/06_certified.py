# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 6: Certified l_inf robustness with l_inf-dist neurons
#
# B. Zhang, T. Cai, Z. Lu, D. He, L. Wang, *Towards Certifying l_inf Robustness using
# Neural Networks with l_inf-dist Neurons* (ICML 2021), and *Boosting Certified l_inf-dist
# Robustness with EMA Method and Ensemble Model* (code: Theia-4869/EMA-and-Ensemble-Lip-Networks).
#
# The rest of npfp measures *empirical* robustness: an attack fails to find an adversarial
# example, which proves nothing about stronger attacks. Here the network is built so that
# a **certificate** is free: a neuron computes $u(x) = \|x - w\|_\infty + b$, which is
# 1-Lipschitz in $\ell_\infty$ (triangle inequality), so every logit of a network of them is
# too. If the top logit beats the runner-up by a margin $M$, a perturbation of $\ell_\infty$
# size $\epsilon$ moves each logit by at most $\epsilon$, so the margin stays positive while
# $2\epsilon < M$: the point is certified at every radius below $M/2$, and no attack can
# exist.
#
# Run it as a script (`python tutorials/06_certified.py`, under a minute; `NPFP_QUICK=1`
# for a few seconds) or open it as a notebook with jupytext. Figures go to
# `npfp-results/tutorial06/` (or `$NPFP_TUTORIAL_OUT`). Needs the `digits` extra (`pip install '.[digits]'` in a checkout).

# %%
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

from npfp.attacks import PGD
from npfp.datasets import load_digits
from npfp.evaluation import accuracy_vs_radius
from npfp.lipschitz import (Ensemble, LinfDistNet, certified_accuracy_curve, certified_radius,
                            linf_dist, train_linf_dist)

QUICK = os.environ.get("NPFP_QUICK", "0") not in ("", "0")
OUT = os.environ.get("NPFP_TUTORIAL_OUT", os.path.join("npfp-results", "tutorial06"))
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


n_train, width, epochs, members = (400, 24, 5, 2) if QUICK else (1200, 64, 20, 3)

# %% [markdown]
# ## 1. One l_inf-dist neuron is 1-Lipschitz
#
# `linf_dist(X, W, b)` returns $u_j(x_i) = \|x_i - w_j\|_\infty + b_j$ for all rows. Check
# the Lipschitz property on random pairs: the change of every output never exceeds the
# $\ell_\infty$ distance between the inputs.

# %%
rng = np.random.default_rng(0)
X1, X2, W = rng.random((500, 64)), rng.random((500, 64)), rng.random((10, 64))
U1, _ = linf_dist(X1, W)
U2, _ = linf_dist(X2, W)
ratio = np.abs(U1 - U2).max(axis=1) / np.abs(X1 - X2).max(axis=1)
print(f"max |u(x) - u(x')| / ||x - x'||_inf over 500 random pairs: {ratio.max():.4f} (<= 1)")

# %% [markdown]
# ## 2. Train l_inf-dist nets on the digits
#
# The gradient of $\|z\|_\infty$ touches only its arg-max coordinate, so training starts
# from the smooth relaxation $\|z\|_p$ with $p = 8$ and raises $p$ geometrically to 1000,
# then finishes at $p = \infty$ (Zhang et al. 2021, training section). The loss is the hinge on the
# margin, $\max(\max_{c \ne y} g_c + \theta - g_y, 0)$, which pushes margins above
# $\theta$; we keep an exponential moving average (EMA) of the weights as we go.

# %%
X, y = load_digits()
perm = np.random.default_rng(0).permutation(len(X))
tr, te = perm[:n_train], perm[n_train:n_train + 600]
nets, emas = [], []
for k in range(members):
    net = LinfDistNet(64, (width,), 10, X_init=X[tr], y_init=y[tr], rng=k)
    hist, ema = train_linf_dist(net, X[tr], y[tr], epochs=epochs, batch_size=64, lr=0.02,
                                theta=0.3, inf_epochs=max(1, epochs // 5), rng=k)
    nets.append(net)
    emas.append(ema)
    print(f"member {k}: p schedule {[round(p, 1) for p in hist.p]}, final loss {hist.loss[-1]:.4f}")

# %% [markdown]
# ## 3. Certificates, and attacks that cannot beat them
#
# Certified accuracy at $\epsilon$ counts points with margin $> 2\epsilon$. PGD (with
# restarts) gives an *upper* bound on robust accuracy; the certificate a *lower* bound.
# Every certified point must survive PGD -- we check it.

# %%
eps = np.array([0.0, 0.05, 0.1, 0.15]) if QUICK else np.array([0.0, 0.02, 0.05, 0.08, 0.1, 0.12, 0.15])
pgd = PGD(0.0, "linf", steps=10 if QUICK else 20, restarts=1 if QUICK else 2, loss="margin",
          bounds=(0.0, 1.0))
models = {"last iterate": nets[0], "EMA": emas[0], "ensemble of EMAs": Ensemble(emas)}
fig, ax = plt.subplots(figsize=(5.5, 3.8))
for i, (name, m) in enumerate(models.items()):
    _, cert, radius = certified_accuracy_curve(m, X[te], y[te], eps)
    curve = accuracy_vs_radius(m, X[te], y[te], pgd, eps, rng=1)
    broken = int(np.sum((radius[None] > eps[:, None]) & ~curve.robust))
    assert broken == 0, "a certified point was broken: the certificate would be wrong"
    print(f"{name:18s} certified {np.round(100 * cert, 1)}  PGD {np.round(100 * curve.accuracy, 1)}"
          f"  broken {broken}")
    ax.plot(eps, cert, "-o", color=f"C{i}", ms=3, label=f"{name}: certified")
    ax.plot(eps, curve.accuracy, "--", color=f"C{i}", label=f"{name}: PGD")
ax.set_xlabel(r"$\ell_\infty$ radius $\epsilon$")
ax.set_ylabel("accuracy")
ax.legend(fontsize=7)
fig.tight_layout()
show(fig, "certified_vs_pgd.png", dpi=110)

# %% [markdown]
# ## 4. Why the ensemble keeps the certificate
#
# The ensemble averages the members' logits. An average of 1-Lipschitz functions is
# 1-Lipschitz, so its certificate is again margin / 2; averaging tends to enlarge margins
# where members agree. The certified radius per point:

# %%
r_members = np.stack([certified_radius(m, X[te], y[te]) for m in emas])
r_ens = certified_radius(Ensemble(emas), X[te], y[te])
print(f"mean certified radius: members {np.round(r_members.mean(axis=1), 4)}, ensemble {r_ens.mean():.4f}")
print(f"ensemble radius >= mean of members' radii on {np.mean(r_ens >= r_members.mean(axis=0) - 1e-12):.1%} of points")

# %% [markdown]
# The full comparison with an adversarially trained two-layer ReLU network (high PGD
# accuracy, almost no certificate) is `npfp reproduce certified`; see
# `docs/papers/certified.md` for the numbers across seeds.
