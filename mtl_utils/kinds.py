"""Label kinds: everything that depends on what a label *is*, one small class per kind.

A :class:`~mtl_utils.tasks.Task` names a label and its kind; the kind's class says how such
a label is shaped, checked, moved, mixed, predicted, scored and drawn. Every other module asks
the kind, so **a new label kind is one class**: subclass :class:`LabelKind` with a ``name``.

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

Introduced in notebook 00 (and in notebook 10 for kinds of your own).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from . import geometry
from .geometry import TWO_PI
from .registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from .tasks import Task

#: Every label kind by name, filled in as :class:`LabelKind` subclasses are defined.
LABEL_KINDS: Registry[LabelKind] = Registry("label kind", "mtl_utils.kinds.LABEL_KINDS")
HEAD_POOLS: tuple[str, ...] = ("flatten", "max", "avg")


# ------------------------------------------------------------------- metric functions
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


def angle_loss(y_true, y_pred):
    """Squared distance between the predicted 2-vector and ``(cos a, sin a)``."""
    a = ops.cast(y_true[..., 0], "float32")
    return ops.mean(ops.square(ops.stack([ops.cos(a), ops.sin(a)], axis=-1) - y_pred), axis=-1)


def angle_error_deg(y_true, y_pred):
    """Absolute angular error in degrees, wrapped to ``[0, 180]``."""
    pred = ops.arctan2(y_pred[..., 1], y_pred[..., 0])
    diff = pred - ops.cast(y_true[..., 0], "float32")
    diff = ops.arctan2(ops.sin(diff), ops.cos(diff))
    return ops.abs(diff) * (180.0 / math.pi)


def scaled(fn, scale: float):
    """``fn`` times ``scale`` (a metric read in pixels rather than label units)."""
    if scale == 1.0:
        return fn

    def scaled_fn(y_true, y_pred):
        return fn(y_true, y_pred) * scale

    scaled_fn.__name__ = fn.__name__
    return scaled_fn


# ------------------------------------------------------------------------ the base
@dataclass(frozen=True)
class TaskField:
    """A :class:`~mtl_utils.tasks.Task` field that a label kind takes: its default (a Task
    that does not set the field reads the default) and what it means.

    Introduced in notebook 10.
    """

    default: Any = None
    doc: str = ""


def check_classes(task: Task, what: str) -> None:
    """Raise ``ValueError`` unless ``task`` has ``num_classes >= 2`` and, if it names its
    classes, one name per class (class and segmentation kinds)."""
    if task.num_classes is None or int(task.num_classes) < 2:
        raise ValueError(f"Task {task.name!r}: {what} needs num_classes >= 2, "
                         f"got {task.num_classes!r}.")
    if task.class_names is not None and len(task.class_names) != task.num_classes:
        raise ValueError(f"Task {task.name!r}: {len(task.class_names)} class_names for "
                         f"{task.num_classes} classes; give one name per class.")


class LabelKind:
    """Base class of label kinds; a subclass with a ``name`` registers itself.

    Class attributes say what a kind is; besides the obvious ones: ``fields`` (the Task
    fields of this kind, ``{name: TaskField}``: ``Task(..., num_classes=5)`` for a class
    task, readable as ``task.num_classes``), ``metric`` (as in Keras logs
    ``<task>_<metric>``) with ``higher_is_better`` and ``metric_display`` (how the metric is
    shown when not in the task's own ``unit``, e.g. ``(100.0, "%")`` for a fraction),
    ``pool`` (the head's default), ``mixable`` (MixUp/CutMix can mix two labels),
    ``uncertainty_coefficient`` (1 for classification likelihoods, 1/2 for Gaussian ones;
    Kendall et al. 2018). Methods say what it does; the defaults fit a label that geometry
    does not move.

    Raises:
        ValueError: a name another kind class has (``LABEL_KINDS.unregister(name)`` first).

    Introduced in notebook 00 (and in notebook 10 for kinds of your own).
    """

    name: ClassVar[str] = ""
    fields: ClassVar[Mapping[str, TaskField]] = {}
    metric: ClassVar[str] = "error"
    higher_is_better: ClassVar[bool] = False
    metric_display: ClassVar[tuple[float, str] | None] = None
    pool: ClassVar[str] = "max"
    activation: ClassVar[str] = "sigmoid"
    dtype: ClassVar[str] = "float32"
    mixable: ClassVar[bool] = False
    uncertainty_coefficient: ClassVar[float] = 0.5
    draw_first: ClassVar[bool] = False  # drawn before the others (it anchors them)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.name:
            LABEL_KINDS.register(cls.name, cls())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"

    # ----------------------------------------------------------------- the spec
    def validate(self, task: Task) -> None:
        """Raise ``ValueError`` if ``task``'s fields do not fit this kind (the base checks
        nothing: :class:`~mtl_utils.tasks.Task` already refuses fields of other kinds)."""

    def describe(self, task: Task) -> str:
        """What the kind adds to :meth:`Task.describe <mtl_utils.tasks.Task.describe>`
        after the kind's name, e.g. ``", 5 classes"`` (default nothing)."""
        return ""

    def table_columns(self, task: Task) -> dict[str, Any]:
        """Columns the kind adds to :func:`~mtl_utils.tasks.task_table` (default none)."""
        return {}

    def display_scale(self, task: Task) -> tuple[float, str]:
        """``(factor, unit)`` for showing the primary metric: :attr:`metric_display`, or the
        value as logged in the task's ``unit``."""
        return self.metric_display or (1.0, task.unit)

    def metric_unit(self, task: Task, metric: str) -> str:
        """The unit of a logged metric's raw value: the task's ``unit`` for the primary
        metric unless the kind shows it otherwise (a fraction shown in %), else none."""
        return task.unit if metric == self.metric and self.metric_display is None else ""

    def directions(self, task: Task) -> dict[str, bool]:
        """Whether higher is better, for every metric the kind logs (and the loss)."""
        return {"loss": False, self.metric: self.higher_is_better}

    def label_shape(self, task: Task, image_shape: Sequence[int]) -> tuple[int, ...]:
        """Per-example label shape for images of shape ``(H, W, C)``."""
        return (self.output_units(task),)

    def output_units(self, task: Task) -> int:
        """Width of the head's last layer."""
        return 1

    def check(self, task: Task, y: tf.Tensor, height: Any, width: Any) -> tf.Tensor:
        """A batch of labels checked against :meth:`label_shape` (integers cast to float32).

        Raises:
            ValueError: a label of the wrong rank or size, naming the shape expected.
        """
        self._check_shape(task, y, height, width)
        return y if y.dtype.is_floating or self.dtype != "float32" else tf.cast(y, tf.float32)

    def _check_shape(self, task: Task, y: tf.Tensor, height: Any, width: Any) -> None:
        want = (None, *self.label_shape(task, (height or 0, width or 0, 1)))
        ok = y.shape.rank == len(want) and all(
            a is None or b in (None, 0) or a == b for a, b in zip(y.shape[1:], want[1:]))
        if not ok:
            shape = ", ".join("B" if d is None else str(d) for d in want)
            raise ValueError(f"label {task.name!r} ({task.kind}) has shape {y.shape}; "
                             f"expected ({shape}) for images of {height}x{width}.")

    # ------------------------------------------------------------------ learning
    def loss(self, task: Task):
        """The Keras loss function for this task (a plain callable)."""
        return keras.losses.mean_squared_error

    def metrics(self, task: Task) -> list:
        """Fresh Keras metric objects; the first is the primary metric."""
        return [keras.metrics.MeanMetricWrapper(scaled(absolute_error, task.metric_scale),
                                                name="error")]

    def head(self, task: Task, features, image_shape: Sequence[int], pool: str,
             hidden: int = 64, dropout: float = 0.0):
        """The task's head (pool, hidden dense layer, output layer named after the task)."""
        if pool not in HEAD_POOLS:
            raise ValueError(f"unknown head pool {pool!r}; choose one of {', '.join(HEAD_POOLS)}.")
        n = task.name
        one_d = len(features.shape) == 3  # (B, L, F): a sequence's features
        if pool == "flatten":
            x = layers.Flatten(name=f"{n}_head_flat")(features)
        elif pool == "max":
            pooling = layers.GlobalMaxPooling1D if one_d else layers.GlobalMaxPooling2D
            x = pooling(name=f"{n}_head_pool")(features)
        else:
            pooling = layers.GlobalAveragePooling1D if one_d else layers.GlobalAveragePooling2D
            x = pooling(name=f"{n}_head_pool")(features)
        x = layers.Dense(hidden, activation="relu", name=f"{n}_head_dense")(x)
        if dropout:
            x = layers.Dropout(dropout, name=f"{n}_head_dropout")(x)
        return layers.Dense(self.output_units(task), activation=self.activation, name=n)(x)

    def constant_baseline(self, task: Task, train: np.ndarray, labels: np.ndarray) -> float:
        """Primary metric of the best constant prediction (fitted on ``train``): the mean."""
        return float(np.abs(labels - train.mean(axis=0)).mean() * task.metric_scale)

    # -------------------------------------------------------------- augmentation
    def move(self, task: Task, y: tf.Tensor, matrices: tf.Tensor, height: Any, width: Any,
             hflip: tf.Tensor | None) -> tuple[tf.Tensor, tf.Tensor | None]:
        """Labels moved by forward ``matrices`` (:mod:`mtl_utils.geometry`), and per-example
        visibility weights (``None``: all visible). Default: the label does not move."""
        return y, None

    def unmove(self, task: Task, prediction: tf.Tensor, matrices: tf.Tensor, height: Any,
               width: Any, hflip: tf.Tensor | None) -> tf.Tensor:
        """A prediction on a view made with ``matrices`` moved back to the original frame
        (:func:`mtl_utils.augment.tta`). Default: moved as a label, by the inverse."""
        return self.move(task, prediction, geometry.invert(matrices), height, width, hflip)[0]

    def combine(self, task: Task, predictions: tf.Tensor) -> tf.Tensor:
        """One prediction from ``(V, B, ...)`` predictions of ``V`` views: their mean."""
        return tf.reduce_mean(predictions, axis=0)

    def mix(self, task: Task, y: tf.Tensor, partner: tf.Tensor, lam: tf.Tensor,
            box: tf.Tensor | None) -> tf.Tensor:
        """The label of example ``i`` mixed with that of ``partner[i]``: MixUp with weight
        ``lam`` on itself, or CutMix with the pasted ``box`` ``(B, H, W, 1)``.

        Raises:
            ValueError: the kind has no meaningful mix (the default).
        """
        raise ValueError(
            f"mixing is not defined for task {task.name!r} (kind {self.name!r}): a mix of two "
            f"{self.name} labels is not the label of the mixed image. Drop the mixing op, use "
            "per_task(...) to give it only to class/mask tasks, or build with naive=True to "
            "mix images and leave labels untouched.")

    def effect(self, task: Task, op) -> str:
        """What a geometric ``op`` does to this label (:func:`mtl_utils.augment.label_effect`)."""
        return "kept"

    def check_op(self, task: Task, op, tasks: Mapping[str, Task]) -> None:
        """Raise ``ValueError`` if this label cannot follow geometric ``op`` in a policy over
        ``tasks`` (default: any op is fine). Introduced in notebook 11."""

    # ------------------------------------------------------------------- plots
    def draw(self, ax, task: Task, y: np.ndarray, frame: dict, color: str) -> str | None:
        """Draw one example's label on ``ax``; returns text for the title, or ``None``.

        ``frame`` holds ``height``, ``width`` and, once a ``draw_first`` kind has drawn, the
        object's ``centre``.
        """
        return None


# ----------------------------------------------------------------------- the kinds
class ClassKind(LabelKind):
    """A class index (or a soft label over the classes, after MixUp/CutMix)."""

    name = "class"
    fields = {"num_classes": TaskField(None, "number of classes (at least 2)"),
              "class_names": TaskField(None, "one name per class, for tables and plots"),
              "flip_class_map": TaskField(None, "the class each class becomes under a "
                                                "horizontal flip (a permutation)")}
    metric = "accuracy"
    higher_is_better = True
    metric_display = (100.0, "%")
    activation = "softmax"
    dtype = "int32"
    mixable = True
    uncertainty_coefficient = 1.0

    def validate(self, task: Task) -> None:
        check_classes(task, "a class task")
        if task.flip_class_map is not None and sorted(task.flip_class_map) != list(
                range(task.num_classes)):
            raise ValueError(f"Task {task.name!r}: flip_class_map {task.flip_class_map!r} is "
                             f"not a permutation of range({task.num_classes}).")

    def describe(self, task):
        return f", {task.num_classes} classes"

    def table_columns(self, task):
        return {"classes": task.num_classes}

    def label_shape(self, task, image_shape):
        return ()

    def output_units(self, task):
        return int(task.num_classes)

    def check(self, task, y, height, width):
        soft = y.shape.rank == 2 and y.shape[-1] in (None, task.num_classes)
        if y.shape.rank == 1 or soft:
            return y
        raise ValueError(f"label {task.name!r} (class) has shape {y.shape}; expected (B,) "
                         f"class indices or (B, {task.num_classes}) soft labels.")

    def loss(self, task):
        return class_crossentropy

    def metrics(self, task):
        return [keras.metrics.MeanMetricWrapper(class_accuracy, name="accuracy")]

    def constant_baseline(self, task, train, labels):
        counts = np.bincount(train.astype(int).ravel(), minlength=task.num_classes)
        return float(np.mean(labels.astype(int).ravel() == int(np.argmax(counts))))

    def move(self, task, y, matrices, height, width, hflip):
        if hflip is None or task.flip_class_map is None:
            return y, None
        fmap = tf.constant(task.flip_class_map, tf.int32)
        if y.shape.rank == 1:
            mapped = tf.cast(tf.gather(fmap, tf.cast(y, tf.int32)), y.dtype)
            return tf.where(hflip, mapped, y), None
        inv = np.argsort(np.asarray(task.flip_class_map))  # new column k comes from inv[k]
        return tf.where(hflip[:, None], tf.gather(y, inv, axis=1), y), None

    def unmove(self, task, prediction, matrices, height, width, hflip):
        if hflip is None or task.flip_class_map is None:
            return prediction  # class probabilities do not move
        # column k of the view's prediction is class k of the mirrored image: class
        # fmap^-1(k) of the original, so original column j comes from column fmap[j]
        return tf.where(hflip[:, None], tf.gather(prediction, list(task.flip_class_map),
                                                  axis=1), prediction)

    def mix(self, task, y, partner, lam, box):
        s = (tf.one_hot(tf.cast(y, tf.int32), task.num_classes, dtype=tf.float32)
             if y.shape.rank == 1 else tf.cast(y, tf.float32))
        return lam[:, None] * s + (1.0 - lam[:, None]) * tf.gather(s, partner)

    def effect(self, task, op):
        return "remapped" if op.mirrors and task.flip_class_map is not None else "kept"

    def draw(self, ax, task, y, frame, color):
        k = int(np.argmax(y)) if y.ndim >= 1 and y.size > 1 else int(y)
        return task.class_names[k] if task.class_names else str(k)


class PositionKind(LabelKind):
    """An object's centre ``(x, y)`` in ``[0, 1]``; mapped through the matrix, not clipped.
    A point that leaves the frame gets visibility weight 0."""

    name = "position"
    pool = "flatten"
    draw_first = True
    fields = {"loss_scale": TaskField(1.0, "a factor on the loss: the same label in other "
                                           "units, e.g. 1024 for squared pixels of a 32-pixel "
                                           "image (notebook 03's losses on different scales)")}

    def validate(self, task):
        if not (isinstance(task.loss_scale, (int, float)) and task.loss_scale > 0):
            raise ValueError(f"Task {task.name!r}: loss_scale must be a positive number, got "
                             f"{task.loss_scale!r}.")

    def describe(self, task):
        return f", loss x{task.loss_scale:g}" if task.loss_scale != 1.0 else ""

    def output_units(self, task):
        return 2

    def loss(self, task):
        return scaled(keras.losses.mean_squared_error, float(task.loss_scale))

    def metrics(self, task):
        return [keras.metrics.MeanMetricWrapper(scaled(position_distance, task.metric_scale),
                                                name="error")]

    def constant_baseline(self, task, train, labels):
        d = labels.astype(float) - train.astype(float).mean(axis=0)
        return float(np.sqrt((d ** 2).sum(axis=-1)).mean() * task.metric_scale)

    def move(self, task, y, matrices, height, width, hflip):
        a, b, c = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 0, 2]
        d, e, f = matrices[:, 1, 0], matrices[:, 1, 1], matrices[:, 1, 2]
        wf, hf = tf.cast(width, tf.float32), tf.cast(height, tf.float32)
        x0 = tf.cast(y[:, 0], tf.float32) * wf - 0.5
        y0 = tf.cast(y[:, 1], tf.float32) * hf - 0.5
        nx = (a * x0 + b * y0 + c + 0.5) / wf
        ny = (d * x0 + e * y0 + f + 0.5) / hf
        visible = tf.cast((nx >= 0) & (nx <= 1) & (ny >= 0) & (ny <= 1), tf.float32)
        return tf.cast(tf.stack([nx, ny], axis=-1), y.dtype), visible

    def effect(self, task, op):
        return "moved"

    def draw(self, ax, task, y, frame, color):
        frame["centre"] = (y[0] * frame["width"] - 0.5, y[1] * frame["height"] - 0.5)
        ax.plot(*frame["centre"], marker="+", color=color, markersize=9, mew=2)


