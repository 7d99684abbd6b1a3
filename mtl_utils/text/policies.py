"""Text policies: :func:`shared`, :func:`per_task` and :func:`naive` EDA views, with the
image policies' interface (:class:`~mtl_utils.policy.Policy`), checks and errors.

Introduced in notebook 09.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_utils.policy import (
    Policy,
    PolicyRun,
    check_invariance,
    check_seed,
    check_task_names,
    check_views,
    split_seed,
)
from mtl_utils.tasks import Task, task_dict
from mtl_utils.text.grammar import SYNONYMS, VOCABULARY
from mtl_utils.text.ops import DEFAULT_RATE, TEXT_OPS, TextOp, compact, make_text_ops
from mtl_utils.text.vocabulary import SynonymTable, check_vocabulary


def as_text_tasks(tasks: Any) -> dict[str, Task]:
    """Tasks as ``{name: Task}``; every ``not_invariant_to`` name must be a text op.

    Raises:
        ValueError: no task, or a ``not_invariant_to`` name that is not a text op.

    Introduced in notebook 09.
    """
    out = task_dict([tasks] if isinstance(tasks, Task) else tasks)
    if not out:
        raise ValueError("a text policy needs at least one Task (got none).")
    for t in out.values():
        unknown = sorted(set(t.not_invariant_to) - set(TEXT_OPS))
        if unknown:
            raise ValueError(f"Task {t.name!r} declares not_invariant_to={unknown}, which are "
                             f"not text ops ({', '.join(TEXT_OPS)}); is it an image task?")
    return out


def depends_on(tasks: Mapping[str, Task]) -> frozenset[str]:
    """Every word some task's label depends on (what a respectful policy protects).

    Introduced in notebook 09.
    """
    return frozenset().union(*(t.depends_on for t in tasks.values()))


def check_tokens(tokens: Any) -> tf.Tensor:
    """A batch of token ids as ``(B, L)`` int32 with a known ``L``.

    Raises:
        TypeError / ValueError: non-integer ids or another shape, with the fix.

    Introduced in notebook 09.
    """
    t = tf.convert_to_tensor(tokens)
    if not t.dtype.is_integer:
        raise TypeError(f"text policies take token ids (B, L) of integers; got dtype "
                        f"{t.dtype.name}. Turn strings into ids with text.vectorize(...) or a "
                        "text.vectorizer() layer.")
    if t.shape.rank != 2 or t.shape[1] is None:
        raise ValueError(f"text policies take a batch of token ids (B, L) with a known L; got "
                         f"shape {t.shape}. Batch the dataset first (to_dataset does).")
    return tf.cast(t, tf.int32)


def _protected_lookup(vocabulary: Sequence[str], words: Iterable[str]) -> np.ndarray:
    """``(V,)`` booleans by id: the protected words."""
    words = set(words)
    return np.array([w in words for w in vocabulary], bool)


def _protect_mask(tokens: tf.Tensor, lookup: np.ndarray) -> tf.Tensor:
    """Which tokens are protected (``lookup`` by id; padding and ids outside the vocabulary
    never are)."""
    if not lookup.any():  # nothing protected (naive policies): no lookup to make
        return tf.zeros_like(tokens, tf.bool)
    padded = np.append(lookup, False)  # id V: every id outside the vocabulary
    padded[0] = False
    return tf.gather(tf.constant(padded), tf.clip_by_value(tokens, 0, len(lookup)))


@dataclass(frozen=True)
class TextTransformation:
    """What a text policy drew for one view of a batch: which op each review went through.

    Attributes:
        ops: the view's ops, by name.
        op: ``(B,)`` int32, the index in ``ops`` of each review's op (-1: none, an empty
            policy).

    Introduced in notebook 09.
    """

    ops: tuple[str, ...]
    op: tf.Tensor


def run_text_ops(ops: Sequence[TextOp], tokens: tf.Tensor, lookup: np.ndarray,
                 table: SynonymTable, seed: tf.Tensor) -> tuple[tf.Tensor, TextTransformation]:
    """One op per review, drawn uniformly from ``ops`` (EDA gives each augmented sentence
    one op); ``lookup`` marks the protected ids. Each op runs on its own reviews only.

    Returns:
        ``(tokens, transformation)``.

    Introduced in notebook 09.
    """
    names = tuple(op.name for op in ops)
    if not ops:
        return tokens, TextTransformation(names, tf.fill(tf.shape(tokens)[:1], -1))
    # words first, then padding (a no-op for vectorized text, whose padding is at the end)
    gap = tf.reduce_any((tokens[:, 1:] != 0) & (tokens[:, :-1] == 0))
    tokens = tf.cond(gap, lambda: compact(tokens, tokens != 0), lambda: tokens)
    protect = _protect_mask(tokens, lookup)
    syn = table.tensors()
    s_choice, *seeds = split_seed(seed, len(ops) + 1)
    if len(ops) == 1:
        return (ops[0].apply(tokens, protect, syn, seeds[0]),
                TextTransformation(names, tf.zeros(tf.shape(tokens)[:1], tf.int32)))
    choice = tf.random.stateless_uniform(tf.shape(tokens)[:1], s_choice, minval=0,
                                         maxval=len(ops), dtype=tf.int32)
    rows = tf.dynamic_partition(tf.range(tf.shape(tokens)[0]), choice, len(ops))
    parts = zip(tf.dynamic_partition(tokens, choice, len(ops)),
                tf.dynamic_partition(protect, choice, len(ops)))
    outs = [op.apply(x, p, syn, s) for op, (x, p), s in zip(ops, parts, seeds)]
    return (tf.ensure_shape(tf.dynamic_stitch(rows, outs), tokens.shape),
            TextTransformation(names, choice))


class TextPolicy(Policy):
    """Base class of the text policies: checks a batch of token ids and its labels (they
    pass unchanged).

    Introduced in notebook 09.
    """

    def __init__(self, tasks: Any) -> None:
        super().__init__(as_text_tasks(tasks))

    def check_batch(self, inputs, labels):
        """``(B, L)`` int32 token ids; labels must be exactly the policy's tasks.

        Raises:
            TypeError / ValueError: non-integer or non-2-D tokens, labels that are not the
                policy's tasks.
        """
        tokens = check_tokens(inputs)
        if labels is None:
            return tokens, {}
        if set(labels) != set(self.tasks):
            raise ValueError(f"labels have tasks {sorted(labels)} but the policy was built for "
                             f"{sorted(self.tasks)}; build it with the tasks being trained.")
        return tokens, dict(labels)


class TextSharedPolicy(TextPolicy):
    """One view for all tasks: each review gets one op drawn uniformly from ``ops`` (``[]``
    is the identity). Unless ``naive``, every task's ``depends_on`` words are protected and
    an op some task declares in ``not_invariant_to`` is refused.

    Raises:
        ValueError: an unknown op, a bad rate, or (unless ``naive``) an op a task is not
            invariant to, naming the task, the op and the fixes.

    Introduced in notebook 09.
    """

    def __init__(self, ops: Iterable[TextOp | str] | TextOp | str, tasks: Any, *,
                 rate: float = DEFAULT_RATE, naive: bool = False,
                 vocabulary: Sequence[str] | None = None,
                 synonyms: Mapping[str, Sequence[str]] | None = None) -> None:
        super().__init__(tasks)
        self.vocabulary = check_vocabulary(vocabulary)
        self.synonyms = SYNONYMS if synonyms is None else synonyms
        self.table = SynonymTable.build(self.vocabulary, self.synonyms)
        self.ops = make_text_ops(ops, rate, "text policy")
        self.naive = bool(naive)
        if not self.naive:
            for op in self.ops:
                check_invariance(op.name, self.tasks)
        self.protected: frozenset[str] = frozenset() if self.naive else depends_on(self.tasks)
        self._lookup = _protected_lookup(self.vocabulary, self.protected)

    def __repr__(self) -> str:
        ops = ", ".join(repr(o) for o in self.ops) or "identity"
        extra = ", naive=True" if self.naive else f", protects {len(self.protected)} words"
        return (f"TextSharedPolicy([{ops}], tasks={list(self.tasks)}{extra}, "
                f"vocabulary={len(self.vocabulary)} words, "
                f"synonyms={self.table.fingerprint()})")

    def call(self, inputs, labels, seed):
        tokens, transform = run_text_ops(self.ops, inputs, self._lookup, self.table, seed)
        return PolicyRun(tokens, dict(labels), {}, transform)


class TextPerTaskPolicy(TextPolicy):
    """A view per task: ``views[t]`` (a :class:`TextSharedPolicy` for ``t`` alone) augments
    what task ``t`` sees. Returns ``({task: tokens}, labels)``: one model input per task.

    Raises:
        ValueError: a task without a view, a view for an unknown task, or a view built for
            other tasks.

    Introduced in notebook 09.
    """

    views_per_task = True  # a model fed by it takes one input per task

    def __init__(self, views: Mapping[str, TextSharedPolicy], tasks: Any) -> None:
        super().__init__(tasks)
        check_views(views, self.tasks, TextSharedPolicy, "text policy")
        self.views = {t: views[t] for t in self.tasks}

    def __repr__(self) -> str:
        return "TextPerTaskPolicy(" + "; ".join(f"{t}: {v!r}" for t, v in self.views.items()) + ")"

    def call(self, inputs, labels, seed):
        xs, ts = {}, {}
        for s, (name, view) in zip(split_seed(seed, len(self.views)), self.views.items()):
            xs[name], _, _, ts[name] = view.call(inputs, {}, s)
        return PolicyRun(xs, dict(labels), {}, ts)


def shared(ops: Iterable[TextOp | str] | TextOp | str, tasks: Any, *,
           rate: float = DEFAULT_RATE, naive: bool = False,
           vocabulary: Sequence[str] | None = None,
           synonyms: Mapping[str, Sequence[str]] | None = None) -> TextSharedPolicy:
    """One EDA view for all tasks (a :class:`TextSharedPolicy`), e.g.
    ``shared(["synonym", "swap", "delete"], tasks)``.

    Raises:
        ValueError: as :class:`TextSharedPolicy`.

    Introduced in notebook 09.
    """
    return TextSharedPolicy(ops, tasks, rate=rate, naive=naive, vocabulary=vocabulary,
                            synonyms=synonyms)


def naive(ops: Iterable[TextOp | str] | TextOp | str, tasks: Any, *,
          rate: float = DEFAULT_RATE, vocabulary: Sequence[str] | None = None,
          synonyms: Mapping[str, Sequence[str]] | None = None) -> TextSharedPolicy:
    """Plain EDA, blind to the tasks: ``shared(ops, tasks, naive=True)`` (no protected
    words, nothing refused).

    Raises:
        ValueError: an unknown op or a bad rate.

    Introduced in notebook 09.
    """
    return shared(ops, tasks, rate=rate, naive=True, vocabulary=vocabulary, synonyms=synonyms)


def per_task(ops_by_task: Mapping[str, Iterable[TextOp | str] | TextSharedPolicy], tasks: Any,
             *, default: Iterable[TextOp | str] = (), rate: float = DEFAULT_RATE,
             naive: bool = False, vocabulary: Sequence[str] | None = None,
             synonyms: Mapping[str, Sequence[str]] | None = None) -> TextPerTaskPolicy:
    """A view per task (a :class:`TextPerTaskPolicy`), e.g.
    ``per_task({"topic": TEXT_OPS, "sentiment": ["synonym"]}, tasks)``.

    ``ops_by_task`` maps a task to its ops (checked against, and protecting, that task only)
    or to a policy for it; tasks missing from it get ``default``.

    Raises:
        ValueError: an unknown task name, or any :func:`shared` error for a view.

    Introduced in notebook 09.
    """
    all_tasks = as_text_tasks(tasks)
    check_task_names(ops_by_task, all_tasks, "per_task got ops for")
    views = {}
    for name, task in all_tasks.items():
        spec = ops_by_task.get(name, default)
        views[name] = spec if isinstance(spec, TextPolicy) else TextSharedPolicy(
            spec, [task], rate=rate, naive=naive, vocabulary=vocabulary, synonyms=synonyms)
    return TextPerTaskPolicy(views, all_tasks)


def augment_tokens(tokens: Any, ops: Iterable[TextOp | str] | TextOp | str, *,
                   protected: Iterable[str] = (), rate: float = DEFAULT_RATE, seed: int = 0,
                   vocabulary: Sequence[str] | None = None,
                   synonyms: Mapping[str, Sequence[str]] | None = None) -> np.ndarray:
    """EDA ops on ``(N, L)`` token ids outside a pipeline, with any ``protected`` words and no
    task checks; returns ``(N, L)`` int32.

    Args:
        ops: op objects or names; each review gets one, drawn uniformly.
        protected: words that ``swap`` and ``delete`` never move or drop.
        rate: EDA's ``alpha`` for ops given by name (op objects keep their own).
        seed: the same seed gives the same output.
        vocabulary: the words of the ids (default :data:`VOCABULARY`).
        synonyms: ``{word: [synonym, ...]}`` for ``synonym`` and ``insert`` (default
            :data:`SYNONYMS`).

    Raises:
        ValueError / TypeError: an unknown op, a bad rate, or tokens that are not ``(N, L)``
            integers.

    Introduced in notebook 09.
    """
    vocab = tuple(VOCABULARY if vocabulary is None else vocabulary)
    ops = make_text_ops(ops, rate, "augment_tokens")
    table = SynonymTable.build(vocab, SYNONYMS if synonyms is None else synonyms)
    x = check_tokens(np.asarray(tokens))
    out, _ = run_text_ops(ops, x, _protected_lookup(vocab, protected), table,
                          check_seed(int(seed)))
    return out.numpy()


