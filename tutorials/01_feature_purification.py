# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
# ---

# %% [markdown]
# # Feature purification, step by step
#
# Allen-Zhu & Li, *Feature Purification: How Adversarial Training Performs Robust Deep
# Learning* (arXiv 2005.10190).  The paper's principle: clean training of a two-layer
# ReLU network learns the right features **plus small dense mixtures** that make it
# non-robust; adversarial training started from the clean weights **removes the
# mixtures** ("purifies" each neuron) rather than learning new features.
#
# This script walks through the whole story with the library's functions, on the
# paper's own sparse coding data.  Run it as a script (`python
# tutorials/01_feature_purification.py`, figures go to `npfp-results/tutorial01/`, or `$NPFP_TUTORIAL_OUT`) or open it as
# a notebook with jupytext.  `NPFP_QUICK=1` shrinks everything for a quick look.

# %%
import os
import sys

import matplotlib.pyplot as plt
import numpy as np

from npfp.attacks import FGM
from npfp.evaluation import accuracy, robust_accuracy
from npfp.purification.data import SparseCodingData
from npfp.purification.experiment import robust_accuracy_at
from npfp.purification.learner import make_network, train_adversarial, train_clean
from npfp.purification.lower_bound import best_linear_classifier, linear_robust_radius
from npfp.purification.measures import (init_correlation, mixture_statistics,
                                        purification_decomposition, purified_fraction)
from npfp.purification.theory import dense_mixture_attack, label_cosine

QUICK = os.environ.get("NPFP_QUICK", "0") not in ("", "0")
OUT = os.environ.get("NPFP_TUTORIAL_OUT", os.path.join("npfp-results", "tutorial01"))
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


d, m, n = (64, 256, 6000) if QUICK else (128, 512, 16000)
clean_epochs, final_epochs, at_epochs = (25, 10, 15) if QUICK else (30, 15, 20)
rng = np.random.default_rng(0)

# %% [markdown]
# ## 1. The data: sparse coding
#
# $x = M z$ with an orthogonal dictionary $M$ (random, so every atom is spread over all
# pixels), a sparse code $z$ (each coordinate non-zero with probability $k/d$, values
# $\pm 1$) and the label $y = \mathrm{sign}\langle w^*, z\rangle$ with a dense
# $w^* \in \{\pm1\}^d$.
#
# Scales: a present feature has coordinate $\langle M_j, x\rangle = \pm 1$; the best
# linear classifier $\langle M w^*, x\rangle$ has margin $\ge 1$ but weight norm
# $\sqrt d$, so it is broken by an l2 move of $1/\sqrt d$.  A network that thresholds
# each coordinate at a small threshold survives moves of a few tenths.  We attack at
# $\tau = 0.35$.

# %%
k, tau = 2.0, 0.35
kappa_peak, kappa = 0.5, 0.06    # the two-stage bias: peak of the ramp, then the final ratio
data = SparseCodingData.create(d, k, rng=rng)
X, y = data.sample(n, rng)
Xt, yt = data.sample(500, rng)
print(f"d={d}, k={k}: best linear classifier's robust radius on margin-1 points "
      f"= {linear_robust_radius(data):.3f}; tau = {tau}")

# %% [markdown]
# ## 2. Clean training
#
# The symmetric network $f(x) = \sum_i \mathrm{ReLU}(\langle w_i,x\rangle - b_i) -
# \mathrm{ReLU}(-\langle w_i,x\rangle - b_i)$ from a small init.  The bias follows the
# library's schedule $b_i = \kappa_t \|w_i\|$: a fixed threshold would leave every small
# neuron silent.  Stage 1 ramps $\kappa_t$ from 0 to a high peak (0.5), so that neurons
# specialise; stage 2 holds the final ratio $\kappa = 0.06$, which adversarial training
# and the evaluation keep.
#
# Robust accuracy is the per-point worst case of PGD and of the proof's own attack: the
# fixed move $\delta = -\tau y\, M w^*/\|M w^*\|$ against the label, which reaches every
# neuron that carries a share of the label direction.

# %%
net = make_network(d, m, init_scale=1e-3, rng=rng)
W0 = net.params["W"].copy()
train_clean(net, X, y, kappa=kappa_peak, epochs=clean_epochs, final_kappa=kappa,
            final_epochs=final_epochs, rng=rng)
