"""Solutions to notebook 09's checked exercises (``mtl_utils.exercises.nb09``).

Each ``# ---- qN`` section is what ``nb09.qN.solution()`` prints; ``make test`` runs this file
through the checkers (tests/test_exercises.py).
"""

from mtl_utils.tasks import Task
from mtl_utils.text import grammar

# ---- q1: protected words for "a positive review about electronics"
# The label reads the topic (which domain has the most domain words) and the sentiment (the
# evaluative words, negators, modifiers and contrast words): protect both. An inserted word
# can still push a negator out of reach, which no protection prevents: declare insert.
electronics = frozenset(w for w, role in grammar.WORD_ROLES.items()
                        if role == "domain:electronics")
praise_task = Task("praise", "class", num_classes=2,
                   depends_on=electronics | grammar.SENTIMENT_WORDS,
                   not_invariant_to={"insert"})
