"""The labeler: the grammar's rules applied to any token sequence, so what an op does to a
label is computed, not assumed (:func:`label_tokens`).

Introduced in notebook 09.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from mtl_utils.text.grammar import (
    MAX_LENGTH,
    SCOPE,
    TOPICS,
    VOCABULARY,
    WORD_ROLES,
    segment_decision,
)
from mtl_utils.text.vocabulary import vectorize


@dataclass(frozen=True)
class Lexicon:
    """What each token id of a vocabulary means to the labeler (arrays indexed by id):
    ``domain`` (topic index or -1), ``polarity`` (+1, -1, 0), ``negator``, ``modifier`` (2
    intensifier, 0.5 diminisher, else 0) and ``contrast`` (1 "but"-type, 2 "although"-type)."""

    vocabulary: tuple[str, ...]
    domain: np.ndarray
    polarity: np.ndarray
    negator: np.ndarray
    modifier: np.ndarray
    contrast: np.ndarray


_LEXICONS: dict[tuple[str, ...], Lexicon] = {}


def lexicon(vocabulary: Sequence[str] | None = None) -> Lexicon:
    """The :class:`Lexicon` of ``vocabulary`` (default :data:`VOCABULARY`), cached; words
    outside the grammar mean nothing.

    Introduced in notebook 09.
    """
    vocab = VOCABULARY if vocabulary is None else tuple(vocabulary)
    if vocab not in _LEXICONS:
        roles = [WORD_ROLES.get(w, "") for w in vocab]
        _LEXICONS[vocab] = Lexicon(
            vocab,
            np.array([TOPICS.index(r[7:]) if r.startswith("domain:") else -1 for r in roles]),
            np.array([1 if r == "positive" else -1 if r == "negative" else 0 for r in roles]),
            np.array([r == "negator" for r in roles]),
            np.array([2.0 if r == "intensifier" else 0.5 if r == "diminisher" else 0.0
                      for r in roles]),
            np.array([1 if r == "contrast_after" else 2 if r == "contrast_before" else 0
                      for r in roles]))
    return _LEXICONS[vocab]


def _label_one(ids: Sequence[int], lex: Lexicon) -> tuple[int, int]:
    """(topic, sentiment) of one token sequence; -1 where the words do not decide it."""
    n_vocab = len(lex.vocabulary)
    counts = np.zeros(len(TOPICS), int)
    first = {}
    terms: list[tuple[int, float]] = []  # (segment, value) per evaluative word
    markers: list[int] = []
    negator_at = modifier_at = -1
    weight = 1.0
    for pos, t in enumerate(ids):
        if not 0 < t < n_vocab:
            continue
        d = lex.domain[t]
        if d >= 0:
            counts[d] += 1
            first.setdefault(d, pos)
        if lex.contrast[t]:
            markers.append(int(lex.contrast[t]))
            negator_at = modifier_at = -1
        elif lex.negator[t]:
            negator_at = pos
        elif lex.modifier[t]:
            modifier_at, weight = pos, float(lex.modifier[t])
        elif lex.polarity[t]:
            v = float(lex.polarity[t])
            if negator_at >= 0 and pos - negator_at <= SCOPE:
                v = -v
            if modifier_at >= 0 and pos - modifier_at <= SCOPE:
                v *= weight
            negator_at = modifier_at = -1
            terms.append((len(markers), v))
    topic = -1
    if counts.max() > 0:
        tied = np.flatnonzero(counts == counts.max())
        topic = int(min(tied, key=lambda d: first[d]))
    scores: list[list[float]] = [[] for _ in range(len(markers) + 1)]
    for seg, v in terms:
        scores[seg].append(v)
    sentiment = int(segment_decision(scores, markers) > 0) if terms else -1
    return topic, sentiment


def label_tokens(tokens: Any, vocabulary: Sequence[str] | None = None) -> dict[str, np.ndarray]:
    """Re-derive ``topic`` and ``sentiment`` from token ids with the grammar's rules.

    ``topic``: the domain with the most domain words (ties: the first mentioned).
    ``sentiment``: the sum of the evaluative words, each flipped by a negator and scaled by
    an intensifier or diminisher at most :data:`SCOPE` words before it, with contrast words
    discounting one side (a zero sum goes to the last evaluative word), as in
    :func:`generate_reviews`. Ids outside ``vocabulary`` are ignored.

    Returns:
        ``{"topic": (N,) int32, "sentiment": (N,) int32}``; ``-1`` where no word decides the
        label (every domain word or every evaluative word is gone).

    Raises:
        ValueError: ``tokens`` that are not a 2-D array of integers.

    Introduced in notebook 09.
    """
    ids = np.asarray(tokens)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"label_tokens needs token ids (N, L) of integers; got shape "
                         f"{ids.shape}, dtype {ids.dtype}. Turn strings into ids with "
                         "vectorize(...).")
    lex = lexicon(vocabulary)
    out = np.array([_label_one(row.tolist(), lex) for row in ids], np.int32).reshape(-1, 2)
    return {"topic": out[:, 0], "sentiment": out[:, 1]}


def label_texts(texts: Sequence[str], max_length: int = MAX_LENGTH) -> dict[str, np.ndarray]:
    """:func:`label_tokens` of review strings (vectorized with the grammar's vocabulary).

    Introduced in notebook 09.
    """
    return label_tokens(vectorize(texts, max_length=max_length))


def label_table(texts: Sequence[str], max_length: int = MAX_LENGTH) -> pd.DataFrame:
    """Review strings with the labels :func:`label_texts` gives them, by class name.

    Returns:
        Columns ``text``, ``topic``, ``sentiment`` (``(none)`` where no word decides).

    Introduced in notebook 09.
    """
    y = label_texts(texts, max_length)
    names = {"topic": TOPICS, "sentiment": ("negative", "positive")}
    return pd.DataFrame({"text": list(texts), **{
        k: [names[k][i] if i >= 0 else "(none)" for i in v] for k, v in y.items()}})


