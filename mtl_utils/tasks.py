"""Task specs: the one place that says what a task's label is and how it is learned.

A :class:`Task` names a label and its *kind*. Everything else in ``mtl_utils`` reads it:
model heads (output size and activation), losses, metrics, the direction of the primary
metric (for Delta_m), how augmentation moves the label, and how plots draw it.

Label kinds and their per-example label shapes:

========== ==================== ===================================================
kind       label shape / dtype  meaning
========== ==================== ===================================================
class      ``()`` int32         class index in ``[0, num_classes)``
position   ``(2,)`` float32     object centre ``(x, y)`` in ``[0, 1]``, pixel-centre
                                convention ``(i + 0.5) / W``
mask       ``(H, W, 1)`` f32    binary object mask (0 or 1)
scalar     ``(1,)`` float32     a number on a ``[0, 1]`` scale (e.g. object size)
angle      ``(1,)`` float32     an orientation in radians, in ``[0, 2*pi)``
========== ==================== ===================================================

Introduced in notebook 00.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import keras
import numpy as np
from keras import ops

KINDS: tuple[str, ...] = ("class", "position", "mask", "scalar", "angle")

# Name of each kind's primary metric, as it appears in Keras logs ("<task>_<metric>").
PRIMARY_METRIC: dict[str, str] = {
    "class": "accuracy",
    "position": "error",
    "mask": "iou",
    "scalar": "error",
    "angle": "error",
}
# Global max pooling keeps small objects visible to what-is-it heads (average pooling
# washes them out); where-is-it heads need the flattened map, which keeps location.
DEFAULT_HEAD_POOL: dict[str, str] = {
    "class": "max",
    "position": "flatten",
    "mask": "none",
    "scalar": "max",
    "angle": "max",
}
HEAD_POOLS: tuple[str, ...] = ("flatten", "max", "avg")
HIGHER_IS_BETTER: dict[str, bool] = {
    "class": True,
    "position": False,
    "mask": True,
    "scalar": False,
    "angle": False,
}


@dataclass(frozen=True)
class Task:
    """One prediction target of a multi-task model.

    Args:
        name: label key and Keras output name; a Python identifier (``"shape"``).
        kind: one of :data:`KINDS`.
        num_classes: number of classes (``kind="class"`` only, at least 2).
        class_names: optional display names, one per class.
        not_invariant_to: augmentation op names that would make this label wrong
            (``{"hue", "saturation", "grayscale"}`` for a colour task). Augmentation
            policies refuse such ops unless built with ``naive=True``.
        flip_class_map: for class tasks, the class index each class becomes under a
            horizontal flip (e.g. a left/right label); ``None`` means unchanged.
        scale_equivariant: for scalar tasks, whether the physical quantity scales with
            zoom (an object's size does; a count does not).
        value_range: for scalar tasks, the physical range ``(lo, hi)`` the label is
            normalised from: ``label = (physical - lo) / (hi - lo)``.
        metric_scale: factor turning the primary error metric into ``unit``
            (the image size for positions, so errors read in pixels).
        unit: unit of the primary metric, for tables and plots.
        head_pool: how this task's head pools the shared feature map: ``"max"`` for
            what-is-it labels that do not depend on where the object is, ``"flatten"`` for
            labels tied to a place in the image (a position, the left digit); ``None``
            uses the kind's default (:data:`DEFAULT_HEAD_POOL`).

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
    head_pool: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                f"Task name {self.name!r} is not a Python identifier; use letters, digits "
                "and underscores (it becomes a Keras output name)."
            )
        if self.kind not in KINDS:
            raise ValueError(
                f"Task {self.name!r}: unknown label kind {self.kind!r}; "
                f"choose one of {', '.join(KINDS)}."
            )
        object.__setattr__(self, "not_invariant_to", frozenset(self.not_invariant_to))
        if self.kind == "class":
            if self.num_classes is None or int(self.num_classes) < 2:
                raise ValueError(
                    f"Task {self.name!r}: a class task needs num_classes >= 2, "
                    f"got {self.num_classes!r}."
                )
            if self.class_names is not None and len(self.class_names) != self.num_classes:
                raise ValueError(
                    f"Task {self.name!r}: {len(self.class_names)} class_names for "
                    f"{self.num_classes} classes; give one name per class."
                )
            if self.flip_class_map is not None and sorted(self.flip_class_map) != list(
                range(self.num_classes)
            ):
                raise ValueError(
                    f"Task {self.name!r}: flip_class_map {self.flip_class_map!r} is not a "
                    f"permutation of range({self.num_classes})."
                )
        else:
            for attr in ("num_classes", "class_names", "flip_class_map"):
                if getattr(self, attr) is not None:
                    raise ValueError(
                        f"Task {self.name!r}: {attr} is only for class tasks, "
                        f"not kind {self.kind!r}."
                    )
        if self.scale_equivariant and self.kind != "scalar":
            raise ValueError(
                f"Task {self.name!r}: scale_equivariant is only for scalar tasks."
            )
        if self.head_pool is not None and self.head_pool not in HEAD_POOLS:
            raise ValueError(f"Task {self.name!r}: unknown head_pool {self.head_pool!r}; "
                             f"choose one of {', '.join(HEAD_POOLS)} or None.")
        lo, hi = self.value_range
        if not hi > lo:
            raise ValueError(f"Task {self.name!r}: value_range {self.value_range} needs hi > lo.")

    # ----------------------------------------------------------------- properties
    @property
    def metric(self) -> str:
        """Name of the primary metric (``"accuracy"``, ``"error"`` or ``"iou"``)."""
        return PRIMARY_METRIC[self.kind]

    @property
    def metric_key(self) -> str:
        """Key of the primary metric in Keras logs, e.g. ``"shape_accuracy"``."""
        return f"{self.name}_{self.metric}"

    @property
    def higher_is_better(self) -> bool:
        """Whether a larger primary metric is better (accuracy, IoU) or worse (errors)."""
        return HIGHER_IS_BETTER[self.kind]

    @property
    def display_scale(self) -> tuple[float, str]:
        """``(factor, unit)`` for showing the primary metric: fractions in percent.

        Accuracy and IoU are fractions in logs and shown times 100 in ``"%"`` (differences
        of them in percentage points); errors keep their ``unit``.
        """
        return (100.0, "%") if self.metric in ("accuracy", "iou") else (1.0, self.unit)

    @property
    def pool(self) -> str:
        """The head's pooling: ``head_pool`` if set, else the kind's default."""
        return self.head_pool or DEFAULT_HEAD_POOL[self.kind]

    @property
    def output_units(self) -> int:
        """Width of the head's last layer (channels for a mask head)."""
        return {"class": self.num_classes or 0, "position": 2, "mask": 1, "scalar": 1,
                "angle": 2}[self.kind]

    @property
    def output_activation(self) -> str:
        """Activation of the head's last layer."""
        return {"class": "softmax", "position": "sigmoid", "mask": "sigmoid",
                "scalar": "sigmoid", "angle": "linear"}[self.kind]

    def label_shape(self, image_shape: Sequence[int]) -> tuple[int, ...]:
        """Per-example label shape for images of shape ``(H, W, C)``."""
        h, w = int(image_shape[0]), int(image_shape[1])
        return {"class": (), "position": (2,), "mask": (h, w, 1), "scalar": (1,),
                "angle": (1,)}[self.kind]

    def label_dtype(self) -> str:
        """Label dtype (``"int32"`` for classes, ``"float32"`` otherwise)."""
        return "int32" if self.kind == "class" else "float32"

    # ------------------------------------------------------------- loss, metrics
    def loss(self):
        """The Keras loss function for this task (a plain callable)."""
        return {"class": class_crossentropy, "position": keras.losses.mean_squared_error,
                "mask": mask_bce, "scalar": keras.losses.mean_squared_error,
                "angle": angle_loss}[self.kind]

    def metrics(self) -> list:
        """Fresh Keras metric objects; the first is the primary metric."""
        if self.kind == "class":
            return [keras.metrics.MeanMetricWrapper(class_accuracy, name="accuracy")]
        if self.kind == "mask":
            return [keras.metrics.MeanMetricWrapper(mask_iou, name="iou")]
        if self.kind == "angle":
            return [keras.metrics.MeanMetricWrapper(angle_error_deg, name="error")]
        if self.kind == "position":
            return [keras.metrics.MeanMetricWrapper(
                _scaled(position_distance, self.metric_scale), name="error")]
        return [keras.metrics.MeanMetricWrapper(
            _scaled(absolute_error, self.metric_scale), name="error")]

    def constant_baseline(self, train_labels: np.ndarray, labels: np.ndarray) -> float:
        """The primary metric of the best constant prediction, fitted on ``train_labels``
        and scored on ``labels``: what a model must beat to have learned anything.

        The majority class (accuracy), the mean position (distance, in ``unit``), the mean
        value (absolute error), the mean mask thresholded at 0.5 (IoU), or the circular
        mean angle (error in degrees).

        Introduced in notebook 01.
        """
        train, y = np.asarray(train_labels), np.asarray(labels)
        if self.kind == "class":
            counts = np.bincount(train.astype(int).ravel(), minlength=self.num_classes or 0)
            return float(np.mean(y.astype(int).ravel() == int(np.argmax(counts))))
        if self.kind == "position":
            d = y.astype(float) - train.astype(float).mean(axis=0)
            return float(np.sqrt((d ** 2).sum(axis=-1)).mean() * self.metric_scale)
        if self.kind == "scalar":
            return float(np.abs(y - train.mean(axis=0)).mean() * self.metric_scale)
        if self.kind == "mask":
            pred = train.mean(axis=0) > 0.5
            t = y > 0.5
            inter = (t & pred).reshape(len(t), -1).sum(1)
            union = (t | pred).reshape(len(t), -1).sum(1)
            return float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).mean())
        mean = np.arctan2(np.sin(train).mean(), np.cos(train).mean())
        diff = np.arctan2(np.sin(y - mean), np.cos(y - mean))
        return float(np.degrees(np.abs(diff)).mean())

    def describe(self) -> str:
        """One line for tables: name, kind, and what the metric means."""
        unit = f" ({self.unit})" if self.unit else ""
        direction = "higher" if self.higher_is_better else "lower"
        extra = f", {self.num_classes} classes" if self.kind == "class" else ""
        return f"{self.name}: {self.kind}{extra}; metric {self.metric}{unit}, {direction} is better"


