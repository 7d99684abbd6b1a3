"""Task specs: the one place that says what a task's label is and how it is learned.

A :class:`Task` names a label and its *kind* (:mod:`mtl_utils.kinds`); heads, losses,
metrics, augmentation and plots all read it, and it asks its kind for each.

Introduced in notebook 00.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from .kinds import HEAD_POOLS, LABEL_KINDS, LabelKind, get_kind

#: The fields every Task has, whatever its kind (the kind's own come as keywords).
COMMON_FIELDS: tuple[str, ...] = ("name", "kind", "not_invariant_to", "metric_scale", "unit",
                                  "depends_on", "head_pool")


def _frozen(value: Any) -> Any:
    """A field value made hashable: lists become tuples, sets frozensets."""
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    if isinstance(value, (set, frozenset)):
        return frozenset(value)
    return value


def _own_fields(task: str, kind: LabelKind, given: Mapping[str, Any]
                ) -> tuple[tuple[str, Any], ...]:
    """The kind's fields ``given`` sets to other than their defaults, as sorted pairs.

    Raises:
        ValueError: a field of another kind set to other than its default.
        TypeError: a field no kind takes, or one that clashes with a Task attribute.
    """
    kept = {}
    for key, value in given.items():
        value = _frozen(value)
        if key in kind.fields:
            if hasattr(Task, key):
                raise TypeError(f"label kind {kind.name!r}: field {key!r} clashes with a Task "
                                "attribute; give the field another name.")
            if value != _frozen(kind.fields[key].default):
                kept[key] = value
            continue
        owners = [k for k in LABEL_KINDS.values() if key in k.fields]
        if not owners:
            raise TypeError(f"Task {task!r}: unknown field {key!r}; kind {kind.name!r} takes "
                            f"{sorted(kind.fields) or 'no fields of its own'}.")
        if any(value != _frozen(k.fields[key].default) for k in owners):
            raise ValueError(f"Task {task!r}: {key} is only for "
                             f"{'/'.join(k.name for k in owners)} tasks, not kind "
                             f"{kind.name!r}.")
    return tuple(sorted(kept.items()))


@dataclass(frozen=True, init=False)
class Task:
    """One prediction target of a multi-task model.

    Args:
        name: label key and Keras output name; a Python identifier.
        kind: a label kind's name (:data:`mtl_utils.kinds.LABEL_KINDS`).
        not_invariant_to: augmentation op names that would make this label wrong; policies
            refuse them unless built with ``naive=True``.
        metric_scale: factor turning the primary error metric into ``unit`` (pixels).
        unit: the unit of the task's error metric (``"px"``).
        depends_on: words a text label depends on, which label-respecting text policies
            never delete or move (notebook 09).
        head_pool: the head's pooling: ``"max"`` for labels that do not depend on where the
            object is, ``"flatten"`` for labels tied to a place; ``None``: the kind's default.
        **fields: the kind's own fields (its ``fields``), e.g. ``num_classes``,
            ``class_names`` and ``flip_class_map`` for class tasks, ``scale_equivariant``
            and ``value_range`` for scalar tasks; read back as attributes
            (``task.num_classes``), the kind's default where not set.

    Raises:
        ValueError: unknown kind, bad name, a field of another kind, or fields that do not
            fit the kind.
        TypeError: a field no label kind takes.

    Introduced in notebook 00.
    """

    name: str
    kind: str
    not_invariant_to: frozenset[str]
    metric_scale: float
    unit: str
    depends_on: frozenset[str]
    head_pool: str | None
    #: The kind's fields this task sets (to other than their defaults), as sorted pairs.
    options: tuple[tuple[str, Any], ...]

    def __init__(self, name: str, kind: str, *, not_invariant_to: Iterable[str] = frozenset(),
                 metric_scale: float = 1.0, unit: str = "", depends_on: Iterable[str] = frozenset(),
                 head_pool: str | None = None, options: Iterable[tuple[str, Any]] = (),
                 **fields: Any) -> None:
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"Task name {name!r} is not a Python identifier; use letters, "
                             "digits and underscores (it becomes a Keras output name).")
        label_kind = get_kind(kind)
        for key, value in (("name", name), ("kind", kind), ("metric_scale", metric_scale),
                           ("unit", unit), ("head_pool", head_pool),
                           ("not_invariant_to", frozenset(not_invariant_to)),
                           ("depends_on", frozenset(depends_on)),
                           ("options", _own_fields(name, label_kind, {**dict(options), **fields}))):
            object.__setattr__(self, key, value)
        label_kind.validate(self)
        if head_pool is not None and head_pool not in HEAD_POOLS:
            raise ValueError(f"Task {name!r}: unknown head_pool {head_pool!r}; "
                             f"choose one of {', '.join(HEAD_POOLS)} or None.")

    def __getattr__(self, field_name: str) -> Any:
        # Only reached for names that are not attributes: the kind's fields.
        if field_name.startswith("_") or field_name in ("kind", "options"):
            raise AttributeError(field_name)
        own = get_kind(self.kind).fields
        if field_name in own:
            return dict(self.options).get(field_name, own[field_name].default)
        owners = [k.name for k in LABEL_KINDS.values() if field_name in k.fields]
        if owners:
            raise AttributeError(f"Task {self.name!r} is a {self.kind} task: {field_name} is "
                                 f"a field of {'/'.join(owners)} tasks.")
        raise AttributeError(f"'Task' object has no attribute {field_name!r}")

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
        """``(factor, unit)`` for showing the primary metric, as its kind says: accuracy and
        IoU in ``"%"``, errors in the task's ``unit``."""
        return self.label_kind.display_scale(self)

    def metric_unit(self, metric: str) -> str:
        """The unit of a logged metric's raw value (``"px"`` for a position error, ``""``
        for an accuracy, a fraction).

        Introduced in notebook 01.
        """
        return self.label_kind.metric_unit(self, metric)

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
            ValueError: a metric whose direction the task's kind does not declare.
        """
        directions = self.label_kind.directions(self)
        if metric not in directions:
            raise ValueError(f"unknown direction for metric {metric!r} of task {self.name!r}: "
                             f"kind {self.kind!r} declares {sorted(directions)}; add it to "
                             "the kind's directions().")
        return directions[metric]

    def describe(self) -> str:
        """One line for tables: name, kind (and what the kind adds), what the metric means."""
        unit = f" ({self.unit})" if self.unit else ""
        direction = "higher" if self.higher_is_better else "lower"
        return (f"{self.name}: {self.kind}{self.label_kind.describe(self)}; metric "
                f"{self.metric}{unit}, {direction} is better")

    # --------------------------------------------------------------- serialisation
    def get_config(self) -> dict[str, Any]:
        """Every field (the common ones, then the kind's that are set) as plain JSON
        values; ``Task.from_config`` reverses it."""
        out: dict[str, Any] = {}
        for key, v in [*((k, getattr(self, k)) for k in COMMON_FIELDS), *self.options]:
            out[key] = (sorted(v) if isinstance(v, frozenset) else
                        list(v) if isinstance(v, tuple) else v)
        return out

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Task:
        """The task described by :meth:`get_config` (lists become tuples, word lists
        frozensets; fields of other kinds left at their defaults, as older configs hold
        them, are dropped)."""
        return cls(**config)


def task_table(tasks: Iterable[Task] | Mapping[str, Task]):
    """A pandas table of tasks: kind, the columns kinds add (classes), metric, direction,
    ops not invariant to.

    Introduced in notebook 00.
    """
    rows, added = [], {}
    for t in task_dict(tasks).values():
        extra = t.label_kind.table_columns(t)
        added.update(dict.fromkeys(extra))
        rows.append({"task": t.name, "kind": t.kind, **extra,
                     "metric": t.metric + (f" ({t.unit})" if t.unit else ""),
                     "better": "higher" if t.higher_is_better else "lower",
                     "not invariant to": ", ".join(sorted(t.not_invariant_to)) or "-"})
    columns = ["task", "kind", *added, "metric", "better", "not invariant to"]
    return pd.DataFrame([{c: r.get(c, "") for c in columns} for r in rows]).set_index("task")


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
