"""EDA ops on batches of token ids (Wei & Zou 2019): synonym replacement, random insertion,
swap and deletion, vectorized over the batch inside ``tf.data``.

Defining a :class:`TextOp` subclass with a ``name`` registers it in
:data:`TEXT_OP_CLASSES` (the same :class:`~mtl_utils.registry.Registry` as image ops): a new
text op is one class.

Introduced in notebook 09.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, ClassVar

import tensorflow as tf

from mtl_utils.policy import split_seed
from mtl_utils.registry import Registry
from mtl_utils.tasks import Task

DEFAULT_RATE = 0.1  # EDA's recommended alpha


def _rate(rate: Any, where: str) -> float:
    if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not 0 < rate < 1:
        raise ValueError(f"{where}: rate must be a number in (0, 1), the fraction of a "
                         f"review's words the op changes (EDA's alpha; {DEFAULT_RATE} is "
                         f"EDA's recommendation); got {rate!r}.")
    return float(rate)


#: Every text op class by name, filled in as :class:`TextOp` subclasses are defined.
TEXT_OP_CLASSES: Registry[type[TextOp]] = Registry("text op", "mtl_utils.text.TEXT_OP_CLASSES")


class TextOp:
    """Base class of the EDA ops on batches of token ids; a subclass with a ``name``
    registers itself. A review of length ``l`` gets ``max(1, floor(rate * l))`` changes;
    ops that move or delete words (``moves_words``) leave protected positions in place.

    Args:
        rate: EDA's ``alpha`` in ``(0, 1)`` (:class:`RandomDeletion` drops each word with
            this probability instead).

    Raises:
        ValueError: a rate outside ``(0, 1)``; a name another text op class has
            (``TEXT_OP_CLASSES.unregister(name)`` first).

    Introduced in notebook 09.
    """

    name: ClassVar[str] = ""
    moves_words: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.name:
            TEXT_OP_CLASSES.register(cls.name, cls)

    def __init__(self, rate: float = DEFAULT_RATE) -> None:
        self.rate = _rate(rate, type(self).__name__)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rate={self.rate:g})"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.rate == other.rate  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self).__name__, self.rate))

    def count(self, lengths: tf.Tensor) -> tf.Tensor:
        """Changes per review: ``max(1, floor(rate * length))``, 0 for an empty review."""
        n = tf.cast(tf.floor(self.rate * tf.cast(lengths, tf.float32)), tf.int32)
        return tf.where(lengths > 0, tf.maximum(n, 1), 0)

    def steps(self, max_length: int) -> int:
        """The most changes any review of length ``max_length`` gets (a static loop bound)."""
        return max(1, int(math.floor(self.rate * max_length)))

    def apply(self, tokens: tf.Tensor, protect: tf.Tensor, table: tuple[tf.Tensor, tf.Tensor],
              seed: tf.Tensor) -> tf.Tensor:
        """The op on ``(B, L)`` int32 ids (words first, then padding), never deleting or
        moving ``protect``ed positions; ``table`` is :meth:`SynonymTable.tensors`."""
        raise NotImplementedError

    def label_effect(self, task: Task) -> str:
        """What the op does to ``task``'s label, beyond ``not_invariant_to``: ``"kept (its
        words stay)"`` for an op that moves or deletes words when the task depends on some
        (a respectful policy protects them), else ``"kept"``."""
        return "kept (its words stay)" if self.moves_words and task.depends_on else "kept"


def _lengths(tokens: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(tokens != 0, tf.int32), axis=1)


Table = tuple[tf.Tensor, tf.Tensor, tf.Tensor]


def _synonym_counts(tokens: tf.Tensor, table: Table) -> tuple[tf.Tensor, tf.Tensor]:
    """``(offsets, counts)`` of every token's synonyms (ids outside the vocabulary: none)."""
    _, offsets, counts = table
    known = (tokens > 0) & (tokens < tf.shape(counts)[0])
    safe = tf.where(known, tokens, 0)
    return tf.gather(offsets, safe), tf.where(known, tf.gather(counts, safe), 0)


