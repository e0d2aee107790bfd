"""Figures without pyplot: the plotting helpers evaluation and the paper packages share.

:func:`subplots` builds a bare :class:`matplotlib.figure.Figure` and :func:`save_figure`
writes it (Agg canvas), so saving a figure never switches the caller's backend or opens
a window.  matplotlib is imported only when a figure is made.
"""
from __future__ import annotations

import os

__all__ = ["subplots", "save_figure"]


def subplots(nrows: int = 1, ncols: int = 1, **kwargs):
    """A matplotlib Figure and its axes, without pyplot.

    Figures are built on a bare :class:`matplotlib.figure.Figure` (rendered by the Agg
    canvas when saved), so saving them never switches the backend of the caller's
    session or notebook and never opens a window.  ``kwargs`` go to ``Figure`` (figsize,
    ...) or to ``Figure.subplots`` (sharex, sharey, squeeze, ...).
    """
    from matplotlib.figure import Figure

    fig_keys = ("figsize", "dpi", "layout")
    fig = Figure(**{k: kwargs.pop(k) for k in fig_keys if k in kwargs})
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save_figure(fig, path: str, *, dpi: int = 120, tight: bool = True) -> str:
    """Lay out (``tight``) and write ``fig`` as an image at ``path``; returns the path."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if tight:
        fig.tight_layout()
    fig.savefig(path, dpi=dpi)
    return path
