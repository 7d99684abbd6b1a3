"""Solutions to notebook 04's checked exercises (``mtl_utils.exercises.nb04``).

Each ``# ---- qN`` section is what ``nb04.qN.solution()`` prints; ``make test`` runs this file
through the checkers (tests/test_exercises.py).
"""

from dataclasses import dataclass
from typing import ClassVar

import tensorflow as tf

from mtl_utils import augment, geometry


# ---- q1: a horizontal stretch of your own
@dataclass(frozen=True)
class MyStretch(augment.GeometricOp):
    """Stretch the image horizontally by a factor drawn in [1 - amount, 1 + amount]."""

    amount: float = 0.2
    p: float = 1.0
    name: ClassVar[str] = "my_stretch"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("amount",)  # strength 0: amount 0
    limits: ClassVar[dict] = {"amount": (0.0, 1.0, ")")}
    changes_scale: ClassVar[bool] = True  # a size label must know

    def matrices(self, seed, n, height, width, strength):
        u = augment.signed_unit(seed, n, strength)  # in [-1, 1], from the seed
        # forward matrices about the image centre; the runner moves every label with them
        return geometry.zoom(1.0 / (1.0 + self.amount * u), tf.ones([n]))