def _pick_synonym(table: Table, offsets: tf.Tensor, counts: tf.Tensor, u: tf.Tensor
                  ) -> tf.Tensor:
    """Synonym number ``floor(u * count)`` (``u`` uniform in [0, 1)); 0 where none."""
    flat = table[0]
    k = tf.minimum(tf.cast(u * tf.cast(counts, tf.float32), tf.int32),
                   tf.maximum(counts - 1, 0))
    at = tf.minimum(offsets + k, tf.shape(flat)[0] - 1)
    return tf.where(counts > 0, tf.gather(flat, at), 0)


def _uniform(shape: Any, seed: tf.Tensor) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed)


class SynonymReplacement(TextOp):
    """EDA's synonym replacement: ``n`` random words that have synonyms become one of them
    (protected ones too: the bundled synonyms keep labels).

    Introduced in notebook 09.
    """

    name = "synonym"

    def apply(self, tokens, protect, table, seed):
        s_pick, s_syn = split_seed(seed, 2)
        offsets, counts = _synonym_counts(tokens, table)
        # the n eligible positions with the largest random keys: keys at or above the n-th
        keys = tf.where(counts > 0, _uniform(tf.shape(tokens), s_pick), -1.0)
        top = tf.math.top_k(keys, k=self.steps(tokens.shape[1])).values
        n = self.count(_lengths(tokens))
        threshold = tf.gather(top, tf.maximum(n - 1, 0)[:, None], batch_dims=1)
        chosen = (counts > 0) & (keys >= threshold) & (n > 0)[:, None]
        new = _pick_synonym(table, offsets, counts, _uniform(tf.shape(tokens), s_syn))
        return tf.where(chosen, new, tokens)


class RandomInsertion(TextOp):
    """EDA's random insertion: ``n`` synonyms of random words of the review go in at random
    positions, all at once (fewer if the review would grow past ``L``); words after shift.

    Introduced in notebook 09.
    """

    name = "insert"

    def apply(self, tokens, protect, table, seed):
        length, steps = tokens.shape[1], self.steps(tokens.shape[1])
        batch = tf.shape(tokens)[0]
        s_src, s_syn, s_slot = split_seed(seed, 3)
        lengths = _lengths(tokens)
        offsets, counts = _synonym_counts(tokens, table)
        has = counts > 0
        # the words to insert: synonyms of `steps` random source words per review
        src = tf.argmax(tf.where(has[:, None], _uniform(tf.stack([batch, steps, length]),
                                                        s_src), -1.0),
                        axis=2, output_type=tf.int32)
        words = _pick_synonym(table, tf.gather(offsets, src, batch_dims=1),
                              tf.gather(counts, src, batch_dims=1),
                              _uniform(tf.stack([batch, steps]), s_syn))
        n = tf.where(tf.reduce_any(has, axis=1),
                     tf.minimum(self.count(lengths), length - lengths), 0)
        # where they go: n random slots of the first lengths + n output positions
        pos = tf.range(length)[None, :]
        keys = tf.where(pos < (lengths + n)[:, None], _uniform(tf.shape(tokens), s_slot), -1.0)
        top = tf.math.top_k(keys, k=steps).values
        threshold = tf.gather(top, tf.maximum(n - 1, 0)[:, None], batch_dims=1)
        new = (keys >= threshold) & (n > 0)[:, None] & (keys >= 0)
        before = tf.cumsum(tf.cast(new, tf.int32), axis=1, exclusive=True)
        inserted = tf.gather(words, tf.minimum(before, steps - 1), batch_dims=1)
        kept = tf.gather(tokens, tf.maximum(pos - before, 0), batch_dims=1)
        return tf.where(new, inserted, kept)


class RandomSwap(TextOp):
    """EDA's random swap: ``n`` disjoint pairs of unprotected words trade places.

    Introduced in notebook 09.
    """

    name = "swap"
    moves_words = True

    def apply(self, tokens, protect, table, seed):
        length, steps = tokens.shape[1], self.steps(tokens.shape[1])
        eligible = (tokens != 0) & ~protect
        keys = tf.where(eligible, _uniform(tf.shape(tokens), seed), -1.0)
        top = tf.math.top_k(keys, k=min(2 * steps, length))
        k = top.indices.shape[1] // 2
        first, second = top.indices[:, 0:2 * k:2], top.indices[:, 1:2 * k:2]
        ok = ((tf.range(k)[None, :] < self.count(_lengths(tokens))[:, None])
              & (top.values[:, 1:2 * k:2] >= 0))  # (B, k) pairs to swap
        # the permutation: position first[p] reads second[p] and the other way round
        pos = tf.range(length)[None, None, :]
        hit_a = (pos == first[:, :, None]) & ok[:, :, None]
        hit_b = (pos == second[:, :, None]) & ok[:, :, None]
        source = (tf.reduce_sum(tf.where(hit_a, second[:, :, None], 0), axis=1)
                  + tf.reduce_sum(tf.where(hit_b, first[:, :, None], 0), axis=1))
        moved = tf.reduce_any(hit_a | hit_b, axis=1)
        return tf.gather(tokens, tf.where(moved, source, pos[0]), batch_dims=1)


