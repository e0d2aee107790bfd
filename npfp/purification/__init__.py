"""Feature Purification (Allen-Zhu & Li, arXiv 2005.10190): data, learner, measurements."""
