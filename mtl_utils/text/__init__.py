"""Text augmentation for a multi-task model: generated reviews whose meaning is known, EDA on ids.

Shaped like :mod:`mtl_utils.augment`:

* :mod:`~mtl_utils.text.grammar` (the lexicon, the tasks, the sentiment rule) and
  :mod:`~mtl_utils.text.reviews` (:func:`generate_reviews`, :func:`make_reviews`);
* :mod:`~mtl_utils.text.labeler`: :func:`label_tokens` re-derives both labels from any token
  sequence, so what an op does to a label is computed;
* :mod:`~mtl_utils.text.vocabulary`: :func:`vectorizer`, :func:`decode`, synonym tables;
* :mod:`~mtl_utils.text.ops`: EDA (Wei & Zou 2019) on ``(B, L)`` token ids (``0`` padding at
  the end) inside ``tf.data``, vectorized over the batch; a new op is one :class:`TextOp`
  class, registered in :data:`TEXT_OP_CLASSES` (a :class:`~mtl_utils.registry.Registry`, as
  image ops are);
* :mod:`~mtl_utils.text.policies`: :func:`shared`, :func:`per_task` and :func:`naive`, with
  the :class:`~mtl_utils.policy.Policy` interface of the image policies and their checks;
* :mod:`~mtl_utils.text.effects`: :func:`label_effects`, :func:`label_damage`,
  :func:`side_by_side`.

Introduced in notebook 09.
"""

from mtl_utils.text.effects import label_damage, label_effects, side_by_side
from mtl_utils.text.grammar import (
    ARRIVED,
    BOUGHT,
    CONTRAST_AFTER,
    CONTRAST_BEFORE,
    DIMINISHERS,
    DISPLAY,
    DOMAIN_WORDS,
    DOMAINS,
    FUNCTION_WORDS,
    GENERIC_SUBJECTS,
    GIFT,
    HAPPY,
    HATE,
    INTENSIFIERS,
    LOVE,
    MAX_LENGTH,
    NEGATIVE,
    NEGATORS,
    NEUTRAL_GROUPS,
    NUMBERS,
    OOV,
    PAD,
    PLACES,
    PLURALS,
    POSITIVE,
    PROBLEMS,
    RELATIVES,
    ROLE_GROUPS,
    SCOPE,
    SENTIMENT_WORDS,
    SYNONYMS,
    TOPICS,
    UNHAPPY,
    UNITS,
    USED,
    VOCABULARY,
    WEEK,
    WORD_ROLES,
    review_tasks,
    segment_decision,
)
from mtl_utils.text.labeler import Lexicon, label_table, label_texts, label_tokens, lexicon
from mtl_utils.text.ops import (
    DEFAULT_RATE,
    TEXT_OP_CLASSES,
    TEXT_OPS,
    RandomDeletion,
    RandomInsertion,
    RandomSwap,
    SynonymReplacement,
    Table,
    TextOp,
    compact,
    distinct_ranks,
    make_text_op,
    make_text_ops,
    rank_positions,
    write_at,
)
from mtl_utils.text.policies import (
    TextPerTaskPolicy,
    TextPolicy,
    TextSharedPolicy,
    TextTransformation,
    augment_tokens,
    check_tokens,
    naive,
    per_task,
    run_text_ops,
    shared,
)
from mtl_utils.text.reviews import (
    CLAUSE_WEIGHTS,
    N_TEST,
    N_VAL,
    OPENERS,
    ZIPF,
    generate_reviews,
    make_reviews,
)
from mtl_utils.text.vocabulary import (
    SynonymTable,
    check_vocabulary,
    decode,
    string_model,
    synonym_table,
    vectorize,
    vectorizer,
)

__all__ = [
    "ARRIVED", "BOUGHT", "CLAUSE_WEIGHTS", "CONTRAST_AFTER", "CONTRAST_BEFORE", "DEFAULT_RATE",
    "DIMINISHERS", "DISPLAY", "DOMAINS", "DOMAIN_WORDS", "FUNCTION_WORDS", "GENERIC_SUBJECTS",
    "GIFT", "HAPPY", "HATE", "INTENSIFIERS", "LOVE", "MAX_LENGTH", "NEGATIVE", "NEGATORS",
    "NEUTRAL_GROUPS", "NUMBERS", "N_TEST", "N_VAL", "OOV", "OPENERS", "PAD", "PLACES",
    "PLURALS", "POSITIVE", "PROBLEMS", "RELATIVES", "ROLE_GROUPS", "SCOPE", "SENTIMENT_WORDS",
    "SYNONYMS", "TEXT_OPS", "TEXT_OP_CLASSES", "TOPICS", "UNHAPPY", "UNITS", "USED",
    "VOCABULARY", "WEEK", "WORD_ROLES", "ZIPF",
    "Lexicon", "RandomDeletion", "RandomInsertion", "RandomSwap", "SynonymReplacement",
    "SynonymTable", "Table", "TextOp", "TextPerTaskPolicy", "TextPolicy", "TextSharedPolicy",
    "TextTransformation",
    "augment_tokens", "check_tokens", "check_vocabulary", "compact", "decode",
    "distinct_ranks",
    "generate_reviews", "label_damage", "label_effects", "label_table", "label_texts",
    "label_tokens", "lexicon", "make_reviews", "make_text_op", "make_text_ops", "naive",
    "per_task", "rank_positions", "review_tasks", "run_text_ops", "segment_decision", "shared",
    "side_by_side", "string_model", "synonym_table", "vectorize", "vectorizer", "write_at",
]
