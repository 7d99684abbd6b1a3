"""Solutions to notebook 03's checked exercises (``mtl_utils.exercises.nb03``).

Each ``# ---- qN`` section is what ``nb03.qN.solution()`` prints; ``make test`` runs this file
through the checkers (tests/test_exercises.py).
"""

import numpy as np


# ---- q1: dynamic weight average (Liu, Johns & Davison 2019) from its formula
def my_dwa(loss_history, temperature=2.0):
    """w_t = T exp(r_t / tau) / sum_i exp(r_i / tau), r_t = L_t(k-1) / L_t(k-2)."""
    h = np.asarray(loss_history, dtype=np.float64)
    n_tasks = h.shape[1]
    if len(h) < 2:
        return np.ones(n_tasks)  # equal weights before two epochs
    r = h[-1] / h[-2]
    e = np.exp(r / temperature)
    return n_tasks * e / e.sum()