class MaskKind(LabelKind):
    """A binary object mask; warped with nearest interpolation and zero fill, mixed like
    the image (MixUp) or pasted with the same box (CutMix)."""

    name = "mask"
    metric = "iou"
    higher_is_better = True
    metric_display = (100.0, "%")
    pool = "none"
    mixable = True
    uncertainty_coefficient = 1.0

    def label_shape(self, task, image_shape):
        return (int(image_shape[0]), int(image_shape[1]), 1)

    def check(self, task, y, height, width):
        self._check_shape(task, y, height, width)
        return y  # masks keep their dtype (an integer mask stays one)

    def loss(self, task):
        return mask_bce

    def metrics(self, task):
        return [keras.metrics.MeanMetricWrapper(mask_iou, name="iou")]

    def head(self, task, features, image_shape, pool, hidden=64, dropout=0.0):
        h, w = int(image_shape[0]), int(image_shape[1])
        x = layers.Conv2D(hidden // 2, 3, padding="same", activation="relu",
                          name=f"{task.name}_head_conv")(features)
        x = layers.Conv2D(1, 1, name=f"{task.name}_head_logits")(x)
        x = layers.Resizing(h, w, interpolation="bilinear", name=f"{task.name}_head_up")(x)
        return layers.Activation("sigmoid", name=task.name)(x)

    def constant_baseline(self, task, train, labels):
        pred = train.mean(axis=0) > 0.5
        t = labels > 0.5
        inter = (t & pred).reshape(len(t), -1).sum(1)
        union = (t | pred).reshape(len(t), -1).sum(1)
        return float(np.where(union > 0, inter / np.maximum(union, 1), 1.0).mean())

    def move(self, task, y, matrices, height, width, hflip):
        m = geometry.warp_images(tf.cast(y, tf.float32), matrices, interpolation="nearest",
                                 fill_mode="constant", fill_value=0.0)
        return tf.cast(m, y.dtype), None

    def unmove(self, task, prediction, matrices, height, width, hflip):
        # probabilities: warped back bilinearly (labels use nearest, to stay binary)
        return geometry.warp_images(tf.cast(prediction, tf.float32), geometry.invert(matrices),
                                    interpolation="bilinear", fill_mode="constant",
                                    fill_value=0.0)

    def mix(self, task, y, partner, lam, box):
        other = tf.gather(y, partner)
        if box is not None:
            return tf.where(box, other, y)
        lam = tf.reshape(lam, [-1, 1, 1, 1])
        return lam * tf.cast(y, tf.float32) + (1.0 - lam) * tf.cast(other, tf.float32)

    def effect(self, task, op):
        return "warped"

    def draw(self, ax, task, y, frame, color):
        ax.contour(y[..., 0], levels=[0.5], colors=[color], linewidths=1)


