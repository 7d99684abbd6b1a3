"""What each augmentation op does to each task's label: the table behind notebook 00's
question "which transforms keep which labels valid?".

Introduced in notebook 00.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
import tensorflow as tf

from mtl_utils.augment.core import OP_CLASSES, Op, op_names
from mtl_utils.augment.policies import make_op, op_at, shared
from mtl_utils.tasks import Task, task_dict


def label_effect(task: Task, op: str | Op) -> str:
    """What ``op`` (a name or an op object) does to ``task``'s label.

    Returns one of ``"kept"`` (still valid as it is), ``"moved"``/``"warped"``/``"turned"``/
    ``"scaled"``/``"remapped"`` (valid once transformed with the image, which
    :mod:`mtl_utils.augment` does), ``"mixed"`` (soft label), ``"breaks"`` (the task declares
    it is not invariant to ``op``) or ``"refused"`` (mixing is undefined for this kind).

    Raises:
        ValueError: an unknown op name.

    Introduced in notebook 00.
    """
    op = OP_CLASSES.lookup(op, "label_effect")() if isinstance(op, str) else make_op(op)
    return "breaks" if op.name in task.not_invariant_to else op.label_effect(task)


def label_effects(tasks: Iterable[Task] | Mapping[str, Task],
                  ops: Sequence[str] | None = None) -> pd.DataFrame:
    """A table of :func:`label_effect`: one row per op, one column per task.

    Introduced in notebook 00.
    """
    tasks = task_dict(tasks)
    ops = list(ops) if ops is not None else [o for o in op_names() if o != "identity"]
    table = pd.DataFrame({name: [label_effect(t, op) for op in ops]
                          for name, t in tasks.items()}, index=pd.Index(ops, name="op"))
    table.insert(0, "group", [OP_CLASSES[o].stage for o in ops])
    return table


def label_damage(images: Any, labels: Mapping[str, Any], tasks: Iterable[Task] | Mapping[str, Task],
                 oracle: Callable[[np.ndarray, Mapping[str, np.ndarray]], Mapping[str, Any]],
                 ops: Sequence[str], magnitudes: Sequence[float] = (2, 5, 10),
                 seed: int = 0) -> pd.DataFrame:
    """How often each op, at each magnitude, changes a label that the image itself defines.

    ``oracle(images, labels)`` re-derives labels from pixels (e.g.
    :func:`mtl_utils.data.object_color`); each op is applied at each magnitude
    (:func:`~mtl_utils.augment.op_at`) by a shared policy over ``tasks``, and the damage is
    the fraction of examples whose re-derived label changed.

    Args:
        oracle: ``(images, labels) -> {name: (N,) derived labels}``.
        ops, magnitudes: op names and RandAugment magnitudes (0-10).

    Returns:
        One row per ``(op, magnitude)``, one column per derived label: the damaged fraction.

    Introduced in notebook 00.
    """
    images = np.asarray(images, np.float32)
    labels = {k: np.asarray(v) for k, v in labels.items()}
    before = {k: np.asarray(v) for k, v in oracle(images, labels).items()}
    rows = []
    for op in ops:
        for m in magnitudes:
            x, y = shared([op_at(op, m)], tasks)(images, labels, tf.constant([0, seed]))
            after = oracle(x.numpy(), {k: np.asarray(v) for k, v in y.items()})
            rows.append({"op": op, "magnitude": m,
                         **{k: float(np.mean(np.asarray(after[k]) != before[k]))
                            for k in before}})
    return pd.DataFrame(rows).set_index(["op", "magnitude"])
