"""npfp: the theory of adversarial robustness, runnable in pure NumPy.

Engine (knows no paper): :mod:`npfp.nn`, :mod:`npfp.gradcheck`, :mod:`npfp.optim`,
:mod:`npfp.training`, :mod:`npfp.attacks`, :mod:`npfp.evaluation`.
One package per paper: :mod:`npfp.purification`, :mod:`npfp.averaging`, ...
"""
__version__ = "0.1.0"
