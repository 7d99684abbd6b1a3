"""Solutions to notebook 00's checked exercises (``mtl_utils.exercises.nb00``).

Each ``# ---- qN`` section is what ``nb00.qN.solution()`` prints; ``make test`` runs this file
through the checkers (tests/test_exercises.py).
"""

from mtl_utils.tasks import Task

# ---- q1: a Task for "is the object in the left half?"
# Rotations, quarter turns, translations and shears carry objects across the vertical
# midline (measured: they change the label); colour ops and a zoom about the centre never do.
# A left-right flip swaps the sides of every object: the label stays valid with its classes
# swapped.
left_task = Task("left", "class", num_classes=2, class_names=("right", "left"),
                 flip_class_map=(1, 0),
                 not_invariant_to={"rotate", "quarter_turn", "translate", "shear"})
