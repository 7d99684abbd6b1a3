"""Solutions to notebook 05's checked exercises (``mtl_utils.exercises.nb05``).

Each ``# ---- qN`` section is what ``nb05.qN.solution()`` prints; ``make test`` runs this file
through the checkers (tests/test_exercises.py).
"""

from mtl_utils import augment

# ---- q1: a view per task for the shortcut data
# shape needs colours that say nothing about shape; color declares the colour ops it cannot
# take, so only shape's view gets them. Both take the flip.
my_views = {"shape": ["hflip", augment.Hue(0.5), augment.Grayscale(0.5)],
            "color": ["hflip"]}
