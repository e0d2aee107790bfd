"""Feature Purification (Allen-Zhu & Li, arXiv 2005.10190): data, learner, measurements.

Modules, in the order of the paper's story:

* :mod:`npfp.purification.data` -- the sparse coding data model x = M z (+ noise),
  y = sign(<w*, z>).
* :mod:`npfp.purification.learner` -- the symmetric two-layer ReLU network, the
  norm-tied bias schedule, clean and adversarial training (from the clean weights).
* :mod:`npfp.purification.measures` -- the statements as functions: correlation with
  init, the purification decomposition, dense mixtures, singular values of the update.
* :mod:`npfp.purification.lower_bound` -- linear, polynomial and NTK models (the lower
  bound made visible).
* :mod:`npfp.purification.lowrank` -- adversarial training through rank-r updates (v4).
* :mod:`npfp.purification.experiment` -- ``npfp reproduce purification``.

See docs/papers/feature-purification.md for the paper -> code table and measured numbers.
"""
