"""What text ops do to labels: declared (:func:`label_effects`) and measured with the
labeler (:func:`label_damage`, :func:`side_by_side`).

Introduced in notebook 09.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from mtl_utils.tasks import Task, task_dict
from mtl_utils.text.grammar import review_tasks
from mtl_utils.text.labeler import label_tokens
from mtl_utils.text.ops import TEXT_OPS, make_text_op
from mtl_utils.text.policies import augment_tokens, depends_on
from mtl_utils.text.vocabulary import decode


def _labels_before(tokens: Any, tasks: Iterable[Task] | Mapping[str, Task] | None,
                   vocabulary: Sequence[str] | None
                   ) -> tuple[dict[str, Task], frozenset[str], dict[str, np.ndarray], list[str]]:
    """(tasks, the words they depend on, labels of ``tokens``, the tasks those labels cover)."""
    tasks = task_dict(review_tasks() if tasks is None else tasks)
    before = label_tokens(tokens, vocabulary)
    return tasks, depends_on(tasks), before, [t for t in tasks if t in before]


def label_effects(tasks: Iterable[Task] | Mapping[str, Task], ops: Sequence[str] = TEXT_OPS
                  ) -> pd.DataFrame:
    """What each task *declares* about each op (rows) per task (columns): ``"breaks"``,
    ``"kept (its words stay)"`` (a respectful policy protects its words) or ``"kept"``.

    Raises:
        ValueError: an unknown op name.

    Introduced in notebook 09.
    """
    tasks = task_dict(tasks)
    ops = [make_text_op(o) for o in ops]
    return pd.DataFrame({n: ["breaks" if op.name in t.not_invariant_to else op.label_effect(t)
                             for op in ops] for n, t in tasks.items()},
                        index=pd.Index([op.name for op in ops], name="op"))


def label_damage(tokens: Any, tasks: Iterable[Task] | Mapping[str, Task] | None = None,
                 ops: Sequence[str] = TEXT_OPS, rates: Sequence[float] = (0.1, 0.2, 0.3), *,
                 seed: int = 0, vocabulary: Sequence[str] | None = None) -> pd.DataFrame:
    """How often each op, at each rate, changes a label, re-derived by :func:`label_tokens`,
    ``naive`` and ``protected`` (every task's ``depends_on`` words kept, as in :func:`shared`).

    Returns:
        Rows ``(op, task)``, columns ``(policy, rate)``: percent of labels changed.

    Introduced in notebook 09.
    """
    tasks, protected, before, names = _labels_before(tokens, tasks, vocabulary)
    out = {}
    for mode, words in (("naive", frozenset()), ("protected", protected)):
        for rate in rates:
            col = []
            for op in ops:
                after = label_tokens(augment_tokens(tokens, [op], protected=words, rate=rate,
                                                    seed=seed, vocabulary=vocabulary),
                                     vocabulary)
                col += [100.0 * float(np.mean(after[t] != before[t])) for t in names]
            out[(mode, rate)] = col
    index = pd.MultiIndex.from_product([list(ops), names], names=["op", "task"])
    table = pd.DataFrame(out, index=index)
    table.columns = pd.MultiIndex.from_tuples(table.columns, names=["policy", "rate"])
    return table


def side_by_side(tokens: Any, tasks: Iterable[Task] | Mapping[str, Task] | None = None,
                 ops: Sequence[str] = TEXT_OPS, *, rate: float = 0.2, seed: int = 0,
                 max_words: int = 14, vocabulary: Sequence[str] | None = None
                 ) -> pd.DataFrame:
    """One short review per op, before and after it, naive and protected, with the labels
    :func:`label_tokens` gives each (``old -> new`` where one changed): the first review of at
    most ``max_words`` words whose label the naive op changed, if any.

    Returns:
        Columns ``op, version, text`` and one per task.

    Introduced in notebook 09.
    """
    ids = np.asarray(tokens)
    short = ids[(ids != 0).sum(axis=1) <= max_words]
    tasks, protected, before, names = _labels_before(short, tasks, vocabulary)

    def show(task: str, old: int, new: int) -> str:
        def cls(i: int) -> str:
            return tasks[task].class_names[i] if i >= 0 else "(none)"
        return cls(old) if old == new else f"{cls(old)} -> {cls(new)}"

    rows = []
    for op in ops:
        kw = dict(rate=rate, seed=seed, vocabulary=vocabulary)
        versions = {"naive": augment_tokens(short, [op], **kw),
                    "protected": augment_tokens(short, [op], protected=protected, **kw)}
        after = {k: label_tokens(v, vocabulary) for k, v in versions.items()}
        changed = np.flatnonzero(np.any([after["naive"][t] != before[t] for t in names], 0))
        i = int(changed[0]) if len(changed) else 0
        rows.append({"op": op, "version": "original", "text": decode(short[i], vocabulary)[0],
                     **{t: show(t, before[t][i], before[t][i]) for t in names}})
        for k, v in versions.items():
            rows.append({"op": op, "version": k, "text": decode(v[i], vocabulary)[0],
                         **{t: show(t, before[t][i], after[k][t][i]) for t in names}})
    return pd.DataFrame(rows)