# ---------------------------------------------------------------------------- losses
def _is_soft(y_true, y_pred) -> bool:
    return len(y_true.shape) == len(y_pred.shape) and y_true.shape[-1] == y_pred.shape[-1]


def class_crossentropy(y_true, y_pred):
    """Cross-entropy that takes integer labels or soft (one-hot or mixed) labels."""
    if _is_soft(y_true, y_pred):
        return keras.losses.categorical_crossentropy(ops.cast(y_true, y_pred.dtype), y_pred)
    y_true = ops.reshape(y_true, ops.shape(y_pred)[:-1])
    return keras.losses.sparse_categorical_crossentropy(y_true, y_pred)


def class_accuracy(y_true, y_pred):
    """Top-1 accuracy for integer or soft labels (the soft label's argmax)."""
    if _is_soft(y_true, y_pred):
        y_true = ops.argmax(y_true, axis=-1)
    else:
        y_true = ops.reshape(y_true, ops.shape(y_pred)[:-1])
    pred = ops.argmax(y_pred, axis=-1)
    return ops.cast(ops.equal(ops.cast(y_true, "int32"), ops.cast(pred, "int32")), "float32")


def mask_bce(y_true, y_pred):
    """Per-example binary cross-entropy averaged over the mask's pixels."""
    bce = keras.losses.binary_crossentropy(ops.cast(y_true, y_pred.dtype), y_pred)
    return ops.mean(bce, axis=tuple(range(1, len(bce.shape))))


