"""Photometric ops: change pixel values only (kept in ``[0, 1]``); labels never move.

``hue`` and ``saturation`` need RGB images and raise a ``ValueError`` on ``C = 1``;
``grayscale`` is the identity on ``C = 1``.

Introduced in notebook 04.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import tensorflow as tf

from mtl_utils.augment.core import (
    PhotometricOp,
    expand,
    image_hw,
    signed_unit,
    split_seed,
    uniform,
    unit,
)


def _luma(images: tf.Tensor) -> tf.Tensor:
    return tf.reduce_sum(images * tf.constant((0.299, 0.587, 0.114), tf.float32), axis=-1,
                         keepdims=True)


@dataclass(frozen=True)
class Brightness(PhotometricOp):
    """Add ``U[-delta, delta]`` to every pixel, then clip to ``[0, 1]``.

    Introduced in notebook 04.
    """

    delta: float = 0.2
    p: float = 1.0
    name: ClassVar[str] = "brightness"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("delta",)
    pool: ClassVar[dict] = {"delta": 0.3}
    limits: ClassVar[dict] = {"delta": (0.0, None)}

    def draw_params(self, seed, shape, strength):
        return {"delta": signed_unit(seed, shape[0], strength) * self.delta}

    def transform(self, images, params):
        return tf.clip_by_value(images + expand(params["delta"]), 0.0, 1.0)


@dataclass(frozen=True)
class Contrast(PhotometricOp):
    """Scale deviations from each image's per-channel mean by ``U[1 - factor, 1 + factor]``.

    Introduced in notebook 04.
    """

    factor: float = 0.2
    p: float = 1.0
    name: ClassVar[str] = "contrast"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("factor",)
    pool: ClassVar[dict] = {"factor": 0.9}
    limits: ClassVar[dict] = {"factor": (0.0, 1.0)}

    def draw_params(self, seed, shape, strength):
        return {"c": 1.0 + signed_unit(seed, shape[0], strength) * self.factor}

    def transform(self, images, params):
        mean = tf.reduce_mean(images, axis=[1, 2], keepdims=True)
        return tf.clip_by_value(mean + (images - mean) * expand(params["c"]), 0.0, 1.0)


@dataclass(frozen=True)
class Saturation(PhotometricOp):
    """Blend with the grayscale image: ``gray + (x - gray) * U[1 - factor, 1 + factor]``.

    RGB only. Introduced in notebook 04.
    """

    factor: float = 0.3
    p: float = 1.0
    name: ClassVar[str] = "saturation"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("factor",)
    needs_rgb: ClassVar[bool] = True
    pool: ClassVar[dict] = {"factor": 0.9}
    limits: ClassVar[dict] = {"factor": (0.0, 1.0)}

    def draw_params(self, seed, shape, strength):
        return {"s": 1.0 + signed_unit(seed, shape[0], strength) * self.factor}

    def transform(self, images, params):
        gray = _luma(images)
        return tf.clip_by_value(gray + (images - gray) * expand(params["s"]), 0.0, 1.0)


@dataclass(frozen=True)
class Hue(PhotometricOp):
    """Rotate hue by ``U[-delta, delta]`` turns of the colour circle (0.5 = 180 degrees).

    RGB only (HSV round trip). Introduced in notebook 04.
    """

    delta: float = 0.1
    p: float = 1.0
    name: ClassVar[str] = "hue"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("delta",)
    needs_rgb: ClassVar[bool] = True
    pool: ClassVar[dict] = {"delta": 0.15}
    limits: ClassVar[dict] = {"delta": (0.0, 0.5)}

    def draw_params(self, seed, shape, strength):
        return {"d": signed_unit(seed, shape[0], strength) * self.delta}

    def transform(self, images, params):
        hsv = tf.image.rgb_to_hsv(images)
        h = tf.math.floormod(hsv[..., :1] + expand(params["d"]), 1.0)
        return tf.clip_by_value(tf.image.hsv_to_rgb(tf.concat([h, hsv[..., 1:]], -1)), 0.0, 1.0)


@dataclass(frozen=True)
class Grayscale(PhotometricOp):
    """With probability ``p``, replace every channel by the luma (identity on ``C = 1``).

    Introduced in notebook 04.
    """

    p: float = 0.2
    name: ClassVar[str] = "grayscale"
    pool: ClassVar[dict] = {}

    def transform(self, images, params):
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
    magnitude_fields: ClassVar[tuple[str, ...]] = ("std",)
    pool: ClassVar[dict] = {"std": 0.1}
    limits: ClassVar[dict] = {"std": (0.0, None)}

    def draw_params(self, seed, shape, strength):
        s_sigma, s_noise = split_seed(seed, 2)
        return {"sigma": unit(s_sigma, shape[0], strength) * self.std,
                "eps": tf.random.stateless_normal(tf.stack(shape), s_noise)}

    def transform(self, images, params):
        return tf.clip_by_value(images + params["eps"] * expand(params["sigma"]), 0.0, 1.0)


@dataclass(frozen=True)
class Blur(PhotometricOp):
    """Gaussian blur with per-example ``sigma ~ U[0, sigma]`` pixels (separable, reflect pad).

    The kernel radius is ``ceil(2 * sigma)``. Introduced in notebook 04.
    """

    sigma: float = 1.0
    p: float = 1.0
    name: ClassVar[str] = "blur"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("sigma",)
    pool: ClassVar[dict] = {"sigma": 1.5}
    limits: ClassVar[dict] = {"sigma": (0.0, 8.0)}

    def draw_params(self, seed, shape, strength):
        return {"sigma": tf.maximum(unit(seed, shape[0], strength) * self.sigma, 1e-3)}

    def transform(self, images, params):
        r = max(1, math.ceil(2.0 * self.sigma))
        if any(d is not None and d <= r for d in images.shape[1:3]):
            raise ValueError(
                f"blur: kernel radius {r} px needs images larger than {r} px; got "
                f"{images.shape}. Use a smaller sigma.")
        k = tf.range(-r, r + 1, dtype=tf.float32)
        wts = tf.exp(-0.5 * tf.square(k[None, :] / params["sigma"][:, None]))
        wts = wts / tf.reduce_sum(wts, axis=1, keepdims=True)  # (B, 2r + 1)
        hh, ww = image_hw(images)
        x = tf.pad(images, [[0, 0], [r, r], [0, 0], [0, 0]], mode="REFLECT")
        x = tf.add_n([expand(wts[:, i]) * x[:, i:i + hh] for i in range(2 * r + 1)])
        x = tf.pad(x, [[0, 0], [0, 0], [r, r], [0, 0]], mode="REFLECT")
        x = tf.add_n([expand(wts[:, i]) * x[:, :, i:i + ww] for i in range(2 * r + 1)])
        x.set_shape(images.shape)
        return x


@dataclass(frozen=True)
class Cutout(PhotometricOp):
    """Erase one rectangle of ``size * H`` by ``size * W`` pixels at a random centre.

    The rectangle is clipped at the borders and filled with ``fill``. Labels still describe
    the (now partly hidden) object; declare ``"cutout"`` in a task's ``not_invariant_to`` if
    that breaks it. Introduced in notebook 04.
    """

    size: float = 0.25
    fill: float = 0.5
    p: float = 1.0
    name: ClassVar[str] = "cutout"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("size",)
    pool: ClassVar[dict] = {"size": 0.5}
    limits: ClassVar[dict] = {"size": (0.0, 1.0), "fill": (0.0, 1.0)}

    def draw_params(self, seed, shape, strength):
        s_y, s_x, s_s = split_seed(seed, 3)
        n, hf, wf = shape[0], tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)
        side = unit(s_s, n, strength) * self.size if strength is not None else tf.fill(
            [n], tf.constant(self.size, tf.float32))
        cy, cx = uniform(s_y, n) * hf, uniform(s_x, n) * wf
        hy, hx = side * hf / 2.0, side * wf / 2.0
        in_y = tf.abs(tf.range(hf)[None, :] + 0.5 - cy[:, None]) < hy[:, None]  # (B, H)
        in_x = tf.abs(tf.range(wf)[None, :] + 0.5 - cx[:, None]) < hx[:, None]  # (B, W)
        return {"box": tf.logical_and(in_y[:, :, None], in_x[:, None, :])[..., None]}

    def transform(self, images, params):
        return tf.where(params["box"], tf.constant(self.fill, tf.float32), images)
