"""Dense label kinds: per-pixel segmentation, depth and surface normals, one class each.

Each kind moves its label with the image through the same forward matrix
(:mod:`mtl_utils.geometry`), so a label-consistent policy keeps all three exact:

============ ================= =========================================================
kind         label             moved by an affine view ``A`` (pixel-index coordinates)
============ ================= =========================================================
segmentation ``(H, W, 1)`` int nearest warp; pixels from outside the frame get
                               :data:`IGNORE` (``-1``), which losses and metrics skip
depth        ``(H, W, 1)`` f32 metres along the optical axis, ``0`` where invalid; nearest
                               warp (no "flying pixels" between surfaces), fill ``0``
normals      ``(H, W, 3)`` f32 unit vectors in the camera frame, ``0`` where invalid;
                               bilinear warp of the valid vectors, renormalised (valid
                               where the nearest source pixel is), then
                               turned with the camera (a mirror negates x, a vertical
                               flip y, an in-plane rotation turns ``(nx, ny)``)
============ ================= =========================================================

**The camera convention** of normals is a Task field, ``convention``: ``"opencv"`` (the
default: x right, y down, z forward into the scene; a visible surface has ``nz < 0``) or
``"opengl"`` (x right, y up, z backward). Image rows grow downwards in both; the in-plane
turn of ``(nx, ny)`` with the image has opposite signs in the two, so a rotation formula
written for one is wrong by twice the angle in the other.

**A zoom's reading** is one declared choice, a Task field ``zoom_reading`` that depth and
normals tasks share (a policy refuses tasks that disagree):

- ``"focal"`` (default): a crop and resize is a change of the camera's intrinsics (focal
  length, principal point). Per-pixel z-depth is unchanged and normals only turn with an
  in-plane rotation or mirror (the orthogonal factor of the view's linear part). Exact for
  any affine view of a pinhole image: a re-rendered scene agrees.
- ``"closer"``: the research code's reading, made consistent. The camera keeps its
  intrinsics and the scene comes closer: depth is divided by ``s = sqrt|det A|``; the
  points these labels back-project to are the original ones mapped by
  ``M = [[L / s, g / s], [0, 1 / s]]`` (``L`` the linear part of ``A``, ``g`` the principal
  point's shift over the focal length), so normals become ``M^-T n``, renormalised: for a
  centred zoom ``normalize(nx, ny, s * nz)``. Needs ``focal_length`` (pixels) for crops.
- ``"research"``: what MTAN, CAGrad, Nash-MTL and LibMTL do: depth divided by ``s``,
  normals left as they are. Inconsistent (the normals read the zoom as a focal-length
  change, the depth as a move closer); kept to measure what it costs.

Introduced in notebook 11.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf
from keras import layers

from . import geometry
from .kinds import LabelKind, TaskField, check_classes

if TYPE_CHECKING:  # pragma: no cover
    from .tasks import Task

#: The segmentation label of pixels that carry no class (they came from outside the frame).
IGNORE = -1
#: How a zoom is read by depth and normals tasks (see the module docstring).
ZOOM_READINGS: tuple[str, ...] = ("focal", "closer", "research")
#: The camera conventions of normals: name -> axes.
NORMAL_CONVENTIONS: dict[str, str] = {
    "opencv": "x right, y down, z forward (into the scene)",
    "opengl": "x right, y up, z backward (towards the viewer)",
}
#: Normal-angle thresholds the papers report (degrees).
ANGLE_THRESHOLDS: tuple[float, ...] = (11.25, 22.5, 30.0)
_EPS = 1e-12


# ------------------------------------------------------------------ matrix helpers
def linear_part(matrices: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """The entries ``a, b, d, e`` of the linear part ``[[a, b], [d, e]]`` of ``(B, 3, 3)``
    forward matrices.

    Introduced in notebook 11.
    """
    m = tf.cast(matrices, tf.float32)
    return m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]


def zoom_scale(matrices: tf.Tensor) -> tf.Tensor:
    """``(B,)`` content magnification ``s = sqrt|det A|`` of each forward matrix (``> 1``:
    zoomed in).

    Introduced in notebook 11.
    """
    a, b, d, e = linear_part(matrices)
    return tf.sqrt(tf.abs(a * e - b * d))


def camera_turn(matrices: tf.Tensor) -> tf.Tensor:
    """``(B, 2, 2)`` orthogonal factor ``Q`` of each view's linear part ``L = U Q`` (``U``
    upper triangular with a positive diagonal): the camera's roll (a rotation) or its
    mirror (a reflection) in the focal reading. For a similarity ``s R`` it is ``R``.

    Introduced in notebook 11.
    """
    a, b, d, e = linear_part(matrices)
    sign = tf.where(a * e - b * d < 0, -1.0, 1.0)
    norm = tf.sqrt(tf.maximum(d * d + e * e, _EPS))
    row0 = tf.stack([sign * e, -sign * d], -1) / norm[:, None]
    row1 = tf.stack([d, e], -1) / norm[:, None]
    return tf.stack([row0, row1], axis=-2)


def _per_pixel(v: tf.Tensor) -> tf.Tensor:
    return tf.reshape(v, [-1, 1, 1, 1])


def _to_opencv(n: tf.Tensor, convention: str) -> tf.Tensor:
    """Normals in ``convention`` expressed in the opencv frame (its own inverse)."""
    if convention == "opencv":
        return n
    return n * tf.constant([1.0, -1.0, -1.0])


def normalize(n: tf.Tensor) -> tf.Tensor:
    """Vectors along the last axis scaled to unit length; zero vectors stay zero.

    Introduced in notebook 11.
    """
    length = tf.norm(n, axis=-1, keepdims=True)
    return tf.where(length > 1e-6, n / tf.maximum(length, _EPS), tf.zeros_like(n))


def turn_normals(normals: tf.Tensor, turn: tf.Tensor, convention: str = "opencv") -> tf.Tensor:
    """``(B, H, W, 3)`` normals with ``(nx, ny)`` turned by ``(B, 2, 2)`` matrices given in
    image coordinates (x right, y down), in the normals' ``convention``.

    Introduced in notebook 11.
    """
    n = _to_opencv(tf.cast(normals, tf.float32), convention)
    q = tf.reshape(tf.cast(turn, tf.float32), [-1, 1, 1, 2, 2])
    xy = tf.linalg.matvec(q, n[..., :2])
    return _to_opencv(tf.concat([xy, n[..., 2:]], axis=-1), convention)


def closer_normals(normals: tf.Tensor, matrices: tf.Tensor, height: Any, width: Any,
                   focal_length: float | None, convention: str = "opencv") -> tf.Tensor:
    """Normals consistent with the "closer" reading of a view (depth divided by
    :func:`zoom_scale`): ``normalize(M^-T n)`` with ``M`` from the module docstring. With
    ``focal_length=None`` the principal point's shift is taken as zero (exact for views that
    keep the centre where it was).

    Introduced in notebook 11.
    """
    m = tf.cast(matrices, tf.float32)
    n = _to_opencv(tf.cast(normals, tf.float32), convention)
    a, b, d, e = linear_part(m)
    det = a * e - b * d
    # L^-T = [[e, -d], [-b, a]] / det
    inv_t = tf.stack([tf.stack([e, -d], -1), tf.stack([-b, a], -1)], -2) / det[:, None, None]
    xy = tf.linalg.matvec(tf.reshape(inv_t, [-1, 1, 1, 2, 2]), n[..., :2])
    z = n[..., 2:]
    if focal_length is not None:
        cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
        cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
        gx = (a * cx + b * cy + m[:, 0, 2] - cx) / float(focal_length)
        gy = (d * cx + e * cy + m[:, 1, 2] - cy) / float(focal_length)
        z = z - (_per_pixel(gx) * xy[..., :1] + _per_pixel(gy) * xy[..., 1:])
    out = normalize(tf.concat([xy, z], axis=-1))
    valid = tf.norm(n, axis=-1, keepdims=True) > 1e-6
    return _to_opencv(tf.where(valid, out, tf.zeros_like(out)), convention)


# ------------------------------------------------------------------------- metrics
class MeanIoU(keras.metrics.Metric):
    """Mean intersection over union of the classes present (in the labels or the
    predictions), from a confusion matrix over every pixel seen; :data:`IGNORE` pixels are
    skipped. ``pixel_accuracy=True`` reports the share of pixels classified right instead.

    Introduced in notebook 11.
    """

    def __init__(self, num_classes: int, name: str = "miou", pixel_accuracy: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.num_classes = int(num_classes)
        self.pixel_accuracy = bool(pixel_accuracy)
        self.confusion = self.add_variable(shape=(self.num_classes, self.num_classes),
                                           initializer="zeros", name="confusion")

    def update_state(self, y_true, y_pred, sample_weight=None):
        t = tf.reshape(tf.cast(y_true, tf.int32), [-1])
        p = tf.reshape(tf.argmax(y_pred, axis=-1, output_type=tf.int32), [-1])
        w = tf.cast((t >= 0) & (t < self.num_classes), tf.float32)
        if sample_weight is not None:
            per_pixel = tf.size(t) // tf.shape(y_pred)[0]
            w = w * tf.repeat(tf.reshape(tf.cast(sample_weight, tf.float32), [-1]), per_pixel)
        # a bincount of (label, prediction) pairs: several times faster than
        # tf.math.confusion_matrix inside a training step on CPU
        k = self.num_classes
        pairs = tf.clip_by_value(t, 0, k - 1) * k + tf.clip_by_value(p, 0, k - 1)
        cm = tf.math.bincount(pairs, weights=w, minlength=k * k, maxlength=k * k)
        self.confusion.assign_add(tf.reshape(tf.cast(cm, tf.float32), [k, k]))

    def result(self):
        cm = tf.convert_to_tensor(self.confusion)
        diag = tf.linalg.diag_part(cm)
        if self.pixel_accuracy:
            return tf.math.divide_no_nan(tf.reduce_sum(diag), tf.reduce_sum(cm))
        union = tf.reduce_sum(cm, 0) + tf.reduce_sum(cm, 1) - diag
        present = tf.cast(union > 0, tf.float32)
        iou = tf.math.divide_no_nan(diag, union)
        return tf.math.divide_no_nan(tf.reduce_sum(iou * present), tf.reduce_sum(present))

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes,
                "pixel_accuracy": self.pixel_accuracy}


class DepthError(keras.metrics.Metric):
    """Absolute (metres) or relative (``|d - d*| / d*``) depth error averaged over every
    valid pixel seen (label ``> 0``).

    Introduced in notebook 11.
    """

    def __init__(self, name: str = "abs_error", relative: bool = False, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.relative = bool(relative)
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        t = tf.cast(y_true, tf.float32)
        valid = tf.cast(t > 0, tf.float32)
        if sample_weight is not None:
            valid = valid * _per_pixel(tf.cast(sample_weight, tf.float32))
        err = tf.abs(tf.cast(y_pred, tf.float32) - t)
        if self.relative:
            err = tf.math.divide_no_nan(err, t)
        self.total.assign_add(tf.reduce_sum(err * valid))
        self.count.assign_add(tf.reduce_sum(valid))

    def result(self):
        return tf.math.divide_no_nan(tf.convert_to_tensor(self.total),
                                     tf.convert_to_tensor(self.count))

    def get_config(self):
        return {**super().get_config(), "relative": self.relative}


def angle_degrees(y_true: tf.Tensor, y_pred: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-pixel angle in degrees between label and predicted directions (both normalised),
    and the validity of the label (a non-zero vector): ``(angle, valid)``, ``(B, H, W)``.

    Introduced in notebook 11.
    """
    cos, valid = _cosines(y_true, y_pred)
    return tf.acos(cos) * (180.0 / math.pi), valid