def mask_iou(y_true, y_pred):
    """Per-example intersection over union of masks thresholded at 0.5 (1 if both empty)."""
    t = ops.cast(y_true > 0.5, "float32")
    p = ops.cast(y_pred > 0.5, "float32")
    axes = tuple(range(1, len(t.shape)))
    inter = ops.sum(t * p, axis=axes)
    union = ops.sum(ops.maximum(t, p), axis=axes)
    return ops.where(union > 0, inter / ops.maximum(union, 1.0), 1.0)


def position_distance(y_true, y_pred):
    """Euclidean distance between predicted and true ``(x, y)`` (in label units)."""
    d = ops.cast(y_true, y_pred.dtype) - y_pred
    return ops.sqrt(ops.sum(d * d, axis=-1) + 1e-12)


def absolute_error(y_true, y_pred):
    """Mean absolute error over the last axis."""
    return ops.mean(ops.abs(ops.cast(y_true, y_pred.dtype) - y_pred), axis=-1)


def _angle_vector(y_true):
    a = ops.cast(y_true[..., 0], "float32")
    return ops.stack([ops.cos(a), ops.sin(a)], axis=-1)


def angle_loss(y_true, y_pred):
    """Squared distance between the predicted 2-vector and ``(cos a, sin a)``."""
    return ops.mean(ops.square(_angle_vector(y_true) - y_pred), axis=-1)