class RandomDeletion(TextOp):
    """EDA's random deletion: each unprotected word is dropped with probability ``rate``
    (one random word stays if every word would go).

    Introduced in notebook 09.
    """

    name = "delete"
    moves_words = True

    def apply(self, tokens, protect, table, seed):
        s_drop, s_keep = split_seed(seed, 2)
        valid = tokens != 0
        keep = valid & ~((_uniform(tf.shape(tokens), s_drop) < self.rate) & ~protect)
        survivor = tf.argmax(tf.where(valid, _uniform(tf.shape(tokens), s_keep), -1.0), axis=1,
                             output_type=tf.int32)
        none_left = ~tf.reduce_any(keep, axis=1) & tf.reduce_any(valid, axis=1)
        keep |= none_left[:, None] & (tf.range(tokens.shape[1])[None, :] == survivor[:, None])
        return compact(tokens, keep)


def compact(tokens: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
    """The kept tokens of each row first, in order, then zeros (a scatter: kept token ``j``
    goes to the number of kept tokens before it; the others to a spare last column)."""
    length = tokens.shape[1]
    target = tf.where(keep, tf.cumsum(tf.cast(keep, tf.int32), axis=1, exclusive=True), length)
    rows = tf.broadcast_to(tf.range(tf.shape(tokens)[0])[:, None], tf.shape(tokens))
    out = tf.scatter_nd(tf.stack([rows, target], axis=-1), tf.where(keep, tokens, 0),
                        tf.stack([tf.shape(tokens)[0], length + 1]))
    return out[:, :length]


class TextOpNames(Sequence[str]):
    """The registered text op names, read from :data:`TEXT_OP_CLASSES` on every use."""

    def __getitem__(self, i):
        return tuple(TEXT_OP_CLASSES)[i]

    def __len__(self) -> int:
        return len(TEXT_OP_CLASSES)

    def __iter__(self) -> Iterator[str]:
        return iter(tuple(TEXT_OP_CLASSES))

    def __contains__(self, name: object) -> bool:
        return name in TEXT_OP_CLASSES

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and tuple(self) == tuple(other)

    __hash__ = None  # type: ignore[assignment]  # it changes with the registry

    def __repr__(self) -> str:
        return repr(tuple(TEXT_OP_CLASSES))


#: The EDA op names, read from the op classes' registry whenever used.
TEXT_OPS: TextOpNames = TextOpNames()


def make_text_op(spec: TextOp | str, rate: float = DEFAULT_RATE) -> TextOp:
    """A :class:`TextOp` from an instance or a name (at ``rate``).

    Raises:
        ValueError: an unknown op name (the known names listed) or a bad rate.
        TypeError: neither a name nor an op.

    Introduced in notebook 09.
    """
    if isinstance(spec, TextOp):
        return spec
    if isinstance(spec, str):
        return TEXT_OP_CLASSES.lookup(spec, "text policy")(rate)
    raise TypeError(f"a text op must be a name ({', '.join(TEXT_OPS)}) or a TextOp such as "
                    f"RandomSwap(0.2); got {type(spec).__name__}: {spec!r}.")


def make_text_ops(ops: Iterable[TextOp | str] | TextOp | str, rate: float, where: str
                  ) -> tuple[TextOp, ...]:
    """One op or a list of them (names at ``rate``, checked for ``where``) as op objects.

    Raises:
        ValueError / TypeError: as :func:`make_text_op`, or a bad rate.
    """
    rate = _rate(rate, where)
    return tuple(make_text_op(o, rate) for o in ([ops] if isinstance(ops, (str, TextOp))
                                                 else ops))