class ScalarKind(LabelKind):
    """A number on a ``[0, 1]`` scale. With ``scale_equivariant=True`` (an object's size) it
    is multiplied in physical units by ``sqrt|det A|``, the area scale of the transform."""

    name = "scalar"
    fields = {"scale_equivariant": TaskField(False, "the physical quantity scales with a "
                                                    "zoom (an object's size)"),
              "value_range": TaskField((0.0, 1.0), "physical (lo, hi): label = "
                                                   "(x - lo) / (hi - lo)")}

    def validate(self, task):
        lo, hi = task.value_range
        if not hi > lo:
            raise ValueError(f"Task {task.name!r}: value_range {task.value_range} needs hi > lo.")

    def move(self, task, y, matrices, height, width, hflip):
        if not task.scale_equivariant:
            return y, None
        a, b = matrices[:, 0, 0], matrices[:, 0, 1]
        d, e = matrices[:, 1, 0], matrices[:, 1, 1]
        lo, hi = task.value_range
        scale = tf.sqrt(tf.abs(a * e - b * d))[:, None]
        phys = lo + tf.cast(y, tf.float32) * (hi - lo)
        return tf.cast((phys * scale - lo) / (hi - lo), y.dtype), None

    def effect(self, task, op):
        return "scaled" if task.scale_equivariant and op.changes_scale else "kept"

    def draw(self, ax, task, y, frame, color):
        if task.scale_equivariant and "centre" in frame:
            lo, hi = task.value_range
            r = lo + float(np.ravel(y)[0]) * (hi - lo)
            t = np.linspace(0, TWO_PI, 60)
            cx, cy = frame["centre"]
            ax.plot(cx + r * np.cos(t), cy + r * np.sin(t), ls="--", lw=0.8, color=color)


