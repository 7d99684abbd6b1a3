"""Vocabulary: strings to token ids and back (Keras ``TextVectorization`` with the grammar's
fixed vocabulary), and synonym tables over a vocabulary's ids.

Introduced in notebook 09.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import keras
import numpy as np
import tensorflow as tf

from mtl_utils.data import check_count
from mtl_utils.text.grammar import MAX_LENGTH, OOV, PAD, SYNONYMS, VOCABULARY


def vectorizer(vocabulary: Sequence[str] | None = None, max_length: int = MAX_LENGTH
               ) -> keras.layers.TextVectorization:
    """A Keras ``TextVectorization`` layer with a fixed vocabulary: strings in, ``(B, L)``
    int token ids out (lowercased, punctuation stripped; ``0`` pads the end, ``1`` is unknown).

    Args:
        vocabulary: ids in order, starting with ``""`` and ``"[UNK]"`` (default
            :data:`VOCABULARY`; ``data.info["vocabulary"]`` for IMDB).

    Raises:
        ValueError: a vocabulary that does not start with the padding and unknown tokens,
            or a ``max_length`` below 1.

    Introduced in notebook 09.
    """
    vocab = check_vocabulary(vocabulary)
    return keras.layers.TextVectorization(
        standardize="lower_and_strip_punctuation", split="whitespace", output_mode="int",
        output_sequence_length=check_count("max_length", max_length), vocabulary=list(vocab[2:]))


def check_vocabulary(vocabulary: Sequence[str] | None) -> tuple[str, ...]:
    """``vocabulary`` (default :data:`VOCABULARY`) as a tuple, checked to start with the
    padding and unknown tokens.

    Raises:
        ValueError: a vocabulary that does not start with ``""`` and ``"[UNK]"``.

    Introduced in notebook 09.
    """
    vocab = tuple(VOCABULARY if vocabulary is None else vocabulary)
    if vocab[:2] != (PAD, OOV):
        raise ValueError(f"a vocabulary must start with {PAD!r} (padding, id 0) and {OOV!r} "
                         f"(unknown, id 1), as TextVectorization numbers them; got "
                         f"{list(vocab[:2])}.")
    return vocab


def vectorize(texts: Sequence[str], vocabulary: Sequence[str] | None = None,
              max_length: int = MAX_LENGTH) -> np.ndarray:
    """Token ids of ``texts`` through :func:`vectorizer`: ``(N, max_length)`` int32.

    Raises:
        ValueError: as :func:`vectorizer`.

    Introduced in notebook 09.
    """
    layer = vectorizer(vocabulary, max_length)
    if len(texts) == 0:
        return np.zeros((0, max_length), np.int32)
    return np.asarray(layer(tf.constant(list(texts))), np.int32)


def decode(tokens: Any, vocabulary: Sequence[str] | None = None) -> list[str]:
    """``(N, L)`` or ``(L,)`` token ids back to one string per row (padding dropped, ids
    outside the vocabulary shown as ``[UNK]``).

    Introduced in notebook 09.
    """
    vocab = VOCABULARY if vocabulary is None else tuple(vocabulary)
    ids = np.atleast_2d(np.asarray(tokens))
    return [" ".join(vocab[t] if 0 < t < len(vocab) else OOV for t in row if t != 0)
            for row in ids.tolist()]


def string_model(model: keras.Model, layer: keras.layers.TextVectorization) -> keras.Model:
    """``model`` with ``layer`` in front: a ``keras.Model`` taking a ``(B,)`` string tensor.

    Args:
        model: a model on token ids; one with an input per task (per-task views) gets the
            same ids in every input.
        layer: the :func:`vectorizer` whose ids the model was trained on.

    Introduced in notebook 09.
    """
    texts = keras.Input(shape=(), dtype="string", name="text")
    ids = layer(texts)
    inputs = model.input
    out = model({k: ids for k in inputs} if isinstance(inputs, dict) else ids)
    return keras.Model(texts, out, name=f"{model.name}_on_strings")


# ================================================================= synonyms over ids


class SynonymTensors(NamedTuple):
    """A :class:`SynonymTable` as constants for a traced pipeline (what text ops receive).

    Attributes:
        flat, offsets, counts: token ``t``'s synonyms are
            ``flat[offsets[t]:offsets[t] + counts[t]]`` (``t`` in the vocabulary).
        size: the vocabulary's size ``V``; ids are read through :meth:`ids`, which maps
            every id outside ``[0, V)`` to 0 or ``V``, ids with no synonyms.
        padded_counts: ``(V + 1,)`` synonym counts by such an id.
        padded_matrix: ``((V + 1) * width,)``: synonym ``j`` of id ``t`` at
            ``t * width + j`` (0 past its count).
        width: the most synonyms any word has (at least 1).

    Introduced in notebook 09.
    """

    flat: tf.Tensor
    offsets: tf.Tensor
    counts: tf.Tensor
    size: int
    padded_counts: tf.Tensor
    padded_matrix: tf.Tensor
    width: int

    def ids(self, tokens: tf.Tensor) -> tf.Tensor:
        """``tokens`` clipped to ``[0, V]``: ids outside the vocabulary have no synonyms."""
        return tf.clip_by_value(tokens, 0, self.size)

    def pick(self, ids: tf.Tensor, counts: tf.Tensor, u: tf.Tensor) -> tf.Tensor:
        """Synonym number ``floor(u * count)`` of each of ``ids`` (from :meth:`ids`, with
        their ``counts``; ``u`` uniform in ``[0, 1)``); 0 where an id has none."""
        k = tf.minimum(tf.cast(u * tf.cast(counts, tf.float32), tf.int32),
                       tf.maximum(counts - 1, 0))
        return tf.gather(self.padded_matrix, ids * self.width + k)


@dataclass(frozen=True)
class SynonymTable:
    """A synonym table over a vocabulary's ids, flat for ``tf.data``: token ``t``'s synonyms
    are ``flat[offsets[t]:offsets[t] + counts[t]]`` (int32 arrays).

    Introduced in notebook 09.
    """

    flat: np.ndarray
    offsets: np.ndarray
    counts: np.ndarray

    @classmethod
    def build(cls, vocabulary: Sequence[str], synonyms: Mapping[str, Sequence[str]]
              ) -> SynonymTable:
        """The table of ``synonyms`` (``{word: [synonym, ...]}``) restricted to
        ``vocabulary`` (synonyms outside it are dropped; padding and ``[UNK]`` have none)."""
        index = {w: i for i, w in enumerate(vocabulary)}
        rows = [[index[x] for x in synonyms.get(w, ()) if x in index and x != w] if i > 1
                else [] for i, w in enumerate(vocabulary)]
        counts = np.array([len(r) for r in rows], np.int32)
        offsets = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int32)
        flat = np.array([x for r in rows for x in r] or [0], np.int32)
        return cls(flat, offsets, counts)

    def tensors(self) -> SynonymTensors:
        """The table as :class:`SynonymTensors` (constants inside the traced pipeline)."""
        size = len(self.counts)
        width = max(1, int(self.counts.max(initial=0)))
        matrix = np.zeros((size + 1, width), np.int32)
        for t, (start, count) in enumerate(zip(self.offsets, self.counts)):
            matrix[t, :count] = self.flat[start:start + count]
        padded = np.append(self.counts, 0).astype(np.int32)
        return SynonymTensors(tf.constant(self.flat), tf.constant(self.offsets),
                              tf.constant(self.counts), size, tf.constant(padded),
                              tf.constant(matrix.ravel()), width)

    def fingerprint(self) -> str:
        """A short checksum of the table (part of a policy's description)."""
        return f"{zlib.crc32(self.flat.tobytes() + self.counts.tobytes()):08x}"


def synonym_table(vocabulary: Sequence[str] | None = None, source: str = "bundled"
                  ) -> dict[str, tuple[str, ...]]:
    """``{word: (synonym, ...)}`` for the words of ``vocabulary`` with synonyms in it.

    Args:
        vocabulary: the words (default :data:`VOCABULARY`).
        source: ``"bundled"`` (:data:`SYNONYMS`, label-preserving for the grammar) or
            ``"wordnet"`` (NLTK, general English, so it can change a label).

    Raises:
        ValueError: an unknown source.
        ImportError: ``source="wordnet"`` without NLTK or its WordNet corpus (the fix is
            in the message; the bundled table needs neither).

    Introduced in notebook 09.
    """
    vocab = VOCABULARY if vocabulary is None else tuple(vocabulary)
    words = set(vocab[2:])
    if source == "bundled":
        table = SYNONYMS
    elif source == "wordnet":
        try:
            from nltk.corpus import wordnet  # optional: only for this source

            wordnet.synsets("good")
        except (ImportError, LookupError) as err:
            raise ImportError(
                "synonym_table(source='wordnet') needs NLTK and its WordNet corpus: pip "
                "install nltk, then python -m nltk.downloader wordnet. The default "
                "source='bundled' needs neither.") from err
        table = {w: tuple(sorted({lemma.name().lower() for s in wordnet.synsets(w)
                                  for lemma in s.lemmas()} - {w})) for w in words}
    else:
        raise ValueError(f"unknown synonym source {source!r}; use 'bundled' or 'wordnet'.")
    out = {w: tuple(s for s in table.get(w, ()) if s in words) for w in vocab[2:]}
    return {w: s for w, s in out.items() if s}


