"""Solutions to notebook 10's checked exercises (``mtl_utils.exercises.nb10``).

Each ``# ---- qN`` section is what ``nb10.qN.solution()`` prints; ``make test`` runs this file
through the checkers (tests/test_exercises.py).
"""

import numpy as np


# ---- q1: the inverse of a rotation, for test-time augmentation of positions
def unrotate(position, degrees):
    """Positions predicted on a view turned by ``degrees`` (counter-clockwise on screen,
    about the centre), back in the original image."""
    t = np.radians(degrees)
    d = np.asarray(position, np.float64) - 0.5  # about the centre
    # the forward turn maps (dx, dy) to (cos dx + sin dy, -sin dx + cos dy) (y points down);
    # its inverse is the same turn by -t
    x = np.cos(t) * d[:, 0] - np.sin(t) * d[:, 1]
    y = np.sin(t) * d[:, 0] + np.cos(t) * d[:, 1]
    return 0.5 + np.stack([x, y], axis=1)
