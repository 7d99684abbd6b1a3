"""Task specs: the one place that says what a task's label is and how it is learned.

A :class:`Task` names a label and its *kind* (:mod:`mtl_utils.kinds`); heads, losses,
metrics, augmentation and plots all read it, and it asks its kind for each.

Introduced in notebook 00.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd

from .kinds import HEAD_POOLS, LabelKind, get_kind


@dataclass(frozen=True)
class Task:
    """One prediction target of a multi-task model.

    Args:
        name: label key and Keras output name; a Python identifier.
        kind: a label kind's name (:data:`mtl_utils.kinds.LABEL_KINDS`).
        num_classes, class_names: class tasks only (at least 2 classes; one name each).
        not_invariant_to: augmentation op names that would make this label wrong; policies
            refuse them unless built with ``naive=True``.
        flip_class_map: class tasks: the class each class becomes under a horizontal flip.
        scale_equivariant: scalar tasks: the physical quantity scales with zoom (a size).
        value_range: scalar tasks: physical ``(lo, hi)``, ``label = (x - lo) / (hi - lo)``.
        metric_scale: factor turning the primary error metric into ``unit`` (pixels).
        depends_on: words a text label depends on, which label-respecting text policies
            never delete or move (notebook 09).
        head_pool: the head's pooling: ``"max"`` for labels that do not depend on where the
            object is, ``"flatten"`` for labels tied to a place; ``None``: the kind's default.

    Raises:
        ValueError: unknown kind, bad name, or fields that do not fit the kind.

    Introduced in notebook 00.
    """

    name: str
    kind: str
    num_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    not_invariant_to: frozenset[str] = field(default_factory=frozenset)
    flip_class_map: tuple[int, ...] | None = None
    scale_equivariant: bool = False
    value_range: tuple[float, float] = (0.0, 1.0)
    metric_scale: float = 1.0
    unit: str = ""
    depends_on: frozenset[str] = field(default_factory=frozenset)
    head_pool: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(f"Task name {self.name!r} is not a Python identifier; use letters, "
                             "digits and underscores (it becomes a Keras output name).")
        object.__setattr__(self, "not_invariant_to", frozenset(self.not_invariant_to))
        object.__setattr__(self, "depends_on", frozenset(self.depends_on))
        self.label_kind.validate(self)
        if self.head_pool is not None and self.head_pool not in HEAD_POOLS:
            raise ValueError(f"Task {self.name!r}: unknown head_pool {self.head_pool!r}; "
                             f"choose one of {', '.join(HEAD_POOLS)} or None.")
        lo, hi = self.value_range
        if not hi > lo:
            raise ValueError(f"Task {self.name!r}: value_range {self.value_range} needs hi > lo.")

    # ----------------------------------------------------------------- properties
    @property
    def label_kind(self) -> LabelKind:
        """The :class:`~mtl_utils.kinds.LabelKind` that knows how this label behaves."""
        return get_kind(self.kind)

    @property
    def metric(self) -> str:
        """Name of the primary metric (``"accuracy"``, ``"error"`` or ``"iou"``)."""
        return self.label_kind.metric

    @property
    def metric_key(self) -> str:
        """Key of the primary metric in Keras logs, e.g. ``"shape_accuracy"``."""
        return f"{self.name}_{self.metric}"

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger primary metric is better (accuracy, IoU) or worse (errors)."""
        return self.label_kind.higher_is_better

    @property
    def display_scale(self) -> tuple[float, str]:
        """``(factor, unit)`` for showing the primary metric: accuracy and IoU in ``"%"``,
        errors in their ``unit``."""
        return (100.0, "%") if self.metric in ("accuracy", "iou") else (1.0, self.unit)

    @property
    def pool(self) -> str:
        """The head's pooling: ``head_pool`` if set, else the kind's default."""
        return self.head_pool or self.label_kind.pool

    @property
    def output_units(self) -> int:
        """Width of the head's last layer."""
        return self.label_kind.output_units(self)

    @property
    def output_activation(self) -> str:
        """Activation of the head's last layer."""
        return self.label_kind.activation

    def label_shape(self, image_shape: Sequence[int]) -> tuple[int, ...]:
        """Per-example label shape for images of shape ``(H, W, C)``."""
        return self.label_kind.label_shape(self, image_shape)

    def label_dtype(self) -> str:
        """Label dtype (``"int32"`` for classes, ``"float32"`` otherwise)."""
        return self.label_kind.dtype

    def loss(self):
        """The Keras loss function for this task (a plain callable)."""
        return self.label_kind.loss(self)

    def metrics(self) -> list:
        """Fresh Keras metric objects; the first is the primary metric."""
        return self.label_kind.metrics(self)

    def constant_baseline(self, train_labels: np.ndarray, labels: np.ndarray) -> float:
        """The primary metric on ``labels`` of the best constant prediction fitted on
        ``train_labels`` (majority class, mean value, circular mean angle...).

        Introduced in notebook 01.
        """
        return self.label_kind.constant_baseline(self, np.asarray(train_labels), np.asarray(labels))

    def higher_is_better_for(self, metric: str) -> bool:
        """Whether a higher value is better for any logged metric of this task.

        Raises:
            ValueError: a metric name with no known direction.
        """
        if metric == self.metric:
            return self.higher_is_better
        if metric in ("accuracy", "iou"):
            return True
        if metric in ("error", "loss", "mae", "mse"):
            return False
        raise ValueError(f"unknown direction for metric {metric!r} of task {self.name!r}.")

    def describe(self) -> str:
        """One line for tables: name, kind, and what the metric means."""
        unit = f" ({self.unit})" if self.unit else ""
        direction = "higher" if self.higher_is_better else "lower"
        extra = f", {self.num_classes} classes" if self.kind == "class" else ""
        return f"{self.name}: {self.kind}{extra}; metric {self.metric}{unit}, {direction} is better"

    # --------------------------------------------------------------- serialisation
    def get_config(self) -> dict[str, Any]:
        """Every field as plain JSON values; ``Task.from_config`` reverses it."""
        out: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            out[f.name] = (sorted(v) if isinstance(v, frozenset) else
                           list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Task:
        """The task described by :meth:`get_config`."""
        cfg = dict(config)
        for key in ("class_names", "flip_class_map", "value_range"):
            if cfg.get(key) is not None:
                cfg[key] = tuple(cfg[key])
        return cls(**cfg)  # __post_init__ turns the word lists into frozensets


def task_table(tasks: Iterable[Task] | Mapping[str, Task]):
    """A pandas table of tasks: kind, classes, metric, direction, ops not invariant to.

    Introduced in notebook 00.
    """
    return pd.DataFrame([{"task": t.name, "kind": t.kind, "classes": t.num_classes or "",
                          "metric": t.metric + (f" ({t.unit})" if t.unit else ""),
                          "better": "higher" if t.higher_is_better else "lower",
                          "not invariant to": ", ".join(sorted(t.not_invariant_to)) or "-"}
                         for t in task_dict(tasks).values()]).set_index("task")


# ------------------------------------------------------------------- lookup, checks
def task_dict(tasks: Iterable[Task] | Mapping[str, Task]) -> dict[str, Task]:
    """Tasks as an ordered ``{name: Task}`` dict; rejects duplicate names."""
    out: dict[str, Task] = {}
    for t in tasks.values() if isinstance(tasks, Mapping) else tasks:
        if not isinstance(t, Task):
            raise TypeError(f"expected Task objects, got {type(t).__name__}: {t!r}")
        if t.name in out:
            raise ValueError(f"two tasks are named {t.name!r}; task names must be unique.")
        out[t.name] = t
    return out


def select_tasks(tasks: Iterable[Task] | Mapping[str, Task],
                 names: Sequence[str] | str | None) -> dict[str, Task]:
    """Pick tasks by name, in the order given; ``None`` keeps all.

    Raises:
        KeyError: a name that is not a task, with the known names listed.

    Introduced in notebook 01.
    """
    all_tasks = task_dict(tasks)
    if names is None:
        return all_tasks
    if isinstance(names, str):
        names = [names]
    unknown = [n for n in names if n not in all_tasks]
    if unknown:
        raise KeyError(f"unknown task {unknown[0]!r}; this data has tasks {list(all_tasks)}. "
                       "Check the TASKS parameter's spelling.")
    return {n: all_tasks[n] for n in names}


def validate_labels(tasks: Iterable[Task] | Mapping[str, Task], images: np.ndarray,
                    labels: Mapping[str, np.ndarray]) -> None:
    """Check that ``labels`` has every task, with one label of the right shape per image.

    Raises:
        ValueError: wrong image rank, a task missing from ``labels``, or a label whose
            shape does not match its task's kind.
    """
    images_shape = tuple(np.shape(images))
    if len(images_shape) not in (2, 4):
        raise ValueError(f"images must be a 4-D batch (N, H, W, C) (or token ids (N, L)); got "
                         f"shape {images_shape}. Add a channel axis with images[..., None] or a "
                         "batch axis with images[None].")
    for name, task in task_dict(tasks).items():
        if name not in labels:
            raise ValueError(f"labels are missing task {name!r} (have {sorted(labels)}); pass "
                             "a label array for every task, or select fewer tasks.")
        want = (images_shape[0], *task.label_shape(images_shape[1:]))
        got = tuple(np.shape(labels[name]))
        if got != want:
            raise ValueError(f"label {name!r} ({task.kind}) has shape {got}; expected {want} "
                             f"for images of shape {images_shape}.")
