# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Tutorial 4: Clean generalization and robust overfitting (CGRO)
#
# B. Li & Y. Li, *Why Clean Generalization and Robust Overfitting Both Happen in
# Adversarial Training* (arXiv 2306.01271, ICML 2025).
#
# Adversarial training often ends with ~100% robust *training* accuracy, good clean test
# accuracy, and poor robust *test* accuracy. The paper explains it on patch data: a
# signal patch $\alpha y w^*$ and Gaussian noise patches orthogonal to $w^*$. When the
# attack radius $\delta$ is close to $\alpha$ the adversary nearly erases the signal of
# every training point; the only way left to fit the adversarial training set is to
# **memorise the noise patches** of the training samples, one by one. The true feature is
# learned only partially (enough for clean accuracy), the noise is memorised (robust
# training accuracy), and nothing of that memorisation carries over to test points
# (robust test accuracy).
#
# Run it as a script (`python tutorials/04_cgro.py`, under a minute; `NPFP_QUICK=1` for a
# few seconds). Figures go to `npfp-results/tutorial04/` (or `$NPFP_TUTORIAL_OUT`).

# %%
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

from npfp.attacks import PGD
from npfp.cgro import (CGROData, OddPowerCNN, SubspaceAttack, margin_shares,
                       true_feature_learning)
from npfp.cgro import experiment as E
from npfp.gradcheck import check_model_gradients

QUICK = os.environ.get("NPFP_QUICK", "0") not in ("", "0")
OUT = os.environ.get("NPFP_TUTORIAL_OUT", os.path.join("npfp-results", "tutorial04"))
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


cfg = E.quick_config() if QUICK else E.Config()
print(cfg)

# %% [markdown]
# ## 1. The data
#
# $X = (X_1, \dots, X_P)$ with $X_1 = \alpha y w^*$ (the library puts the signal on patch 0)
# and $X_p \sim N(0, \sigma_p^2 (I - w^* w^{*T}))$ for the other patches. In dimension
# $d \gg n$ the noise patches of different samples are nearly orthogonal, which is what
# makes them memorisable.

# %%
data = CGROData.create(d=cfg.d, P=cfg.P, alpha=cfg.alpha, sigma_p=cfg.sigma_p)
X, y = data.sample(cfg.n_train, 0)
xi = data.noise(X).reshape(-1, cfg.d)
cos = (xi @ xi.T) / np.outer(np.linalg.norm(xi, axis=1), np.linalg.norm(xi, axis=1))
print("signal patch = alpha y w*:", np.allclose(X[:, 0], cfg.alpha * y[:, None] * data.w_star))
print("noise _|_ w*: max |<xi, w*>| =", np.abs(xi @ data.w_star).max())
print(f"noise norm {np.linalg.norm(xi, axis=1).mean():.3f} (sigma_p sqrt(d-1) = "
      f"{cfg.sigma_p * np.sqrt(cfg.d - 1):.3f}); largest |cos| between two noise patches "
      f"{np.abs(cos - np.eye(len(cos))).max():.3f}")

# %% [markdown]
# ## 2. The network: a cubic patch CNN
#
# $f(X) = \sum_r \sum_p \sigma(\langle w_r, X_p\rangle)$ with the odd power
# $\sigma(z) = \mathrm{sign}(z)|z|^q$, $q = 3$. The signal patch contributes
# $y\,\alpha^q U$ with $U = \sum_r \langle w_r, w^*\rangle^q$, the noise patches contribute
# $V_i$ to the margin of sample $i$: $y_i f(X_i) = \alpha^q U + V_i$ exactly. Its
# gradients are written by hand; check them by finite differences first.

# %%
small = OddPowerCNN(cfg.P, 8, 3, init_scale=0.5, rng=1)
Xs, ys = CGROData.create(d=8, P=cfg.P).sample(4, 2)
print("finite-difference relative errors:", check_model_gradients(small, Xs, ys))
net = OddPowerCNN(cfg.P, cfg.d, cfg.m, init_scale=0.5, rng=3)
s, v = margin_shares(net, X, y, data)
print("y f(X) == alpha^q U + V_i:", np.allclose(s + v, y * net.decision_function(X)))

