"""Photometric ops: change pixel values only; labels never move.

Images are float32 ``(B, H, W, C)`` in ``[0, 1]``; every op keeps them there (clipping
where it could leave the range). ``hue`` and ``saturation`` need RGB images (``C = 3``) and
raise a ``ValueError`` on ``C = 1`` when traced (or when a policy is built with
``channels=1``); ``grayscale`` is the identity on ``C = 1``. Per-example parameters are drawn
from each op's range; in random policies a per-example ``strength`` in ``[0, 1]`` sets them.

Introduced in notebook 04.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import tensorflow as tf

from mtl_utils.augment._core import (
    Op,
    batch_size,
    coin,
    expand,
    image_hw,
    signed_unit,
    split_seed,
    uniform,
    unit,
)

_LUMA = (0.299, 0.587, 0.114)


def _check(op: str, cond: bool, msg: str) -> None:
    if not cond:
        raise ValueError(f"{op}: {msg}")


def _luma(images: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(images * tf.constant(_LUMA, tf.float32), axis=-1, keepdims=True)


def _need_rgb(op: str, channels: int | None) -> None:
    if channels != 3:
        raise ValueError(
            f"op {op!r} needs RGB images (C=3); got C={channels}. "
            f"Drop {op!r} from the policy for grayscale data (random policies skip it "
            "automatically)."
        )


class PhotometricOp(Op):
    """Base of photometric ops: ``apply`` transforms the images, nothing else."""

    stage: ClassVar[str] = "photometric"
    p: float

    def _apply(self, images: tf.Tensor, seed: tf.Tensor, n: Any,
               strength: tf.Tensor | None) -> tf.Tensor:
        raise NotImplementedError

    def check_channels(self, channels: int) -> None:
        """Raise ``ValueError`` if the op cannot work on ``channels``-channel images."""
        return None

    def apply(self, images: tf.Tensor, seed: tf.Tensor,
              strength: tf.Tensor | None = None) -> tf.Tensor:
        """Apply to a batch; each example is changed with probability ``p``.

        Args:
            images: float32 ``(B, H, W, C)`` in ``[0, 1]``.
            seed: stateless seed of shape ``[2]``.
            strength: optional ``(B,)`` magnitudes in ``[0, 1]``; the op is then always
                applied at that strength (``p`` is ignored).

        Returns:
            The transformed batch (same shape).
        """
        self.check_channels(images.shape[-1])
        n = batch_size(images)
        s_apply, s_par = split_seed(seed, 2)
        out = self._apply(images, s_par, n, strength)
        if strength is None and self.p < 1.0:
            out = tf.where(expand(coin(s_apply, n, self.p)), out, images)
        return out


@dataclass(frozen=True)
class Brightness(PhotometricOp):
    """Add ``U[-delta, delta]`` to every pixel, then clip to ``[0, 1]``.

    Introduced in notebook 04.
    """

    delta: float = 0.2
    p: float = 1.0
    name: ClassVar[str] = "brightness"

    def __post_init__(self) -> None:
        _check(self.name, 0 <= self.p <= 1 and self.delta >= 0, "need delta >= 0, p in [0, 1].")

    def _apply(self, images, seed, n, strength):
        d = signed_unit(seed, n, strength) * self.delta
        return tf.clip_by_value(images + expand(d), 0.0, 1.0)


@dataclass(frozen=True)
class Contrast(PhotometricOp):
    """Scale deviations from each image's per-channel mean by ``U[1 - factor, 1 + factor]``.

    Introduced in notebook 04.
    """

    factor: float = 0.2
    p: float = 1.0
    name: ClassVar[str] = "contrast"

    def __post_init__(self) -> None:
        _check(self.name, 0 <= self.p <= 1 and 0 <= self.factor <= 1,
               "need factor in [0, 1], p in [0, 1].")

    def _apply(self, images, seed, n, strength):
        c = 1.0 + signed_unit(seed, n, strength) * self.factor
        mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        return tf.clip_by_value(mean + (images - mean) * expand(c), 0.0, 1.0)


@dataclass(frozen=True)
class Saturation(PhotometricOp):
    """Blend with the grayscale image: ``gray + (x - gray) * U[1 - factor, 1 + factor]``.

    RGB only. Introduced in notebook 04.
    """

    factor: float = 0.3
    p: float = 1.0
    name: ClassVar[str] = "saturation"

    def __post_init__(self) -> None:
        _check(self.name, 0 <= self.p <= 1 and 0 <= self.factor <= 1,
               "need factor in [0, 1], p in [0, 1].")

    def check_channels(self, channels):
        _need_rgb(self.name, channels)

    def _apply(self, images, seed, n, strength):
        s = 1.0 + signed_unit(seed, n, strength) * self.factor
        gray = _luma(images)
        return tf.clip_by_value(gray + (images - gray) * expand(s), 0.0, 1.0)


@dataclass(frozen=True)
class Hue(PhotometricOp):
    """Rotate hue by ``U[-delta, delta]`` turns of the colour circle (0.5 = 180 degrees).

    RGB only (HSV round trip). Introduced in notebook 04.
    """

    delta: float = 0.1
    p: float = 1.0
    name: ClassVar[str] = "hue"

    def __post_init__(self) -> None:
        _check(self.name, 0 <= self.p <= 1 and 0 <= self.delta <= 0.5,
               "need delta in [0, 0.5], p in [0, 1].")

    def check_channels(self, channels):
        _need_rgb(self.name, channels)

    def _apply(self, images, seed, n, strength):
        d = signed_unit(seed, n, strength) * self.delta
        hsv = tf.image.rgb_to_hsv(images)
        h = tf.math.floormod(hsv[..., :1] + expand(d), 1.0)
        return tf.clip_by_value(tf.image.hsv_to_rgb(tf.concat([h, hsv[..., 1:]], -1)), 0.0, 1.0)


@dataclass(frozen=True)
class Grayscale(PhotometricOp):
    """With probability ``p``, replace every channel by the luma (identity on ``C = 1``).

    Introduced in notebook 04.
    """

    p: float = 0.2
    name: ClassVar[str] = "grayscale"

    def __post_init__(self) -> None:
        _check(self.name, 0 <= self.p <= 1, "need p in [0, 1].")

    def _apply(self, images, seed, n, strength):
        if images.shape[-1] != 3:
            return images
        return tf.broadcast_to(_luma(images), tf.shape(images))


@dataclass(frozen=True)
class Noise(PhotometricOp):
    """Add Gaussian noise of standard deviation ``U[0, std]`` per example; clip to ``[0, 1]``.

    Introduced in notebook 04.
    """

    std: float = 0.05
    p: float = 1.0
    name: ClassVar[str] = "noise"

    def __post_init__(self) -> None:
        _check(self.name, 0 <= self.p <= 1 and self.std >= 0, "need std >= 0, p in [0, 1].")

    def _apply(self, images, seed, n, strength):
        s_sigma, s_noise = split_seed(seed, 2)
        sigma = unit(s_sigma, n, strength) * self.std
        eps = tf.random.stateless_normal(tf.shape(images), s_noise)
        return tf.clip_by_value(images + eps * expand(sigma), 0.0, 1.0)


@dataclass(frozen=True)
class Blur(PhotometricOp):
    """Gaussian blur with per-example ``sigma ~ U[0, sigma]`` pixels (separable, reflect pad).

    The kernel radius is ``ceil(2 * sigma)``. Introduced in notebook 04.
    """

    sigma: float = 1.0
    p: float = 1.0
    name: ClassVar[str] = "blur"

    def __post_init__(self) -> None:
        _check(self.name, 0 <= self.p <= 1 and 0 <= self.sigma <= 8,
               "need sigma in [0, 8] pixels, p in [0, 1].")

    def _apply(self, images, seed, n, strength):
        r = max(1, math.ceil(2.0 * self.sigma))
        h, w = images.shape[1], images.shape[2]
        if (h is not None and h <= r) or (w is not None and w <= r):
            raise ValueError(
                f"blur: kernel radius {r} px needs images larger than {r} px; got "
                f"{images.shape}. Use a smaller sigma.")
        sigma = tf.maximum(unit(seed, n, strength) * self.sigma, 1e-3)
        k = tf.range(-r, r + 1, dtype=tf.float32)
        wts = tf.exp(-0.5 * tf.square(k[None, :] / sigma[:, None]))
        wts = wts / tf.reduce_sum(wts, axis=1, keepdims=True)  # (B, 2r + 1)
        hh, ww = image_hw(images)
        x = tf.pad(images, [[0, 0], [r, r], [0, 0], [0, 0]], mode="REFLECT")
        x = tf.add_n([tf.reshape(wts[:, i], [-1, 1, 1, 1]) * x[:, i:i + hh]
                      for i in range(2 * r + 1)])
        x = tf.pad(x, [[0, 0], [0, 0], [r, r], [0, 0]], mode="REFLECT")
        x = tf.add_n([tf.reshape(wts[:, i], [-1, 1, 1, 1]) * x[:, :, i:i + ww]
                      for i in range(2 * r + 1)])
        x.set_shape(images.shape)
        return x


@dataclass(frozen=True)
class Cutout(PhotometricOp):
    """Erase one rectangle of ``size * H`` by ``size * W`` pixels at a random centre.

    The rectangle is clipped at the borders and filled with ``fill``. Image only: mask and
    position labels still describe the (now partly hidden) object; declare
    ``"cutout"`` in a task's ``not_invariant_to`` if that breaks it.

    Introduced in notebook 04.
    """

    size: float = 0.25
    fill: float = 0.5
    p: float = 1.0
    name: ClassVar[str] = "cutout"

    def __post_init__(self) -> None:
        _check(self.name, 0 <= self.p <= 1 and 0 <= self.size <= 1 and 0 <= self.fill <= 1,
               "need size, fill and p in [0, 1].")

    def _apply(self, images, seed, n, strength):
        s_y, s_x, s_s = split_seed(seed, 3)
        hh, ww = image_hw(images)
        hf, wf = tf.cast(hh, tf.float32), tf.cast(ww, tf.float32)
        side = unit(s_s, n, strength) * self.size if strength is not None else tf.fill(
            [n], tf.constant(self.size, tf.float32))
        cy, cx = uniform(s_y, n) * hf, uniform(s_x, n) * wf
        hy, hx = side * hf / 2.0, side * wf / 2.0
        ys = tf.range(hf)[None, :] + 0.5
        xs = tf.range(wf)[None, :] + 0.5
        in_y = tf.abs(ys - cy[:, None]) < hy[:, None]  # (B, H)
        in_x = tf.abs(xs - cx[:, None]) < hx[:, None]  # (B, W)
        box = tf.logical_and(in_y[:, :, None], in_x[:, None, :])[..., None]
        return tf.where(box, tf.constant(self.fill, tf.float32), images)
