# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Assignment {{ASSIGNMENT_ID}}: {{TITLE}}
#
# Implement the adversarial step of `fit` and the purification measures (README.md), then
# run this script (or open it as a notebook with jupytext).

# %%
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, HERE)  # the student copy in this folder

from {{PACKAGE}}.attacks import FGM, PGD  # noqa: E402
from {{PACKAGE}}.evaluation import accuracy, robust_accuracy  # noqa: E402
from {{PACKAGE}}.purification.data import SparseCodingData  # noqa: E402
from {{PACKAGE}}.purification.learner import make_network, train_adversarial, train_clean  # noqa: E402
from {{PACKAGE}}.purification.measures import (init_correlation, purification_decomposition,  # noqa: E402
                                               purified_fraction)

rng = np.random.default_rng({{SEED}})
d, tau = {{SIZE d=32}}, 0.3
data = SparseCodingData.create(d, 2, rng=rng)     # x = M z, z sparse, y = sign(<w*, z>)
X, y = data.sample({{SIZE n=2000}}, rng)
Xt, yt = data.sample({{SIZE n_test=300}}, rng)

# %% [markdown]
# ## Clean training, then adversarial training from the clean weights

# %%
net = make_network(d, {{SIZE m=128}}, rng=rng)
W0 = net.params["W"].copy()
train_clean(net, X, y, kappa=0.4, epochs=15, rng=rng)
net_adv, _ = train_adversarial(net, X, y, attack=FGM(tau), kappa=0.4, epochs=10, rng=rng)
pgd = PGD(tau, "l2", steps=20)
for name, model in (("clean-trained", net), ("adversarially trained", net_adv)):
    print(f"{name:22s} clean {accuracy(model, Xt, yt):.3f}  "
          f"robust at tau={tau}: {robust_accuracy(model, Xt, yt, pgd, rng=1):.3f}")

# %% [markdown]
# ## Measuring purification

# %%
W, W_adv = net.params["W"], net_adv.params["W"]
beta, V, pure, resid = purification_decomposition(W, W_adv)
print("purified fraction (||beta w'|| > ||v||):", purified_fraction(W, W_adv))
print("median |cos(w, w0)| :", np.median(init_correlation(W, W0)))
print("median |cos(w', w0)|:", np.median(init_correlation(W_adv, W0)))
print("median ||v|| / ||beta w'||:", np.median(resid / pure))
