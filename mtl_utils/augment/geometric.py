"""Geometric ops: each samples one forward matrix per example (about the image centre).

A policy multiplies the matrices of its geometric ops (in the order listed: the first op
acts first), warps the image once, and moves every label with the product. Each op draws
its parameter uniformly from its range; inside RandAugment/TrivialAugment a per-example
``strength`` in ``[0, 1]`` replaces the draw by ``±strength * range``.

Introduced in notebook 04.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import tensorflow as tf

from mtl_utils.augment import _affine
from mtl_utils.augment._core import Op, coin, signed_unit, split_seed, uniform


def _check_p(op: str, p: float) -> None:
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"{op}: probability p must be in [0, 1]; got {p}.")


def _check_nonneg(op: str, field: str, v: float) -> None:
    if v < 0:
        raise ValueError(f"{op}: {field} must be >= 0; got {v}.")


class GeometricOp(Op):
    """Base of geometric ops: ``sample`` returns centred matrices and hflip flags."""

    stage: ClassVar[str] = "geometric"
    p: float

    def _params(self, seed: tf.Tensor, n: Any, height: Any, width: Any,
                strength: tf.Tensor | None) -> tf.Tensor:
        raise NotImplementedError

    def sample(self, seed: tf.Tensor, n: Any, height: Any, width: Any,
               strength: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """Per-example forward matrices about the centre, and hflip flags.

        Args:
            seed: stateless seed, shape ``[2]``.
            n: batch size.
            height, width: image size.
            strength: optional ``(n,)`` magnitudes in ``[0, 1]`` (random policies); the op
                is then always applied, at ``±strength * range``.

        Returns:
            ``((n, 3, 3) float32, (n,) bool)``.
        """
        s_apply, s_par = split_seed(seed, 2)
        m = self._params(s_par, n, height, width, strength)
        flags = tf.zeros([n], tf.bool)
        if strength is None and self.p < 1.0:
            on = coin(s_apply, n, self.p)
            m = tf.where(on[:, None, None], m, _affine.eye(n))
        return m, flags


@dataclass(frozen=True)
class HFlip(GeometricOp):
    """Mirror left-right with probability ``p`` (class labels follow ``flip_class_map``).

    Introduced in notebook 04.
    """

    p: float = 0.5
    name: ClassVar[str] = "hflip"

    def __post_init__(self) -> None:
        _check_p(self.name, self.p)

    def sample(self, seed, n, height, width, strength=None):
        on = tf.ones([n], tf.bool) if strength is not None else coin(seed, n, self.p)
        return _affine.flip(on, tf.zeros([n], tf.bool)), on


@dataclass(frozen=True)
class VFlip(GeometricOp):
    """Mirror top-bottom with probability ``p``.

    Introduced in notebook 04.
    """

    p: float = 0.5
    name: ClassVar[str] = "vflip"

    def __post_init__(self) -> None:
        _check_p(self.name, self.p)

    def sample(self, seed, n, height, width, strength=None):
        on = tf.ones([n], tf.bool) if strength is not None else coin(seed, n, self.p)
        return _affine.flip(tf.zeros([n], tf.bool), on), tf.zeros([n], tf.bool)


@dataclass(frozen=True)
class Rotate(GeometricOp):
    """Rotate by ``U[-degrees, degrees]`` (counter-clockwise on screen for positive angles).

    Introduced in notebook 04.
    """

    degrees: float = 20.0
    p: float = 1.0
    name: ClassVar[str] = "rotate"

    def __post_init__(self) -> None:
        _check_p(self.name, self.p)
        _check_nonneg(self.name, "degrees", self.degrees)

    def _params(self, seed, n, height, width, strength):
        return _affine.rotation(signed_unit(seed, n, strength) * math.radians(self.degrees))


@dataclass(frozen=True)
class Translate(GeometricOp):
    """Shift by ``U[-x, x] * W`` pixels right and ``U[-y, y] * H`` pixels down.

    With a strength ``s`` (random policies) the shift is ``s * (x W cos a, y H sin a)``
    for a random direction ``a``.

    Introduced in notebook 04.
    """

    x: float = 0.2
    y: float = 0.2
    p: float = 1.0
    name: ClassVar[str] = "translate"

    def __post_init__(self) -> None:
        _check_p(self.name, self.p)
        _check_nonneg(self.name, "x", self.x)
        _check_nonneg(self.name, "y", self.y)

    def _params(self, seed, n, height, width, strength):
        wf, hf = tf.cast(width, tf.float32), tf.cast(height, tf.float32)
        if strength is None:
            sx, sy = split_seed(seed, 2)
            ux, uy = uniform(sx, n, -1.0, 1.0), uniform(sy, n, -1.0, 1.0)
        else:
            a = uniform(seed, n, 0.0, 2.0 * math.pi)
            ux, uy = strength * tf.cos(a), strength * tf.sin(a)
        return _affine.translation(ux * self.x * wf, uy * self.y * hf)


@dataclass(frozen=True)
class Shear(GeometricOp):
    """Shear by ``U[-degrees, degrees]`` in ImageDataGenerator's convention.

    Forward matrix ``[[1, tan phi], [0, 1 / cos phi]]``. Note the unit: the legacy
    ``shear_range=0.2`` means 0.2 *degrees* (``Shear(degrees=0.2)``); 0.2 radians is
    ``Shear(degrees=math.degrees(0.2))`` (about 11.46).

    Introduced in notebook 04.
    """

    degrees: float = 10.0
    p: float = 1.0
    name: ClassVar[str] = "shear"

    def __post_init__(self) -> None:
        _check_p(self.name, self.p)
        if not 0.0 <= self.degrees < 90.0:
            raise ValueError(f"shear: degrees must be in [0, 90); got {self.degrees}.")

    def _params(self, seed, n, height, width, strength):
        return _affine.shear(signed_unit(seed, n, strength) * math.radians(self.degrees))


@dataclass(frozen=True)
class Zoom(GeometricOp):
    """Zoom with ImageDataGenerator's factors ``z ~ U[1 - range, 1 + range]`` (z > 1 zooms out).

    Content is scaled by ``1 / z``. ``isotropic=False`` (the legacy behaviour) draws ``zx``
    and ``zy`` independently; ``True`` uses one factor for both axes.

    Introduced in notebook 04.
    """

    range: float = 0.2
    isotropic: bool = False
    p: float = 1.0
    name: ClassVar[str] = "zoom"

    def __post_init__(self) -> None:
        _check_p(self.name, self.p)
        if not 0.0 <= self.range < 1.0:
            raise ValueError(f"zoom: range must be in [0, 1); got {self.range}.")

    def _params(self, seed, n, height, width, strength):
        sx, sy = split_seed(seed, 2)
        zx = 1.0 + self.range * signed_unit(sx, n, strength)
        zy = zx if self.isotropic else 1.0 + self.range * signed_unit(sy, n, strength)
        return _affine.zoom(zx, zy)