def angle_error_deg(y_true, y_pred):
    """Absolute angular error in degrees, wrapped to ``[0, 180]``."""
    pred = ops.arctan2(y_pred[..., 1], y_pred[..., 0])
    diff = pred - ops.cast(y_true[..., 0], "float32")
    diff = ops.arctan2(ops.sin(diff), ops.cos(diff))
    return ops.abs(diff) * (180.0 / math.pi)


def _scaled(fn, scale: float):
    if scale == 1.0:
        return fn

    def scaled(y_true, y_pred):
        return fn(y_true, y_pred) * scale

    scaled.__name__ = fn.__name__
    return scaled


def task_table(tasks: Iterable[Task] | Mapping[str, Task]):
    """A pandas table of tasks: kind, classes, metric and unit, direction, and the ops each
    declares it is not invariant to.

    Introduced in notebook 00.
    """
    import pandas as pd

    return pd.DataFrame([{"task": t.name, "kind": t.kind, "classes": t.num_classes or "",
                          "metric": t.metric + (f" ({t.unit})" if t.unit else ""),
                          "better": "higher" if t.higher_is_better else "lower",
                          "not invariant to": ", ".join(sorted(t.not_invariant_to)) or "-"}
                         for t in task_dict(tasks).values()]).set_index("task")


# ------------------------------------------------------------------- lookup, checks
def task_dict(tasks: Iterable[Task] | Mapping[str, Task]) -> dict[str, Task]:
    """Tasks as an ordered ``{name: Task}`` dict; rejects duplicate names."""
    items = list(tasks.values()) if isinstance(tasks, Mapping) else list(tasks)
    out: dict[str, Task] = {}
    for t in items:
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
        raise KeyError(
            f"unknown task {unknown[0]!r}; this data has tasks {list(all_tasks)}. "
            "Check the TASKS parameter's spelling."
        )
    return {n: all_tasks[n] for n in names}


def validate_labels(tasks: Iterable[Task] | Mapping[str, Task], images: np.ndarray,
                    labels: Mapping[str, np.ndarray]) -> None:
    """Check that ``labels`` has every task, with one label of the right shape per image.

    Raises:
        ValueError: wrong image rank, a task missing from ``labels``, or a label whose
            shape does not match its task's kind.
    """
    images_shape = tuple(np.shape(images))
    if len(images_shape) != 4:
        raise ValueError(
            f"images must be a 4-D batch (N, H, W, C); got shape {images_shape}. "
            "Add a channel axis with images[..., None] or a batch axis with images[None]."
        )
    for name, task in task_dict(tasks).items():
        if name not in labels:
            raise ValueError(
                f"labels are missing task {name!r} (have {sorted(labels)}); pass a label "
                "array for every task, or select fewer tasks."
            )
        want = (images_shape[0], *task.label_shape(images_shape[1:]))
        got = tuple(np.shape(labels[name]))
        if got != want:
            raise ValueError(
                f"label {name!r} ({task.kind}) has shape {got}; expected {want} for "
                f"images of shape {images_shape}."
            )
