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
# Implement the functions listed in README.md, then run this script (or open it as a
# notebook with jupytext).  On a linear model every number below has a closed form, so
# an attack is *exact* or it is wrong.

# %%
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, HERE)  # the student copy in this folder

from {{PACKAGE}}.attacks import FGM, PGD, linear_robust_accuracy, linear_robust_margin  # noqa: E402
from {{PACKAGE}}.nn import LinearModel  # noqa: E402

rng = np.random.default_rng({{SEED}})
d, n = {{SIZE d=20}}, {{SIZE n=500}}
w = rng.standard_normal(d)
model = LinearModel(w, 0.3)
X = rng.standard_normal((n, d))
y = np.where(X @ w + 0.3 > 0, 1.0, -1.0)

# %% [markdown]
# ## FGM is the exact worst case on a linear model
# The margin after FGM must equal y f(x) - eps ||w||_q.

# %%
for norm, q in (("l2", 2), ("linf", 1)):
    eps = 0.2
    adv = FGM(eps, norm)(model, X, y)
    got = y * model.decision_function(adv.x_adv)
    exact = y * (X @ w + 0.3) - eps * np.linalg.norm(w, q)
    print(f"{norm}: max |FGM margin - exact| = {np.max(np.abs(got - exact)):.2e}, "
          f"robust margin function agrees: {np.allclose(linear_robust_margin(model, X, y, eps, norm), exact)}")

# %% [markdown]
# ## PGD reaches the exact robust accuracy
# Robust accuracy of a linear model is certified exactly by the margins; PGD must match it.

# %%
for norm in ("l2", "linf"):
    for eps in (0.05, 0.1, 0.2):
        exact = linear_robust_accuracy(model, X, y, eps, norm)
        adv = PGD(eps, norm, steps=50, step_size=eps / 4)(model, X, y, rng=rng)
        print(f"{norm} eps={eps}: exact {exact:.3f}  PGD {np.mean(model.predict(adv.x_adv) == y):.3f}")
