"""Affine matrices, one-pass image warps, and the label transforms that follow them.

Coordinate convention (used by every function here): *pixel-index coordinates*, ``x`` to the
right (column index) and ``y`` down (row index); the centre of pixel ``(row i, col j)`` is at
``(x, y) = (j, i)``. A position label ``(px, py)`` in ``[0, 1]`` (pixel centre of column
``j`` at ``(j + 0.5) / W``) sits at ``x = px * W - 0.5``, ``y = py * H - 0.5``.

Matrices are *forward* ``(B, 3, 3)`` float32 affine maps: a point ``p`` of the input image
lands at ``M @ p`` in the output image. Labels are mapped with ``M``; the image is warped
with ``M^-1`` (each output pixel samples the input) by ``ImageProjectiveTransformV3``.

Introduced in notebook 04.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_utils.augment._core import FILL_MODES, as_tasks, check_images, check_labels
from mtl_utils.tasks import Task

TWO_PI = 2.0 * math.pi


# ----------------------------------------------------------------- matrix builders
def _vec(v: Any) -> tf.Tensor:
    return tf.reshape(tf.cast(tf.convert_to_tensor(v), tf.float32), [-1])


def _mat(a, b, c, d, e, f) -> tf.Tensor:
    """``(B, 3, 3)`` from six ``(B,)`` entries ``[[a, b, c], [d, e, f], [0, 0, 1]]``."""
    zero, one = tf.zeros_like(a), tf.ones_like(a)
    return tf.stack([tf.stack([a, b, c], -1), tf.stack([d, e, f], -1),
                     tf.stack([zero, zero, one], -1)], axis=-2)


def eye(n: Any) -> tf.Tensor:
    """``(n, 3, 3)`` identity matrices."""
    return tf.eye(3, batch_shape=[n], dtype=tf.float32)


def rotation(theta: tf.Tensor) -> tf.Tensor:
    """Forward rotation by ``theta`` radians, counter-clockwise on screen (y points down)."""
    c, s = tf.cos(theta), tf.sin(theta)
    z = tf.zeros_like(theta)
    return _mat(c, s, z, -s, c, z)


def translation(tx: tf.Tensor, ty: tf.Tensor) -> tf.Tensor:
    """Forward translation: content moves ``tx`` pixels right and ``ty`` pixels down."""
    one, z = tf.ones_like(tx), tf.zeros_like(tx)
    return _mat(one, z, tx, z, one, ty)


def shear(phi: tf.Tensor) -> tf.Tensor:
    """Forward shear by ``phi`` radians, ImageDataGenerator's convention.

    The legacy generator samples ``input = [[1, -sin phi], [0, cos phi]] @ output``; the
    forward map is its inverse ``[[1, tan phi], [0, 1 / cos phi]]`` (rows below the centre
    move right for ``phi > 0``).
    """
    one, z = tf.ones_like(phi), tf.zeros_like(phi)
    return _mat(one, tf.tan(phi), z, z, 1.0 / tf.cos(phi), z)


def zoom(zx: tf.Tensor, zy: tf.Tensor) -> tf.Tensor:
    """Forward zoom with ImageDataGenerator's factors: ``z > 1`` zooms out (content shrinks).

    Content is scaled by ``1 / zx`` horizontally and ``1 / zy`` vertically.
    """
    z = tf.zeros_like(zx)
    return _mat(1.0 / zx, z, z, z, 1.0 / zy, z)


def flip(hflip: tf.Tensor, vflip: tf.Tensor) -> tf.Tensor:
    """Forward flips (booleans): ``x -> -x`` and/or ``y -> -y`` about the centre."""
    sx = tf.where(hflip, -1.0, 1.0)
    sy = tf.where(vflip, -1.0, 1.0)
    z = tf.zeros_like(sx)
    return _mat(sx, z, z, z, sy, z)


def centered(m: tf.Tensor, height: Any, width: Any) -> tf.Tensor:
    """Turn matrices about the image centre into pixel-index coordinates: ``C m C^-1``."""
    cx = (tf.cast(width, tf.float32) - 1.0) / 2.0
    cy = (tf.cast(height, tf.float32) - 1.0) / 2.0
    a, b, tx = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, ty = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    return _mat(a, b, tx + cx - a * cx - b * cy, d, e, ty + cy - d * cx - e * cy)


def invert(m: tf.Tensor) -> tf.Tensor:
    """Inverse of ``(B, 3, 3)`` affine matrices (analytic, no ``linalg.inv``)."""
    a, b, c = m[:, 0, 0], m[:, 0, 1], m[:, 0, 2]
    d, e, f = m[:, 1, 0], m[:, 1, 1], m[:, 1, 2]
    det = a * e - b * d
    ia, ib, id_, ie = e / det, -b / det, -d / det, a / det
    return _mat(ia, ib, -(ia * c + ib * f), id_, ie, -(id_ * c + ie * f))


def shear_degrees(matrices: Any) -> np.ndarray:
    """The shear angle, in degrees, of matrices sampled from a shear op alone.

    A :class:`~mtl_utils.augment.Shear` of angle ``phi`` has the forward linear part
    ``[[1, tan phi], [0, 1 / cos phi]]`` (ImageDataGenerator's convention), so
    ``phi = atan(m[0, 1] / m[0, 0])``; composed with other ops the value means nothing.

    Introduced in notebook 04.
    """
    m = np.asarray(matrices, np.float64)
    return np.degrees(np.arctan2(np.abs(m[:, 0, 1]), m[:, 0, 0]))


def affine_matrix(
    height: int,
    width: int,
    *,
    rotation_deg: Any = 0.0,
    tx: Any = 0.0,
    ty: Any = 0.0,
    shear_deg: Any = 0.0,
    zx: Any = 1.0,
    zy: Any = 1.0,
    hflip: Any = False,
    vflip: Any = False,
) -> tf.Tensor:
    """Forward affine matrices from explicit parameters (scalars or ``(B,)`` arrays).

    The content is rotated, translated, sheared, zoomed, then flipped, all about the image
    centre: the order ImageDataGenerator applies them in.

    Args:
        height, width: image size in pixels.
        rotation_deg: counter-clockwise rotation on screen, degrees.
        tx, ty: content shift in pixels, right and down.
        shear_deg: ImageDataGenerator-style shear angle in degrees (see :func:`shear`).
        zx, zy: ImageDataGenerator zoom factors (``> 1`` zooms out), per axis.
        hflip, vflip: booleans, mirror left-right / top-bottom.

    Returns:
        ``(B, 3, 3)`` float32 forward matrices in pixel-index coordinates, ``B`` the
        broadcast length of the parameters (1 if all are scalars).

    Raises:
        ValueError: a zoom factor that is not positive (static values only).

    Introduced in notebook 04.
    """
    for name, z in (("zx", zx), ("zy", zy)):
        if isinstance(z, (int, float)) and z <= 0:
            raise ValueError(f"{name} must be > 0 (a zoom factor); got {z}.")
    params = [_vec(v) for v in (rotation_deg, tx, ty, shear_deg, zx, zy)]
    flips = [tf.reshape(tf.cast(tf.convert_to_tensor(v), tf.bool), [-1]) for v in (hflip, vflip)]
    zero = tf.zeros([1], tf.float32)
    for v in params + [tf.cast(f, tf.float32) for f in flips]:
        zero = zero + v * 0.0  # broadcast every parameter to the common batch length
    rot, tx_, ty_, sh, zx_, zy_ = [p + zero for p in params]
    hf, vf = [tf.logical_or(f, tf.cast(zero, tf.bool)) for f in flips]
    m = rotation(rot * (math.pi / 180.0))
    m = translation(tx_, ty_) @ m
    m = shear(sh * (math.pi / 180.0)) @ m
    m = zoom(zx_, zy_) @ m
    m = flip(hf, vf) @ m
    return centered(m, height, width)


def from_legacy_params(params: Mapping[str, Any] | Sequence[Mapping[str, Any]],
                       height: int, width: int) -> tf.Tensor:
    """Forward matrices equal to ImageDataGenerator's ``apply_transform(x, params)``.

    Reproduces the legacy code path exactly (NumPy, float64, then cast): its inverse map
    ``R(theta) @ S(tx, ty) @ Shear(shear) @ Z(zx, zy)`` offset to the centre, followed by
    the flips. Quirks kept on purpose: in Keras 3.15 ``tx`` (sampled from
    ``height_shift_range`` times the number of *rows*) moves content along *x*, by
    ``-tx`` pixels, and ``ty`` along y; the centre offsets use ``H/2 - 0.5`` for x and
    ``W/2 - 0.5`` for y (identical to the true centre on square images only).

    Args:
        params: one dict from ``ImageDataGenerator.get_random_transform`` (keys ``theta``,
            ``tx``, ``ty``, ``shear`` in degrees, ``zx``, ``zy``, ``flip_horizontal``,
            ``flip_vertical``) or a list of them.
        height, width: image size in pixels.

    Returns:
        ``(N, 3, 3)`` float32 forward matrices. Pass ``hflip=[p["flip_horizontal"] ...]``
        to :func:`apply_affine` so class flip maps apply.

    Raises:
        ValueError: photometric legacy parameters (``brightness``, channel shift) are set.

    Introduced in notebook 04.
    """
    if isinstance(params, Mapping):
        params = [params]
    out = []
    for p in params:
        for key in ("brightness", "channel_shift_intensity"):
            if p.get(key) is not None:
                raise ValueError(
                    f"legacy parameter {key!r}={p[key]!r} is photometric, not an affine "
                    "transform; remove it (use the brightness op instead)."
                )
        theta = np.deg2rad(float(p.get("theta", 0.0)))
        sh = np.deg2rad(float(p.get("shear", 0.0)))
        t = np.array([[np.cos(theta), -np.sin(theta), 0], [np.sin(theta), np.cos(theta), 0],
                      [0, 0, 1]])
        t = t @ np.array([[1, 0, float(p.get("tx", 0.0))], [0, 1, float(p.get("ty", 0.0))],
                          [0, 0, 1]])
        t = t @ np.array([[1, -np.sin(sh), 0], [0, np.cos(sh), 0], [0, 0, 1]])
        t = t @ np.diag([float(p.get("zx", 1.0)), float(p.get("zy", 1.0)), 1.0])
        ox, oy = height / 2 - 0.5, width / 2 - 0.5  # the legacy offsets, as written there
        t = (np.array([[1, 0, ox], [0, 1, oy], [0, 0, 1]]) @ t
             @ np.array([[1, 0, -ox], [0, 1, -oy], [0, 0, 1]]))
        fwd = np.linalg.inv(t)  # legacy t maps output (x, y) to input (x, y)
        fl = np.eye(3)
        if p.get("flip_horizontal", False):
            fl = np.array([[-1, 0, width - 1], [0, 1, 0], [0, 0, 1]]) @ fl
        if p.get("flip_vertical", False):
            fl = np.array([[1, 0, 0], [0, -1, height - 1], [0, 0, 1]]) @ fl
        out.append(fl @ fwd)
    return tf.constant(np.stack(out), tf.float32)


# --------------------------------------------------------------------------- warping
@tf.autograph.experimental.do_not_convert
def warp_images(images: Any, matrices: Any, *, interpolation: str = "bilinear",
                fill_mode: str = "reflect", fill_value: float = 0.0) -> tf.Tensor:
    """Warp a batch once through forward matrices (vectorized, graph friendly).

    Args:
        images: ``(B, H, W, C)`` tensor (any dtype the kernel takes; float32 for images).
        matrices: ``(B, 3, 3)`` or ``(1, 3, 3)`` forward matrices (see module docstring).
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_mode: one of ``"reflect"``, ``"wrap"``, ``"constant"``, ``"nearest"``.
        fill_value: value outside the image for ``fill_mode="constant"``.

    Returns:
        The warped batch, same shape and dtype.

    Raises:
        ValueError: unknown interpolation or fill mode, or images that are not 4-D.

    Introduced in notebook 04.
    """
    if fill_mode not in FILL_MODES:
        raise ValueError(f"unknown fill_mode {fill_mode!r}; choose one of {FILL_MODES}.")
    if interpolation not in ("bilinear", "nearest"):
        raise ValueError(
            f"unknown interpolation {interpolation!r}; choose 'bilinear' or 'nearest'.")
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(f"images must be 4-D (B, H, W, C); got shape {images.shape}.")
    inv = invert(tf.cast(matrices, tf.float32))
    n = tf.shape(images)[0]
    inv = tf.broadcast_to(inv, tf.stack([n, 3, 3]))
    transforms = tf.concat([tf.reshape(inv[:, :2, :], [-1, 6]), tf.zeros([n, 2])], axis=1)
    dyn = tf.shape(images)
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images, transforms=transforms, output_shape=dyn[1:3],
        fill_value=tf.cast(fill_value, tf.float32), interpolation=interpolation.upper(),
        fill_mode=fill_mode.upper())
    out.set_shape(images.shape)
    return out


# ---------------------------------------------------------------------- labels
def _wrap_angle(a: tf.Tensor) -> tf.Tensor:
    a = tf.math.floormod(a, TWO_PI)
    return tf.where(a >= TWO_PI, a - TWO_PI, a)


def flip_class_labels(y: tf.Tensor, task: Task, hflip: tf.Tensor) -> tf.Tensor:
    """Apply ``task.flip_class_map`` where ``hflip`` is True (index or soft labels)."""
    if task.flip_class_map is None:
        return y
    fmap = tf.constant(task.flip_class_map, tf.int32)
    if y.shape.rank == 1:
        mapped = tf.cast(tf.gather(fmap, tf.cast(y, tf.int32)), y.dtype)
        return tf.where(hflip, mapped, y)
    inv = np.argsort(np.asarray(task.flip_class_map))  # new column k comes from inv[k]
    return tf.where(hflip[:, None], tf.gather(y, inv, axis=1), y)


def transform_labels(labels: Mapping[str, tf.Tensor], matrices: tf.Tensor,
                     tasks: Mapping[str, Task], height: Any, width: Any,
                     hflip: tf.Tensor | None = None
                     ) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """Move every label through forward ``matrices`` by its task's kind.

    ``position`` is mapped (not clipped), ``mask`` warped with nearest interpolation and
    zero fill (dtype kept), scale-equivariant ``scalar`` multiplied in physical units by
    ``sqrt|det A|``, ``angle`` turned by the linear part ``A`` and wrapped to ``[0, 2 pi)``,
    ``class`` re-mapped by ``flip_class_map`` where ``hflip``.

    Returns:
        ``(labels, weights)``: moved labels, and ``{task: (B,) float32}`` that is 0 where a
        position left the frame ``[0, 1]^2`` and 1 elsewhere.
    """
    a, b, c = matrices[:, 0, 0], matrices[:, 0, 1], matrices[:, 0, 2]
    d, e, f = matrices[:, 1, 0], matrices[:, 1, 1], matrices[:, 1, 2]
    wf, hf = tf.cast(width, tf.float32), tf.cast(height, tf.float32)
    out, weights = {}, {}
    for name, y in labels.items():
        task = tasks[name]
        w = tf.ones_like(a)
        if task.kind == "class":
            if hflip is not None:
                y = flip_class_labels(y, task, hflip)
        elif task.kind == "position":
            x0 = tf.cast(y[:, 0], tf.float32) * wf - 0.5
            y0 = tf.cast(y[:, 1], tf.float32) * hf - 0.5
            nx = (a * x0 + b * y0 + c + 0.5) / wf
            ny = (d * x0 + e * y0 + f + 0.5) / hf
            w = tf.cast((nx >= 0) & (nx <= 1) & (ny >= 0) & (ny <= 1), tf.float32)
            y = tf.cast(tf.stack([nx, ny], axis=-1), y.dtype)
        elif task.kind == "mask":
            m = warp_images(tf.cast(y, tf.float32), matrices, interpolation="nearest",
                            fill_mode="constant", fill_value=0.0)
            y = tf.cast(m, y.dtype)
        elif task.kind == "scalar":
            if task.scale_equivariant:
                lo, hi = task.value_range
                scale = tf.sqrt(tf.abs(a * e - b * d))[:, None]
                phys = lo + tf.cast(y, tf.float32) * (hi - lo)
                y = tf.cast((phys * scale - lo) / (hi - lo), y.dtype)
        elif task.kind == "angle":
            ang = tf.cast(y[:, 0], tf.float32)
            cs, sn = tf.cos(ang), tf.sin(ang)
            new = _wrap_angle(tf.atan2(d * cs + e * sn, a * cs + b * sn))
            y = tf.cast(new[:, None], y.dtype)
        out[name] = y
        weights[name] = w
    return out, weights


@tf.autograph.experimental.do_not_convert
def apply_affine(images: Any, labels: Mapping[str, Any], matrices: Any,
                 tasks: Any, *, hflip: Any = None, fill_mode: str = "reflect",
                 naive: bool = False, with_visibility: bool = False):
    """Warp images once and move every task's label with the same matrices.

    Args:
        images: ``(B, H, W, C)`` float32 in ``[0, 1]``.
        labels: ``{task_name: (B, ...) tensor}`` holding exactly the tasks in ``tasks``.
        matrices: ``(B, 3, 3)`` forward matrices, e.g. from :func:`affine_matrix`.
        tasks: ``Task`` objects (list or dict) saying each label's kind.
        hflip: optional ``(B,)`` booleans: which examples were mirrored left-right, so
            ``flip_class_map`` applies. ``None``: no class is re-mapped.
        fill_mode: image fill outside the frame (masks always fill with 0).
        naive: transform the image only and pass labels through untouched (to teach what
            goes wrong).
        with_visibility: also return per-task sample weights (0 where a position left
            the frame).

    Returns:
        ``(images, labels)`` or ``(images, labels, weights)``.

    Raises:
        ValueError / TypeError: bad image rank or dtype, a missing or unknown label.

    Introduced in notebook 04.
    """
    tasks = as_tasks(tasks)
    images = check_images(images)
    labels = check_labels(labels, tasks, images)
    matrices = tf.cast(tf.convert_to_tensor(matrices), tf.float32)
    n = tf.shape(images)[0]
    matrices = tf.broadcast_to(matrices, tf.stack([n, 3, 3]))
    out = warp_images(images, matrices, fill_mode=fill_mode)
    if naive:
        weights = {k: tf.ones([n]) for k in labels}
        return (out, dict(labels), weights) if with_visibility else (out, dict(labels))
    if hflip is not None:
        hflip = tf.broadcast_to(tf.reshape(tf.cast(hflip, tf.bool), [-1]), [n])
    h, w = images.shape[1] or tf.shape(images)[1], images.shape[2] or tf.shape(images)[2]
    new, weights = transform_labels(labels, matrices, tasks, h, w, hflip)
    return (out, new, weights) if with_visibility else (out, new)