# %% [markdown]
# ## 3. The threat model: l2 radius delta inside span(w*)
#
# The adversary may move each patch along $w^*$ only, $\Delta_p = s_p w^*$ with
# $\|s\|_2 \le \delta$. `SubspaceAttack` runs the library's PGD on the coordinates $s$
# (no new attack code). On a network that only reads $w^*$ the attack nearly erases the
# signal when $\delta$ is close to $\alpha$.

# %%
reader = OddPowerCNN(cfg.P, cfg.d, 1, W=data.w_star[None, :])
att = SubspaceAttack(PGD(cfg.delta, "l2", steps=20, restarts=2), data.w_star)
res = att(reader, X, y, rng=0)
print(f"clean margin alpha^3 = {cfg.alpha ** 3:.3f}; after the attack: "
      f"{np.mean(y * reader.decision_function(res.x_adv)):.4f}; robust accuracy {res.accuracy:.2f}")

# %% [markdown]
# ## 4. Adversarial training and the CGRO gap
#
# `E.run` trains with full-batch gradient descent on
# $(1-\lambda)\,\text{clean loss} + \lambda\,\text{adversarial loss}$ (the paper's "logistic
# loss plus a weighted adversarial term"), recording $U$, every $V_i$, accuracies and the
# global flatness of the loss per epoch.

# %%
r = E.run(cfg)
print(E.summary_table(r))
paths = E.save(r, OUT)
print("saved", paths)

# %% [markdown]
# ## 5. The three phases
#
# Phase 1: nothing much happens until the cubic dynamics of the shared signal take off
# ($U$ jumps). Phase 2: $U$ stalls -- the adversarial examples carry almost no signal --
# while every $V_i$ keeps growing: the network memorises the noise of the training
# points. Phase 3: robust training accuracy reaches ~100% and the growth slows down.

# %%
T = np.arange(1, len(r.U) + 1)
fig, ax = plt.subplots(1, 2, figsize=(10, 3.6))
ax[0].plot(T, r.U, label="U")
ax[0].plot(T, np.median(r.V, axis=1), color="C1", label="V_i, median")
ax[0].fill_between(T, np.percentile(r.V, 10, axis=1), np.percentile(r.V, 90, axis=1),
                   color="C1", alpha=0.25, label="V_i, 10th-90th pct")
ax[0].set_yscale("symlog", linthresh=1e-2)
ax[0].set_xlabel("epoch")
ax[0].legend(fontsize=8)
ax[1].plot(r.epochs, r.robust_train, label="robust train")
ax[1].plot(r.epochs, r.robust_test, label="robust test")
ax[1].plot(r.epochs, r.clean_test, "--", label="clean test")
ax[1].set_xlabel("epoch")
ax[1].legend(fontsize=8)
fig.tight_layout()
show(fig, "phases.png", dpi=100)

# %% [markdown]
# ## 6. Where the robust training margin comes from
#
# Rebuild the trained network from its final filters and split the margin
# $y f(X) = \alpha^q U + V_i$ at *clean* points: the training points carry a large
# memorised noise share $V_i$, the test points none. At the adversarial points the
# attacker removes nearly all of the signal share (and may add $-y\,t\,w^*$ to noise
# patches, which costs $t^q U$); a training point survives on its $V_i$, a test point has
# nothing to fall back on.

# %%
model = OddPowerCNN(cfg.P, cfg.d, cfg.m, q=cfg.q, W=r.W)
rng = np.random.default_rng(cfg.seed)
Xtr, ytr = data.sample(cfg.n_train, rng)      # the same draws as inside E.run
Xte, yte = data.sample(cfg.n_test, rng)
print(f"U = {true_feature_learning(model, data):.3f}, alpha^q U = {cfg.alpha ** cfg.q * true_feature_learning(model, data):.3f}")
for name, (Xe, ye) in {"train": (Xtr, ytr), "test": (Xte, yte)}.items():
    _, V_clean = margin_shares(model, Xe, ye, data)
    adv = att(model, Xe, ye, rng=1)
    z0 = model.preactivations(adv.x_adv)[:, 0]
    sig_adv = ye * (np.sign(z0) * np.abs(z0) ** cfg.q).sum(axis=1)
    print(f"{name:5s}: median V_i at clean points {np.median(V_clean):7.3f};  at the adversarial "
          f"points: signal share {np.median(sig_adv):6.3f}, robust accuracy {adv.accuracy:.2f}")
