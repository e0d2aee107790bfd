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
# Implement the four functions listed in README.md, then run this script (or open it as a
# notebook with jupytext).

# %%
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__)) if "__file__" in globals() else os.getcwd()
sys.path.insert(0, HERE)  # the student copy in this folder

from {{PACKAGE}}.attacks import fixed_direction_attack  # noqa: E402
from {{PACKAGE}}.averaging import (MultiClusterData, averaged_feature_direction,  # noqa: E402
                                   cosine_matrix, feature_averaging_network,
                                   feature_decoupling_network, train_binary)

rng = np.random.default_rng({{SEED}})
data = MultiClusterData.create(d={{SIZE d=512}}, k={{SIZE k=10}}, rng=rng)
X, y = data.sample({{SIZE n=300}}, rng)[:2]
Xt, yt = data.sample({{SIZE n_test=300}}, rng)[:2]

# %% [markdown]
# ## Gradient descent averages the features
# Train the binary network (m = 5 neurons per sign, full-batch GD) and look at the cosines
# between the cluster features and the neurons: about 1/sqrt(5) = 0.45 for every feature of
# the neuron's own class.

# %%
net, hist = train_binary(X, y, m=5, rng=rng)
C = cosine_matrix(data.mu, net.params["W"])
print("test accuracy", np.mean(net.predict(Xt) == yt))
print("cos(mu_j, w_r) for the first neuron:", np.round(C[:, 0], 2))

# %% [markdown]
# ## The averaged-feature attack
# x -> x - eps y u breaks the trained network near sqrt(d/k); compare with f_FA and f_FD.

# %%
u = averaged_feature_direction(data.mu, data.J_plus)
direction = np.stack([u, -u])     # row 0 for y = -1, row 1 for y = +1: delta = -eps y u
models = {"trained": net, "f_FA": feature_averaging_network(data.mu, data.J_plus),
          "f_FD": feature_decoupling_network(data.mu, data.J_plus)}
r = data.averaging_radius
print(f"sqrt(d/k) = {r:.2f}")
for factor in (0.5, 0.9, 1.1, 1.5, 2.0):
    accs = {name: 1 - fixed_direction_attack(m, Xt, yt, direction, factor * r).success.mean()
            for name, m in models.items()}
    print(f"eps = {factor:.1f} sqrt(d/k): " + "  ".join(f"{k} {v:.2f}" for k, v in accs.items()))