class AngleKind(LabelKind):
    """An orientation in radians; turned by the transform's linear part and wrapped to
    ``[0, 2 pi)``; predicted as a unit vector ``(cos, sin)``."""

    name = "angle"
    activation = "linear"

    def output_units(self, task):
        return 2

    def label_shape(self, task, image_shape):
        return (1,)

    def loss(self, task):
        return angle_loss

    def metrics(self, task):
        return [keras.metrics.MeanMetricWrapper(angle_error_deg, name="error")]

    def constant_baseline(self, task, train, labels):
        mean = np.arctan2(np.sin(train).mean(), np.cos(train).mean())
        diff = np.arctan2(np.sin(labels - mean), np.cos(labels - mean))
        return float(np.degrees(np.abs(diff)).mean())

    def move(self, task, y, matrices, height, width, hflip):
        a, b = matrices[:, 0, 0], matrices[:, 0, 1]
        d, e = matrices[:, 1, 0], matrices[:, 1, 1]
        ang = tf.cast(y[:, 0], tf.float32)
        cs, sn = tf.cos(ang), tf.sin(ang)
        new = tf.math.floormod(tf.atan2(d * cs + e * sn, a * cs + b * sn), TWO_PI)
        new = tf.where(new >= TWO_PI, new - TWO_PI, new)
        return tf.cast(new[:, None], y.dtype), None

    def unmove(self, task, prediction, matrices, height, width, hflip):
        # the prediction is a direction vector (cos, sin): turn it by the inverse's linear
        # part, keeping its length (the model's confidence)
        inv = geometry.invert(matrices)
        a, b, d, e = inv[:, 0, 0], inv[:, 0, 1], inv[:, 1, 0], inv[:, 1, 1]
        c, s_ = prediction[:, 0], prediction[:, 1]
        v = tf.stack([a * c + b * s_, d * c + e * s_], axis=-1)
        length = tf.norm(prediction, axis=-1, keepdims=True)
        return v / tf.maximum(tf.norm(v, axis=-1, keepdims=True), 1e-12) * length

    def effect(self, task, op):
        return "turned" if op.changes_orientation else "kept"

    def draw(self, ax, task, y, frame, color):
        if "centre" in frame:
            r = 0.25 * frame["width"]
            a = float(np.ravel(y)[0])
            ax.arrow(*frame["centre"], r * np.cos(a), r * np.sin(a), color=color, width=0.3,
                     head_width=1.5, length_includes_head=True)


def get_kind(name: str) -> LabelKind:
    """The label kind called ``name``.

    Raises:
        ValueError: an unknown kind, listing the known ones (define a :class:`LabelKind`
            subclass for a new one).

    Introduced in notebook 00.
    """
    return LABEL_KINDS.lookup(name)
