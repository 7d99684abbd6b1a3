"""EDA ops on batches of token ids (Wei & Zou 2019): synonym replacement, random insertion,
swap and deletion, vectorized over the batch inside ``tf.data``.

Defining a :class:`TextOp` subclass with a ``name`` registers it in
:data:`TEXT_OP_CLASSES` (the same :class:`~mtl_utils.registry.Registry` as image ops): a new
text op is one class.

Introduced in notebook 09.
"""

from __future__ import annotations

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
        """The most changes any review of length ``max_length`` gets (a static loop bound),
        in :meth:`count`'s float32 arithmetic."""
        return max(1, int(np.floor(np.float32(self.rate) * np.float32(max_length))))

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


def _below(u: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
    """An integer uniform in ``[0, n)`` from ``u`` uniform in ``[0, 1)`` (never ``n``, however
    float32 rounds ``u * n``; -1 where ``n`` is 0)."""
    return tf.minimum(tf.cast(u * tf.cast(n, tf.float32), tf.int32), n - 1)


def _count_before(mask: tf.Tensor, inclusive: bool = False) -> tf.Tensor:
    """Per row, how many ``mask`` positions come before each position (a cumulative sum,
    as a product with a triangular matrix: exact for these small counts, and several times
    faster than ``tf.cumsum`` on a CPU)."""
    length = mask.shape[1]
    tri = np.triu(np.ones((length, length), np.float32), 0 if inclusive else 1)
    return tf.cast(tf.matmul(tf.cast(mask, tf.float32), tf.constant(tri)), tf.int32)


def distinct_ranks(count: tf.Tensor, m: tf.Tensor, k: int, seed: tf.Tensor) -> tf.Tensor:
    """``(B, k)`` int32: per row, ``m`` distinct ranks drawn uniformly from ``[0, count)``
    (Floyd's algorithm, ``m <= min(k, count)``), -1 in the other columns. Draws ``k``
    numbers per row, not one per position.

    Introduced in notebook 09.
    """
    u = _uniform(tf.stack([tf.shape(count)[0], k]), seed)
    # Floyd: step i draws t in [0, j], j = count - k + i, and takes j if t is taken; only
    # the last m steps of a row count (j >= count - m)
    j = count[:, None] - k + tf.range(k)[None, :]
    t = _below(u, j + 1)
    t = tf.where(j >= (count - m)[:, None], t, -1)
    draws, lasts = tf.split(t, k, axis=1), tf.split(j, k, axis=1)
    cols = [draws[0]]
    for i in range(1, k):
        taken = tf.reduce_any(tf.concat(cols, axis=1) == draws[i], axis=1, keepdims=True)
        cols.append(tf.where(taken & (draws[i] >= 0), lasts[i], draws[i]))
    return tf.concat(cols, axis=1)


def rank_positions(eligible: tf.Tensor, ranks: tf.Tensor) -> tf.Tensor:
    """The position of the ``ranks``-th ``eligible`` position of each row (rank 0 is the
    first); ranks outside ``[0, count)`` give some position in ``[0, L)``.

    Introduced in notebook 09.
    """
    counted = _count_before(eligible, inclusive=True)
    return tf.clip_by_value(tf.searchsorted(counted, ranks + 1), 0, eligible.shape[1] - 1)


def write_at(tokens: tf.Tensor, at: tf.Tensor, words: tf.Tensor, where: tf.Tensor
             ) -> tf.Tensor:
    """``tokens`` with ``words`` written at positions ``at`` (both ``(B, k)``) where the
    ``(B, k)`` booleans ``where`` hold (no position twice): one scatter of only those.

    Introduced in notebook 09.
    """
    rows = tf.broadcast_to(tf.range(tf.shape(at)[0])[:, None], tf.shape(at))
    return tf.tensor_scatter_nd_update(tokens, tf.boolean_mask(tf.stack([rows, at], -1), where),
                                       tf.boolean_mask(words, where))


class SynonymReplacement(TextOp):
    """EDA's synonym replacement: ``n`` random words that have synonyms become one of them
    (protected ones too: the bundled synonyms keep labels).

    Introduced in notebook 09.
    """

    name = "synonym"

    def apply(self, tokens, protect, table, seed):
        s_pick, s_syn = split_seed(seed, 2)
        steps = self.steps(tokens.shape[1])
        ids = table.ids(tokens)
        has = tf.gather(table.padded_counts, ids) > 0
        have = tf.reduce_sum(tf.cast(has, tf.int32), axis=1)
        ranks = distinct_ranks(have, tf.minimum(self.count(_lengths(tokens)), have), steps,
                               s_pick)
        at = rank_positions(has, ranks)
        old = tf.gather(ids, at, batch_dims=1)
        new = table.pick(old, tf.gather(table.padded_counts, old),
                         _uniform(tf.shape(at), s_syn))
        return write_at(tokens, at, new, ranks >= 0)


class RandomInsertion(TextOp):
    """EDA's random insertion, ``n`` times: a synonym of a random word of the review (one
    that has synonyms) goes in before a random word of the review, which shifts right with
    the words after it, as in EDA's code; fewer insertions if the review would grow past
    ``L``. The source words are the review's own (EDA's code may also draw on a word it
    inserted before).

    Introduced in notebook 09.
    """

    name = "insert"

    def apply(self, tokens, protect, table, seed):
        length, steps = tokens.shape[1], self.steps(tokens.shape[1])
        shape = tf.stack([tf.shape(tokens)[0], steps])
        u_src, u_syn, u_slot = (_uniform(shape, s) for s in split_seed(seed, 3))
        lengths = _lengths(tokens)
        ids = table.ids(tokens)
        has = tf.gather(table.padded_counts, ids) > 0
        have = tf.reduce_sum(tf.cast(has, tf.int32), axis=1, keepdims=True)
        n = tf.where(have[:, 0] > 0, tf.minimum(self.count(lengths), length - lengths), 0)
        # insertion k: a synonym of the r-th word with synonyms, r uniform in [0, have)
        r = _below(u_src, have)
        src = tf.gather(ids, rank_positions(has, r), batch_dims=1)
        words = table.pick(src, tf.gather(table.padded_counts, src), u_syn)
        # ... before word number s, s uniform in [0, lengths + k - 1]; none past n
        last = tf.maximum(lengths[:, None] + tf.range(steps)[None, :] - 1, 0)
        slots = _below(u_slot, last + 1)
        slots = tf.where(tf.range(steps)[None, :] < n[:, None], slots, length)
        pos = tf.range(length)[None, :]
        out = tokens
        for k in range(steps):
            at = slots[:, k:k + 1]
            shifted = tf.pad(out[:, :-1], [[0, 0], [1, 0]])
            out = tf.where(pos < at, out, tf.where(pos == at, words[:, k:k + 1], shifted))
        return out


class RandomSwap(TextOp):
    """EDA's random swap, ``n`` times: two random unprotected words of the review trade
    places (a later swap may move a word an earlier one moved, as in EDA's code).

    Introduced in notebook 09.
    """

    name = "swap"
    moves_words = True

    def apply(self, tokens, protect, table, seed):
        steps = self.steps(tokens.shape[1])
        eligible = (tokens != 0) & ~protect
        have = tf.reduce_sum(tf.cast(eligible, tf.int32), axis=1, keepdims=True)
        n = tf.where(have >= 2, self.count(_lengths(tokens))[:, None], 0)
        # swap i: rank a uniform in [0, have), rank b uniform in [0, have) other than a
        u = _uniform(tf.stack([tf.shape(tokens)[0], 2 * steps]), seed)
        a, b = _below(u[:, 0::2], have), _below(u[:, 1::2], have - 1)
        b += tf.cast(b >= a, tf.int32)
        at = rank_positions(eligible, tf.reshape(tf.stack([a, b], axis=2), [-1, 2 * steps]))
        # the words at those 2 * steps positions, kept current as the swaps go: swap i
        # writes b's word where a column holds a's position, and a's where it holds b's
        same = at[:, :, None] == at[:, None, :]  # (B, 2 steps, 2 steps): same position
        go = (tf.range(steps)[None, :] < n)[:, :, None]
        to_a = tf.unstack(same[:, 0::2, :] & go, axis=1)
        to_b = tf.unstack(same[:, 1::2, :] & go, axis=1)
        words = tf.gather(tokens, at, batch_dims=1)
        for i in range(steps):
            wa, wb = words[:, 2 * i:2 * i + 1], words[:, 2 * i + 1:2 * i + 2]
            words = tf.where(to_a[i], wb, tf.where(to_b[i], wa, words))
        # each position swapped is written once, from the first column that holds it
        earlier = np.tril(np.ones((2 * steps, 2 * steps), bool), -1)[None]
        first = ~tf.reduce_any(same & earlier, axis=2)
        swapped = tf.repeat(tf.range(steps)[None, :] < n, 2, axis=1)
        return write_at(tokens, at, words, first & swapped)


class RandomDeletion(TextOp):
    """EDA's random deletion: each unprotected word is dropped with probability ``rate``
    (one random word stays if every word would go).

    Introduced in notebook 09.
    """

    name = "delete"
    moves_words = True

    def apply(self, tokens, protect, table, seed):
        u = _uniform(tf.shape(tokens), seed)
        valid = tokens != 0
        keep = valid & ((u >= self.rate) | protect)
        # where every word drew below the rate, the one that drew highest stays
        survivor = tf.argmax(tf.where(valid, u, -1.0), axis=1, output_type=tf.int32)
        none_left = ~tf.reduce_any(keep, axis=1) & tf.reduce_any(valid, axis=1)
        keep |= none_left[:, None] & (tf.range(tokens.shape[1])[None, :] == survivor[:, None])
        return compact(tokens, keep)


def compact(tokens: tf.Tensor, keep: tf.Tensor) -> tf.Tensor:
    """The kept tokens of each row first, in order, then zeros (``tf.boolean_mask`` to a
    ragged batch, padded back to ``(B, L)``).

    Introduced in notebook 09.
    """
    kept = tf.RaggedTensor.from_row_lengths(
        tf.boolean_mask(tokens, keep), tf.reduce_sum(tf.cast(keep, tf.int64), axis=1),
        validate=False)
    return kept.to_tensor(0, shape=tf.shape(tokens, out_type=tf.int64))


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