W = net.params["W"].copy()
fixed = dense_mixture_attack(tau, data.M, data.w_star)


def report(name, model):
    acc = accuracy(model, Xt, yt)
    rob = robust_accuracy_at(model, Xt, yt, tau, "l2", steps=20, restarts=1, fixed=(fixed,),
                             rng=0)
    alone = robust_accuracy(model, Xt, yt, [fixed])
    print(f"{name:28s} clean {100 * acc:5.1f}%   robust at tau (worst of PGD-20 and the fixed "
          f"attack) {100 * rob:5.1f}%   fixed attack alone {100 * alone:5.1f}%")
    return acc, rob


c = label_cosine(W, data.M, data.w_star)
print(f"clean neurons' median label-direction cosine c = {np.median(np.abs(c)):.2f} "
      f"(a pure neuron: 1/sqrt(d) = {1 / np.sqrt(d):.2f})")


report("clean-trained network", net)
report("best linear classifier", best_linear_classifier(data))

# %% [markdown]
# ## 3. Adversarial training from the clean weights (FGM, one step)

# %%
adv, _ = train_adversarial(net, X, y, attack=FGM(tau, "l2"), kappa=kappa, epochs=at_epochs,
                           lr=3.0, rng=rng)
W_adv = adv.params["W"].copy()
report("FGM adversarially trained", adv)

# %% [markdown]
# ## 4. The principle, measured
#
# * both $w_i$ and $w_i'$ are nearly uncorrelated with the init $w_i^0$;
# * $w_i = \beta_i w_i' + v_i$ with $\|\beta_i w_i'\| > \|v_i\|$ for most neurons;
# * in the dictionary basis, clean neurons carry a dense mixture aligned with $w^*$,
#   which adversarial training removes.

# %%
beta, V, pure, resid = purification_decomposition(W, W_adv)
mc = mixture_statistics(W, data.M, data.w_star).medians()
ma = mixture_statistics(W_adv, data.M, data.w_star).medians()
print(f"median |cos(w, w0)|  = {np.median(init_correlation(W, W0)):.3f}")
print(f"median |cos(w', w0)| = {np.median(init_correlation(W_adv, W0)):.3f}")
print(f"purified fraction (||beta w'|| > ||v||) = {100 * purified_fraction(W, W_adv):.1f}%")
print(f"top-1 dictionary energy: clean {mc['pure_energy']:.2f} -> adversarial {ma['pure_energy']:.2f}")
print(f"mixture alignment with w*: clean {mc['mixture_alignment']:.3f} -> "
      f"adversarial {ma['mixture_alignment']:.3f}")
print(f"median label-direction cosine c: clean {np.median(np.abs(c)):.3f} -> adversarial "
      f"{np.median(np.abs(label_cosine(W_adv, data.M, data.w_star))):.3f}")

# %%
C, Ca = np.abs(W @ data.M), np.abs(W_adv @ data.M)
rows = np.argsort(np.argmax(Ca, axis=1), kind="stable")[:48]
cols = np.unique(np.argmax(Ca[rows], axis=1))
fig, axes = plt.subplots(1, 2, figsize=(9, 3.5))
for ax, A, title in ((axes[0], C, "clean |M^T w_i|"), (axes[1], Ca, "adversarial |M^T w_i'|")):
    B = A[rows][:, np.concatenate([cols, np.setdiff1d(np.arange(d), cols)])[:64]]
    ax.imshow(B / B.max(axis=1, keepdims=True), aspect="auto", cmap="viridis")
    ax.set_title(title)
fig.tight_layout()
show(fig, "purification_heatmaps.png", dpi=110)

# %% [markdown]
# ## 5. Everything at once
#
# `npfp reproduce purification` runs the full table: PGD adversarial training, the lower
# bound (linear, cubic polynomial and NTK models trained clean and adversarially), and
# low-rank adversarial training.  Here in its quick configuration (skipped in the
# tutorial's own quick mode; run `npfp reproduce purification --quick` for it).

# %%
from npfp.purification import experiment  # noqa: E402

if not QUICK:
    result = experiment.run(experiment.quick_config(), progress=False)
    print(experiment.summary_table(result))
    paths = experiment.save(result, os.path.join(OUT, "purification"))
    print("saved:", *paths, sep="\n  ")
