"""PyTorch CPU eager implementations of the benchmarked computations (reference only).

Written the way a PyTorch user would write them: the same networks with autograd,
``torch.optim.SGD`` for the step, and PGD with ``torch.autograd.grad`` w.r.t. the input
(so no parameter gradient is computed during the attack).  They start from the npfp
model's initial weights, see the same data in the same dtype, and use the same batch
size, learning rate, radius and step size.  ``torch`` is passed in by the runner, which
imports it lazily; nothing in npfp imports this module.
"""
from __future__ import annotations

import gc
import time

import numpy as np

__all__ = ["time_workload"]


def _sym_forward(torch, W, b, scale):
    relu = torch.nn.functional.relu

    def f(X):
        u = X @ W.T
        return scale * (relu(u - b) - relu(-u - b)).sum(dim=1)
    return f


def _cnn_forward(torch, W, P, rho, q):
    K, m, d = W.shape

    def sigma(z):
        inner = torch.clamp(z, 0.0, rho) ** q / (q * rho ** (q - 1))
        return torch.where(z >= rho, z - (1 - 1 / q) * rho, inner)

    def f(X):
        n = X.shape[0]
        z = X.reshape(n * P, d) @ W.reshape(K * m, d).T
        F = sigma(z).reshape(n, P, K, m).sum(dim=(1, 3))
        return F[:, 1] - F[:, 0]
    return f


def _build(torch, kind, model, bias, rho, q):
    """Trainable torch copy of the npfp model's parameters and its forward function."""
    W = torch.tensor(np.array(model.params["W"]), requires_grad=True)
    if kind == "sym":
        b = torch.tensor(np.array(model.params["b"]))
        return W, _sym_forward(torch, W, b, model.output_scale)
    return W, _cnn_forward(torch, W, model.P, rho, q)


def _pgd(torch, f, x, y, eps, steps, step_size, gen):
    """l_inf PGD from a uniform random start, keeping per point the best iterate
    (misclassified beats correct, then higher loss), and returning what
    ``npfp.attacks.PGD`` returns: the adversarial batch with its per-point losses and
    success flags, those recorded when the kept iterate was scored.  (npfp's linf PGD
    does not score its returned points again either, since its iterates are exactly
    the returned points; unlike this reference it also scores x itself when some point
    survives every iterate.)"""
    softplus = torch.nn.functional.softplus
    n = x.shape[0]
    xa = x + (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1) * eps
    lo, hi = x - eps, x + eps
    best = x.clone()
    best_loss = torch.full((n,), -float("inf"), dtype=x.dtype)
    best_succ = torch.zeros(n, dtype=torch.bool)
    for t in range(steps + 1):
        xa.requires_grad_(t < steps)
        out = f(xa)
        losses = softplus(-y * out)
        with torch.no_grad():
            succ = torch.where(out > 0, 1.0, -1.0) != y
            better = (succ & ~best_succ) | ((succ == best_succ) & (losses > best_loss))
            best[better] = xa.detach()[better]
            best_loss = torch.where(better, losses, best_loss)
            best_succ |= succ
        if t == steps:
            break
        (g,) = torch.autograd.grad(losses.sum(), xa)
        with torch.no_grad():
            xa = torch.minimum(torch.maximum(xa + step_size * g.sign(), lo), hi)
    return best, best_loss, best_succ


def _epoch(torch, f, W, X, y, batch, lr, order, attack=None):
    softplus = torch.nn.functional.softplus
    opt = torch.optim.SGD([W], lr=lr)
    for s in range(0, X.shape[0], batch):
        idx = order[s:s + batch]
        Xb, yb = X[idx], y[idx]
        if attack is not None:
            Xb = attack(Xb, yb)[0]
        opt.zero_grad(set_to_none=True)
        loss = softplus(-yb * f(Xb)).mean()
        loss.backward()
        opt.step()


def time_workload(torch, workload, kind, size, X, y, model, batch, repeats, *, lr, eps,
                  steps, step_size, bias, rho, q, seed: int = 2) -> float:
    """(wall, cpu) seconds of the fastest of ``repeats`` runs of the torch version of a
    workload, after one untimed warm-up run on the first minibatch."""
    Xt = torch.from_numpy(np.ascontiguousarray(X))
    yt = torch.from_numpy(np.asarray(y, dtype=X.dtype))

    def run(Xt, yt):
        n = Xt.shape[0]
        W, f = _build(torch, kind, model, bias, rho, q)
        gen = torch.Generator().manual_seed(seed)
        order = torch.from_numpy(np.random.default_rng(seed).permutation(n))

        def attack(xb, yb):
            return _pgd(torch, f, xb, yb, eps, steps, step_size, gen)
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        if workload == "train":
            _epoch(torch, f, W, Xt, yt, batch, lr, order)
        elif workload == "advtrain":
            _epoch(torch, f, W, Xt, yt, batch, lr, order, attack=attack)
        elif workload == "pgd":
            for s in range(0, n, batch):
                attack(Xt[s:s + batch], yt[s:s + batch])
        else:
            raise ValueError(f"unknown workload {workload!r}")
        return time.perf_counter() - t0, time.process_time() - c0

    run(Xt[:batch], yt[:batch])
    return min(run(Xt, yt) for _ in range(max(repeats, 1)))
