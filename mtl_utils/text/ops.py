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

import numpy as np
import tensorflow as tf

from mtl_utils.policy import split_seed
from mtl_utils.registry import Registry
from mtl_utils.tasks import Task
from mtl_utils.text.vocabulary import SynonymTensors

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

    def apply(self, tokens: tf.Tensor, protect: tf.Tensor, table: SynonymTensors,
              seed: tf.Tensor) -> tf.Tensor:
        """The op on ``(B, L)`` int32 ids (words first, then padding), never deleting or
        moving ``protect``ed positions; ``table`` holds the synonyms
        (:class:`~mtl_utils.text.SynonymTensors`)."""
        raise NotImplementedError

    def label_effect(self, task: Task) -> str:
        """What the op does to ``task``'s label, beyond ``not_invariant_to``: ``"kept (its
        words stay)"`` for an op that moves or deletes words when the task depends on some
        (a respectful policy protects them), else ``"kept"``."""
        return "kept (its words stay)" if self.moves_words and task.depends_on else "kept"


def _lengths(tokens: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(tf.cast(tokens != 0, tf.int32), axis=1)


#: What a text op receives as ``table``: :class:`~mtl_utils.text.SynonymTensors`.
Table = SynonymTensors


def _uniform(shape: Any, seed: tf.Tensor) -> tf.Tensor:
    return tf.random.stateless_uniform(shape, seed)


def _count_before(mask: tf.Tensor, inclusive: bool = False) -> tf.Tensor:
    """Per row, how many ``mask`` positions come before each position (a cumulative sum,
    as a product with a triangular matrix: exact for these small counts, and several times
    faster than ``tf.cumsum`` on a CPU)."""
    length = mask.shape[1]
    tri = np.triu(np.ones((length, length), np.float32), 0 if inclusive else 1)
    return tf.cast(tf.matmul(tf.cast(mask, tf.float32), tf.constant(tri)), tf.int32)


def _nth_largest(keys: tf.Tensor, n: tf.Tensor, k: int) -> tf.Tensor:
    """``(B, 1)``: each row's ``n``-th largest key (``n >= 1``; ``k >= n`` bounds it)."""
    top = tf.math.top_k(keys, k=k).values
    return tf.gather(top, tf.maximum(n - 1, 0)[:, None], batch_dims=1)


class SynonymReplacement(TextOp):
    """EDA's synonym replacement: ``n`` random words that have synonyms become one of them
    (protected ones too: the bundled synonyms keep labels).

    Introduced in notebook 09.
    """

    name = "synonym"

    def apply(self, tokens, protect, table, seed):
        s_pick, s_syn = split_seed(seed, 2)
        length, steps = tokens.shape[1], self.steps(tokens.shape[1])
        ids = table.ids(tokens)
        counts = tf.gather(table.padded_counts, ids)
        # the n positions with synonyms and the largest random keys (keys of the others -1)
        keys = tf.where(counts > 0, _uniform(tf.shape(tokens), s_pick), -1.0)
        u = _uniform(tf.shape(tokens), s_syn)
        n = self.count(_lengths(tokens))
        top = tf.math.top_k(keys, k=min(steps + 1, length))
        threshold = tf.maximum(
            tf.gather(top.values, tf.maximum(n - 1, 0)[:, None], batch_dims=1), 0.0)

        def everywhere():  # exact whatever ties the keys have
            return tf.where(keys >= threshold, table.pick(ids, counts, u), tokens)

        def at_the_top():  # the chosen positions are among the `steps` largest keys
            rows = tf.broadcast_to(tf.range(tf.shape(tokens)[0])[:, None],
                                   tf.shape(top.indices[:, :steps]))
            at = tf.stack([rows, top.indices[:, :steps]], axis=-1)
            new = table.pick(tf.gather_nd(ids, at), tf.gather_nd(counts, at),
                             tf.gather_nd(u, at))
            return tf.tensor_scatter_nd_update(
                tokens, at, tf.where(top.values[:, :steps] >= threshold, new,
                                     tf.gather_nd(tokens, at)))

        if top.values.shape[1] <= steps:  # every position is among them
            return at_the_top()
        # keys tied at the threshold beyond the `steps` largest: rare, and handled exactly
        ties = tf.reduce_any(top.values[:, steps:] >= threshold)
        return tf.cond(ties, everywhere, at_the_top)


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
        ids = table.ids(tokens)
        has = tf.gather(table.padded_counts, ids) > 0
        # the words to insert: synonyms of `steps` random source words per review
        src = tf.argmax(tf.where(has[:, None], _uniform(tf.stack([batch, steps, length]),
                                                        s_src), -1.0),
                        axis=2, output_type=tf.int32)
        src = tf.gather(ids, src, batch_dims=1)
        words = table.pick(src, tf.gather(table.padded_counts, src),
                           _uniform(tf.stack([batch, steps]), s_syn))
        n = tf.where(tf.reduce_any(has, axis=1),
                     tf.minimum(self.count(lengths), length - lengths), 0)
        # where they go: n random slots of the first lengths + n output positions
        pos = tf.range(length)[None, :]
        keys = tf.where(pos < (lengths + n)[:, None], _uniform(tf.shape(tokens), s_slot), -1.0)
        threshold = tf.where((n > 0)[:, None], tf.maximum(_nth_largest(keys, n, steps), 0.0),
                             2.0)  # above every key: no slot where nothing goes in
        new = keys >= threshold
        before = _count_before(new)
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
        ok = ((tf.range(k)[None, :] < self.count(_lengths(tokens))[:, None])
              & (top.values[:, 1:2 * k:2] >= 0))  # (B, k) pairs to swap
        # the pairs' tokens trade places (all 2k positions differ; a pair not swapped
        # writes its own tokens back)
        rows = tf.broadcast_to(tf.range(tf.shape(tokens)[0])[:, None], tf.shape(ok))
        at_a = tf.stack([rows, top.indices[:, 0:2 * k:2]], axis=-1)
        at_b = tf.stack([rows, top.indices[:, 1:2 * k:2]], axis=-1)
        a, b = tf.gather_nd(tokens, at_a), tf.gather_nd(tokens, at_b)
        return tf.tensor_scatter_nd_update(tokens, tf.concat([at_a, at_b], axis=1),
                                           tf.concat([tf.where(ok, b, a), tf.where(ok, a, b)],
                                                     axis=1))


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
    """The kept tokens of each row first, in order, then zeros: output ``j`` reads the
    ``j + 1``-th kept token, found by a binary search of the running count of kept tokens.

    Introduced in notebook 09.
    """
    length = tokens.shape[1]
    kept = _count_before(keep, inclusive=True)  # (B, L), non-decreasing along each row
    j = tf.range(length)
    source = tf.searchsorted(kept, tf.broadcast_to(j + 1, tf.shape(tokens)), side="left")
    out = tf.gather(tokens, tf.minimum(source, length - 1), batch_dims=1)
    return tf.where(j[None, :] < kept[:, -1:], out, 0)


class TextOpNames(Sequence[str]):
    """The registered text op names, read from :data:`TEXT_OP_CLASSES` on every use.

    Introduced in notebook 09.
    """

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

    Introduced in notebook 09.
    """
    rate = _rate(rate, where)
    return tuple(make_text_op(o, rate) for o in ([ops] if isinstance(ops, (str, TextOp))
                                                 else ops))


