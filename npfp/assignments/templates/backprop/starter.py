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
# Implement `SymmetricReLUNet.forward` and `SymmetricReLUNet.backward` in
# `{{PACKAGE}}/nn/models.py` (see README.md), then run this script (or open it as a
# notebook with jupytext) to check your gradients.

# %%
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, HERE)  # so that the student copy in this folder is imported

from {{PACKAGE}}.nn import SymmetricReLUNet  # noqa: E402

rng = np.random.default_rng({{SEED}})
d, m, n = {{SIZE d=5}}, {{SIZE m=4}}, {{SIZE n=7}}
net = SymmetricReLUNet(d, m, init_scale=0.5, bias=0.1, train_bias=True, rng=rng)
X = rng.standard_normal((n, d))
y = np.where(rng.random(n) < 0.5, -1.0, 1.0)

# %% [markdown]
# ## Step 1: the forward pass
# f is odd in x: f(-x) = -f(x).  Check it.

# %%
out, cache = net.forward(X)
print("f(X)       =", np.round(out, 4))
print("f(-X)+f(X) =", np.round(net.forward(-X)[0] + out, 12))

# %% [markdown]
# ## Step 2: the backward pass against finite differences
# The mean logistic loss L = mean log(1 + exp(-y f(x))) has dL/df_i = -y_i sigmoid(-y_i f_i) / n.


# %%
def loss(model, X):
    return float(np.mean(np.logaddexp(0.0, -y * model.forward(X)[0])))


def numerical(fun, x, h=1e-6):
    g = np.zeros_like(x)
    for j in np.ndindex(x.shape):
        old = x[j]
        x[j] = old + h
        fp = fun()
        x[j] = old - h
        fm = fun()
        x[j] = old
        g[j] = (fp - fm) / (2 * h)
    return g


out, cache = net.forward(X)
dout = -y / (1.0 + np.exp(y * out)) / n
grads, dX = net.backward(dout, cache)
checks = {"W": (grads["W"], numerical(lambda: loss(net, X), net.params["W"])),
          "b": (grads["b"], numerical(lambda: loss(net, X), net.params["b"])),
          "X": (dX, numerical(lambda: loss(net, X), X))}
for name, (analytic, numeric) in checks.items():
    err = np.linalg.norm(analytic - numeric) / max(np.linalg.norm(analytic) + np.linalg.norm(numeric), 1e-12)
    print(f"relative error d/d{name}: {err:.2e}  ({'ok' if err < 1e-6 else 'CHECK YOUR BACKWARD'})")
