"""Affine geometry on batches: matrices, their inverses, and one-pass image warps.

Coordinates are *pixel-index coordinates*: ``x`` to the right, ``y`` down, the centre of
pixel ``(row i, col j)`` at ``(x, y) = (j, i)``; a position label ``(px, py)`` in ``[0, 1]``
sits at ``x = px * W - 0.5``, ``y = py * H - 0.5``.

Matrices are *forward* ``(B, 3, 3)`` float32 affine maps: a point ``p`` of the input image
lands at ``M @ p`` in the output. Labels are mapped with ``M``; the image is warped with
``M^-1`` (each output pixel samples the input).

Introduced in notebook 04.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

FILL_MODES: tuple[str, ...] = ("reflect", "wrap", "constant", "nearest")

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
    """Forward shear by ``phi`` radians, ImageDataGenerator's convention: the inverse of its
    ``[[1, -sin phi], [0, cos phi]]``, ``[[1, tan phi], [0, 1 / cos phi]]``."""
    one, z = tf.ones_like(phi), tf.zeros_like(phi)
    return _mat(one, tf.tan(phi), z, z, 1.0 / tf.cos(phi), z)


def zoom(zx: tf.Tensor, zy: tf.Tensor) -> tf.Tensor:
    """Forward zoom with ImageDataGenerator's factors: content scaled by ``1 / z`` (``z > 1``
    zooms out)."""
    z = tf.zeros_like(zx)
    return _mat(1.0 / zx, z, z, z, 1.0 / zy, z)


def flip(hflip: tf.Tensor, vflip: tf.Tensor) -> tf.Tensor:
    """Forward flips (booleans): ``x -> -x`` and/or ``y -> -y`` about the centre."""
    sx, sy = tf.where(hflip, -1.0, 1.0), tf.where(vflip, -1.0, 1.0)
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
    """The shear angle, in degrees, of matrices from a shear op alone (see :func:`shear`);
    composed with other ops the value means nothing.

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

    The content is rotated, shifted, sheared, zoomed, then flipped, all about the image
    centre: ImageDataGenerator's order.

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

    Reproduces the legacy code path exactly (NumPy float64, then cast), quirks included: in
    Keras 3.15 ``tx`` moves content along *x* by ``-tx`` pixels, and the centre offsets are
    ``H/2 - 0.5`` for x and ``W/2 - 0.5`` for y (right on square images only).

    Args:
        params: one dict from ``ImageDataGenerator.get_random_transform`` or a list of them.

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
                raise ValueError(f"legacy parameter {key!r}={p[key]!r} is photometric, not an "
                                 "affine transform; remove it (use the brightness op instead).")
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
    """A ``(B, H, W, C)`` batch warped once through ``(B or 1, 3, 3)`` forward matrices
    (vectorized, graph friendly); same shape and dtype.

    Args:
        interpolation: ``"bilinear"`` or ``"nearest"``.
        fill_mode: how points outside the image are filled, one of :data:`FILL_MODES`
            (``"reflect"``, ``"wrap"``, ``"constant"``, ``"nearest"``).
        fill_value: value outside the image for ``fill_mode="constant"``.

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
