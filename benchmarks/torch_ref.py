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


def _rows(v):
    """Per-row l2 norms of v, shaped to broadcast against v."""
    return v.flatten(1).norm(dim=1).reshape((-1,) + (1,) * (v.dim() - 1))


def _start(torch, x, eps, norm, gen):
    """A uniform random point of the eps-ball around x (as ``npfp.attacks.random_in_ball``)."""
    if norm == "linf":
        return x + (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1) * eps
    z = torch.randn(x.shape, generator=gen, dtype=x.dtype)
    z = z / _rows(z).clamp_min(torch.finfo(x.dtype).tiny)
    r = torch.rand((x.shape[0],) + (1,) * (x.dim() - 1), generator=gen, dtype=x.dtype)
    return x + z * r ** (1.0 / x[0].numel()) * eps


def _ascent(torch, xa, x, g, eps, step_size, norm):
    """One projected step: l_inf sign step and clip, or l2 normalised step and rescale."""
    if norm == "linf":
        return torch.minimum(torch.maximum(xa + step_size * g.sign(), x - eps), x + eps)
    gn = _rows(g)
    d = xa - x + step_size * g / torch.where(gn > 0, gn, torch.ones_like(gn))
    dn = _rows(d)
    return x + d * torch.where(dn > eps, eps / dn, torch.ones_like(dn))


def _pgd(torch, f, x, y, eps, steps, step_size, gen, norm="linf", restarts=1):
    """PGD from uniform random starts (l_inf or l2, ``restarts`` of them), keeping per point
    the best iterate (misclassified beats correct, then higher loss), and returning what
    ``npfp.attacks.PGD`` returns: the adversarial batch with its per-point losses and
    success flags, those recorded when the kept iterate was scored.  (npfp's linf PGD
    does not score its returned points again either, since its iterates are exactly
    the returned points; unlike this reference it also scores x itself when some point
    survives every iterate, and in l2 checks that rounding kept x_adv in the ball.)"""
    softplus = torch.nn.functional.softplus
    n = x.shape[0]
    best = x.clone()
    best_loss = torch.full((n,), -float("inf"), dtype=x.dtype)
    best_succ = torch.zeros(n, dtype=torch.bool)
    for _ in range(restarts):
        xa = _start(torch, x, eps, norm, gen)
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
                xa = _ascent(torch, xa, x, g, eps, step_size, norm)
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
                  steps, step_size, bias, rho, q, norm="linf", restarts=1,
                  seed: int = 2) -> float:
    """(wall, cpu) seconds of the fastest of ``repeats`` runs of the torch version of a
    workload, after one untimed warm-up run on the first minibatch.  ``eval_l2`` and
    ``eval_linf`` attack all points in one call, with ``restarts`` and ``norm``."""
    Xt = torch.from_numpy(np.ascontiguousarray(X))
    yt = torch.from_numpy(np.asarray(y, dtype=X.dtype))

    def run(Xt, yt):
        n = Xt.shape[0]
        W, f = _build(torch, kind, model, bias, rho, q)
        gen = torch.Generator().manual_seed(seed)
        order = torch.from_numpy(np.random.default_rng(seed).permutation(n))

        def attack(xb, yb):
            return _pgd(torch, f, xb, yb, eps, steps, step_size, gen, norm, restarts)
        gc.collect()
        c0, t0 = time.process_time(), time.perf_counter()
        if workload == "train":
            _epoch(torch, f, W, Xt, yt, batch, lr, order)
        elif workload == "advtrain":
            _epoch(torch, f, W, Xt, yt, batch, lr, order, attack=attack)
        elif workload == "pgd":
            for s in range(0, n, batch):
                attack(Xt[s:s + batch], yt[s:s + batch])
        elif workload in ("eval_l2", "eval_linf"):
            attack(Xt, yt)
        else:
            raise ValueError(f"unknown workload {workload!r}")
        return time.perf_counter() - t0, time.process_time() - c0

    run(Xt[:batch], yt[:batch])
    return min(run(Xt, yt) for _ in range(max(repeats, 1)))