def _cosines(y_true: tf.Tensor, y_pred: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """Per-pixel cosine (clipped to [-1, 1]) between label and prediction, and validity."""
    t = tf.cast(y_true, tf.float32)
    valid = tf.norm(t, axis=-1) > 1e-6
    cos = tf.reduce_sum(normalize(t) * normalize(tf.cast(y_pred, tf.float32)), axis=-1)
    return tf.clip_by_value(cos, -1.0, 1.0), valid


class NormalAngle(keras.metrics.Metric):
    """A statistic of the angle between predicted and true normals over every valid pixel
    seen: ``"mean"``, ``"median"`` (from a histogram of 0.05-degree bins; the mean of the two
    middle pixels' bins when their number is even, as ``np.median``) or ``"within"``
    (the share of pixels within ``threshold`` degrees).

    Introduced in notebook 11.
    """

    BINS = 3600  # 0.05 degrees each

    def __init__(self, name: str = "mean_angle", statistic: str = "mean",
                 threshold: float | None = None, **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if statistic not in ("mean", "median", "within") or (
                (statistic == "within") != (threshold is not None)):
            raise ValueError(f"NormalAngle: statistic must be 'mean', 'median' or 'within' (with "
                             f"a threshold), got {statistic!r} with threshold {threshold!r}.")
        self.statistic, self.threshold = statistic, threshold
        shape = (self.BINS,) if statistic == "median" else ()
        self.total = self.add_variable(shape=shape, initializer="zeros", name="total")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if self.statistic == "within":  # no arccosine: angle < t where cos > cos(t)
            cos, valid = _cosines(y_true, y_pred)
        else:
            angle, valid = angle_degrees(y_true, y_pred)
        w = tf.cast(valid, tf.float32)
        if sample_weight is not None:
            w = w * tf.reshape(tf.cast(sample_weight, tf.float32), [-1, 1, 1])
        if self.statistic == "median":
            bins = tf.clip_by_value(tf.cast(angle / (180.0 / self.BINS), tf.int32), 0,
                                    self.BINS - 1)
            self.total.assign_add(tf.math.bincount(tf.reshape(bins, [-1]), tf.reshape(w, [-1]),
                                                   minlength=self.BINS, maxlength=self.BINS))
        elif self.statistic == "within":
            inside = cos > math.cos(math.radians(self.threshold))
            self.total.assign_add(tf.reduce_sum(tf.cast(inside, tf.float32) * w))
        else:
            self.total.assign_add(tf.reduce_sum(angle * w))
        self.count.assign_add(tf.reduce_sum(w))

    def result(self):
        total, count = tf.convert_to_tensor(self.total), tf.convert_to_tensor(self.count)
        if self.statistic == "median":
            # as np.median: the mean of the two middle pixels (ranks from 1) when even
            cum = tf.cumsum(total)
            lower = tf.argmax(tf.cast(cum >= tf.floor((count + 1.0) / 2.0), tf.int32),
                              output_type=tf.int32)
            upper = tf.argmax(tf.cast(cum >= tf.floor(count / 2.0) + 1.0, tf.int32),
                              output_type=tf.int32)
            k = (tf.cast(lower, tf.float32) + tf.cast(upper, tf.float32)) / 2.0
            return (k + 0.5) * (180.0 / self.BINS)
        return tf.math.divide_no_nan(total, count)

    def get_config(self):
        return {**super().get_config(), "statistic": self.statistic,
                "threshold": self.threshold}


# -------------------------------------------------------------------------- losses
def _masked_mean(per_pixel: tf.Tensor, valid: tf.Tensor) -> tf.Tensor:
    """Per-example mean of ``(B, H, W)`` values over the valid pixels (0 where none)."""
    v = tf.cast(valid, per_pixel.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(per_pixel * v, axis=[1, 2]),
                                 tf.reduce_sum(v, axis=[1, 2]))


def segmentation_loss(y_true, y_pred):
    """Per-example cross-entropy averaged over the pixels that have a class.

    Introduced in notebook 11.
    """
    t = tf.cast(tf.reshape(y_true, tf.shape(y_pred)[:-1]), tf.int32)
    ce = keras.losses.sparse_categorical_crossentropy(tf.maximum(t, 0), y_pred)
    return _masked_mean(ce, t >= 0)


def depth_loss(y_true, y_pred):
    """Per-example L1 error (metres) averaged over the valid pixels (label ``> 0``).

    Introduced in notebook 11.
    """
    t = tf.cast(y_true, y_pred.dtype)[..., 0]
    return _masked_mean(tf.abs(y_pred[..., 0] - t), t > 0)


def normals_loss(y_true, y_pred):
    """Per-example ``1 - <n*, n>`` (the papers' cosine loss, the label as stored) averaged
    over the valid pixels (non-zero labels).

    Introduced in notebook 11.
    """
    t = tf.cast(y_true, y_pred.dtype)
    dot = tf.reduce_sum(t * y_pred, axis=-1)
    return _masked_mean(1.0 - dot, tf.norm(t, axis=-1) > 1e-6)


# ----------------------------------------------------------------------- the kinds
def _checked(y: tf.Tensor, bad: tf.Tensor, message: str) -> tf.Tensor:
    """``y``, after checking that no element of ``bad`` is True: a ``ValueError`` with
    ``message`` now (eager), or an assertion that fails with it when the graph runs."""
    if tf.executing_eagerly():
        if bool(tf.reduce_any(bad)):
            raise ValueError(message)
        return y
    with tf.control_dependencies([tf.debugging.Assert(tf.logical_not(tf.reduce_any(bad)),
                                                      [message])]):
        return tf.identity(y)


def _reading_field() -> TaskField:
    return TaskField("focal", "how a zoom is read, one of " + ", ".join(ZOOM_READINGS)
                     + " (shared by the depth and normals tasks of a policy)")


class DenseKind(LabelKind):
    """Base of the dense kinds: a label per pixel, warped with the image, never mixed
    (MixUp/CutMix are refused), predicted by a small convolutional head upsampled to the
    image size. Subclasses say how many channels, how to warp and how to score.

    Introduced in notebook 11.
    """

    pool = "none"
    mixable = False
    uncertainty_coefficient = 1.0
    channels = 1
    head_kernel = 1  # 1x1 convolutions on the decoder's map (a 3x3 one cost 1.3x the step)

    def label_shape(self, task, image_shape):
        return (int(image_shape[0]), int(image_shape[1]), self.channels)

    def output_units(self, task):
        return self.channels

    def validate(self, task):
        if "zoom_reading" in self.fields and task.zoom_reading not in ZOOM_READINGS:
            raise ValueError(f"Task {task.name!r}: unknown zoom_reading {task.zoom_reading!r}; "
                             f"choose one of {', '.join(ZOOM_READINGS)}.")

    def describe(self, task):
        return (f", zoom read as {task.zoom_reading!r}" if "zoom_reading" in self.fields
                else "")

    def output_activation(self, task, name: str):
        """The head's last layer, named ``name`` (the task's output)."""
        return layers.Activation(self.activation, name=name)

    def head(self, task, features, image_shape, pool, hidden=64, dropout=0.0):
        h, w = int(image_shape[0]), int(image_shape[1])
        x = layers.Conv2D(hidden // 2, self.head_kernel, padding="same", activation="relu",
                          name=f"{task.name}_head_conv")(features)
        x = layers.Conv2D(self.output_units(task), 1, name=f"{task.name}_head_logits")(x)
        if x.shape[1] != h or x.shape[2] != w:
            x = layers.Resizing(h, w, interpolation="bilinear", name=f"{task.name}_head_up")(x)
        return self.output_activation(task, task.name)(x)

    def check_op(self, task, op, tasks):
        """Refuse a geometric op when the dense tasks of the policy read a zoom differently
        (their labels would disagree about the scene)."""
        declared = readings(tasks)
        if len(set(declared.values())) > 1:
            listed = ", ".join(f"{n} reads {r!r}" for n, r in declared.items())
            raise ValueError(
                f"op {op.name!r}: the dense tasks read a zoom differently ({listed}); their "
                "labels would describe different scenes. Declare one reading for all of "
                "them: scenes.with_zoom_reading(tasks, 'focal') (exact for crops, resizes and "
                "rotations), or 'closer' (depth divided by the zoom, normals made consistent).")

    def effect(self, task, op):
        return "warped"


class SegmentationKind(DenseKind):
    """Per-pixel classes ``(H, W, 1)`` int32, :data:`IGNORE` where a pixel has none; warped
    with nearest interpolation; scored by mean IoU (primary) and pixel accuracy.

    Introduced in notebook 11.
    """

    name = "segmentation"
    fields = {"num_classes": TaskField(None, "number of classes (at least 2)"),
              "class_names": TaskField(None, "one name per class, for tables and plots")}
    metric = "miou"
    higher_is_better = True
    metric_display = (100.0, "%")
    activation = "softmax"
    dtype = "int32"

    def validate(self, task):
        check_classes(task, "a segmentation task")

    def describe(self, task):
        return f", {task.num_classes} classes"

    def table_columns(self, task):
        return {"classes": task.num_classes}

    def output_units(self, task):
        return int(task.num_classes)

    def directions(self, task):
        return {"loss": False, "miou": True, "pixel_accuracy": True}

    def check(self, task, y, height, width):
        y = super().check(task, y, height, width)
        if y.dtype.is_floating:
            y = tf.cast(y, tf.int32)
        bad = (y < IGNORE) | (y >= task.num_classes)
        return _checked(y, bad, (
            f"label {task.name!r} (segmentation) has classes outside [0, {task.num_classes}) "
            f"and the ignore label {IGNORE}. Fix: map every pixel to a class index, and "
            f"pixels without a class to {IGNORE}."))

    def loss(self, task):
        return segmentation_loss

    def metrics(self, task):
        return [MeanIoU(task.num_classes, name="miou"),
                MeanIoU(task.num_classes, name="pixel_accuracy", pixel_accuracy=True)]

    def constant_baseline(self, task, train, labels):
        # each pixel's most frequent class in training
        t = train[..., 0].astype(int)
        counts = np.stack([(t == k).sum(0) for k in range(task.num_classes)], -1)
        prior = np.eye(task.num_classes, dtype=np.float32)[counts.argmax(-1)]
        metric = MeanIoU(task.num_classes)
        metric.update_state(labels, np.broadcast_to(prior, (*labels.shape[:3],
                                                            task.num_classes)))
        return float(metric.result())

    def move(self, task, y, matrices, height, width, hflip):
        m = geometry.warp_images(tf.cast(y, tf.float32), matrices, interpolation="nearest",
                                 fill_mode="constant", fill_value=float(IGNORE))
        return tf.cast(m, y.dtype), None

    def unmove(self, task, prediction, matrices, height, width, hflip):
        # class probabilities: warped back bilinearly
        return geometry.warp_images(tf.cast(prediction, tf.float32), geometry.invert(matrices),
                                    interpolation="bilinear", fill_mode="constant")

    def draw(self, ax, task, y, frame, color):
        classes = np.asarray(y)[..., 0]
        shown = np.ma.masked_less(classes, 0)
        ax.imshow(shown, cmap="tab10", vmin=0, vmax=9, alpha=0.45, interpolation="nearest")


class DepthKind(DenseKind):
    """Per-pixel depth ``(H, W, 1)``: metres along the optical axis (z), ``0`` where invalid
    (no surface, or outside the frame); warped with nearest interpolation, divided by the
    zoom under the ``"closer"`` and ``"research"`` readings. Scored by the absolute error
    (metres, primary) and the relative error on valid pixels; learned with an L1 loss.

    Introduced in notebook 11.
    """

    name = "depth"
    fields = {"zoom_reading": _reading_field()}
    metric = "abs_error"
    activation = "softplus"

    def directions(self, task):
        return {"loss": False, "abs_error": False, "rel_error": False}

    def check(self, task, y, height, width):
        y = super().check(task, y, height, width)
        bad = ~tf.math.is_finite(y) | (y < 0)
        return _checked(y, bad, (
            f"label {task.name!r} (depth) has negative or non-finite values; depth is in "
            "metres with 0 where it is invalid. Fix: set invalid pixels to 0 (not -1 or nan)."))

    def loss(self, task):
        return depth_loss

    def metrics(self, task):
        return [DepthError("abs_error"), DepthError("rel_error", relative=True)]

    def constant_baseline(self, task, train, labels):
        t = np.where(train > 0, train, np.nan)
        prior = np.nan_to_num(np.nanmean(t, axis=0), nan=float(np.nanmean(t)))
        metric = DepthError()
        metric.update_state(labels, np.broadcast_to(prior, labels.shape))
        return float(metric.result())

    def move(self, task, y, matrices, height, width, hflip):
        d = geometry.warp_images(tf.cast(y, tf.float32), matrices, interpolation="nearest",
                                 fill_mode="constant", fill_value=0.0)
        if task.zoom_reading != "focal":
            d = d / _per_pixel(zoom_scale(matrices))
        return tf.cast(d, y.dtype), None

    def effect(self, task, op):
        return "warped, scaled" if task.zoom_reading != "focal" and op.changes_scale else "warped"

    def draw(self, ax, task, y, frame, color):
        d = np.ma.masked_less_equal(np.asarray(y)[..., 0], 0)
        ax.imshow(d, cmap="viridis_r", interpolation="nearest")


class NormalsKind(DenseKind):
    """Per-pixel unit surface normals ``(H, W, 3)`` in the camera frame of ``convention``,
    ``0`` where invalid. Moved with the image: the valid vectors warped bilinearly and
    renormalised (``renormalize=False`` keeps the research code's shortened vectors),
    ``(nx, ny)`` turned with the camera (x negated by a mirror, y by a vertical flip), and
    tilted under the ``"closer"`` reading. Scored by the mean angle (degrees, primary),
    the median angle and the share within 11.25, 22.5 and 30 degrees; learned with the
    cosine loss.

    Introduced in notebook 11.
    """

    name = "normals"
    fields = {"zoom_reading": _reading_field(),
              "convention": TaskField("opencv", "camera frame of the vectors, one of "
                                                + ", ".join(NORMAL_CONVENTIONS)),
              "renormalize": TaskField(True, "renormalise vectors after interpolation "
                                             "(False: the research code's shortened ones)"),
              "focal_length": TaskField(None, "the camera's focal length in pixels (the "
                                              "'closer' reading of a crop needs it)")}
    metric = "mean_angle"
    channels = 3
    activation = "linear"

    def validate(self, task):
        super().validate(task)
        if task.convention not in NORMAL_CONVENTIONS:
            raise ValueError(f"Task {task.name!r}: unknown normals convention "
                             f"{task.convention!r}; choose one of "
                             + ", ".join(f"{k!r} ({v})" for k, v in NORMAL_CONVENTIONS.items())
                             + ".")
        if task.zoom_reading == "closer" and task.focal_length is None:
            raise ValueError(f"Task {task.name!r}: the 'closer' zoom reading needs the camera's "
                             "focal_length in pixels (to keep normals consistent with depth "
                             "under a crop); scenes.dense_tasks(...) sets it from the data.")

    def describe(self, task):
        return f"{super().describe(task)}, {task.convention} frame"

    def directions(self, task):
        out = {"loss": False, "mean_angle": False, "median_angle": False}
        out.update({within_name(t): True for t in ANGLE_THRESHOLDS})
        return out

    def check(self, task, y, height, width):
        y = super().check(task, y, height, width)
        length = tf.norm(y, axis=-1)
        bad = ~tf.math.is_finite(length) | ((length > 1e-6) & (tf.abs(length - 1.0) > 1e-3))
        return _checked(y, bad, (
            f"label {task.name!r} (normals) has vectors that are neither unit length nor zero; "
            "normals must be unit vectors, 0 where invalid. Fix: divide by their length "
            "(n / |n|) and set invalid pixels to 0."))

    def loss(self, task):
        return normals_loss

    def metrics(self, task):
        return ([NormalAngle("mean_angle"), NormalAngle("median_angle", "median")]
                + [NormalAngle(within_name(t), "within", t) for t in ANGLE_THRESHOLDS])

    def output_activation(self, task, name):
        return layers.UnitNormalization(axis=-1, name=name)

    def constant_baseline(self, task, train, labels):
        prior = normalize(tf.constant(np.asarray(train, np.float32).sum(0))).numpy()
        metric = NormalAngle()
        metric.update_state(labels, np.broadcast_to(prior, labels.shape))
        return float(metric.result())

    def move(self, task, y, matrices, height, width, hflip):
        n = tf.cast(y, tf.float32)
        if task.renormalize:
            valid = tf.cast(tf.norm(n, axis=-1, keepdims=True) > 1e-6, tf.float32)
            warped = geometry.warp_images(n * valid, matrices, interpolation="bilinear",
                                          fill_mode="constant")
            # valid where the nearest source pixel is (as depth and segmentation are)
            near = geometry.warp_images(valid, matrices, interpolation="nearest",
                                        fill_mode="constant")
            kept = (near > 0.5) & (tf.norm(warped, axis=-1, keepdims=True) > 1e-6)
            n = tf.where(kept, normalize(warped), tf.zeros_like(warped))
        else:
            n = geometry.warp_images(n, matrices, interpolation="bilinear",
                                     fill_mode="constant")
        if task.zoom_reading == "closer":
            n = closer_normals(n, matrices, height, width, task.focal_length, task.convention)
        else:  # focal, and research (normals read the zoom as a focal-length change)
            n = turn_normals(n, camera_turn(matrices), task.convention)
        return tf.cast(n, y.dtype), None

    def combine(self, task, predictions):
        return normalize(tf.reduce_mean(predictions, axis=0))

    def effect(self, task, op):
        if task.zoom_reading == "closer" and (op.changes_scale or op.name == "translate"):
            return "tilted"
        return "turned" if op.changes_orientation or op.mirrors else "warped"

    def draw(self, ax, task, y, frame, color):
        ax.imshow(normals_rgb(np.asarray(y), task.convention), interpolation="nearest")


def within_name(threshold: float) -> str:
    """The metric name of the share of normals within ``threshold`` degrees
    (``"within_11_25"``).

    Introduced in notebook 11.
    """
    return "within_" + f"{threshold:g}".replace(".", "_")


def normals_rgb(normals: np.ndarray, convention: str = "opencv") -> np.ndarray:
    """Normals as colours for display, ``(n + 1) / 2`` in the opencv frame (x red, y green,
    z blue), invalid pixels white.

    Introduced in notebook 11.
    """
    n = np.asarray(normals, np.float32)
    if convention == "opengl":
        n = n * np.array([1.0, -1.0, -1.0], np.float32)
    rgb = (n + 1.0) / 2.0
    valid = np.linalg.norm(n, axis=-1, keepdims=True) > 1e-6
    return np.clip(np.where(valid, rgb, 1.0), 0, 1)


def dense_kinds() -> Sequence[str]:
    """The names of the dense kinds (segmentation, depth, normals).

    Introduced in notebook 11.
    """
    return ("segmentation", "depth", "normals")


def is_dense(task: Task) -> bool:
    """Whether ``task``'s label is per pixel of one of the dense kinds.

    Introduced in notebook 11.
    """
    return isinstance(task.label_kind, DenseKind)


def readings(tasks: Mapping[str, Task]) -> dict[str, str]:
    """``{task: zoom_reading}`` of the tasks whose kind reads a zoom.

    Introduced in notebook 11.
    """
    return {n: t.zoom_reading for n, t in tasks.items()
            if is_dense(t) and "zoom_reading" in t.label_kind.fields}
