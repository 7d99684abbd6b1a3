"""Geometric ops: each draws one forward matrix per example (about the image centre);
in random policies a per-example ``strength`` in ``[0, 1]`` replaces the uniform draw by
``±strength * range``.

Introduced in notebook 04.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import tensorflow as tf

from mtl_utils import geometry
from mtl_utils.augment.core import GeometricOp, coin, signed_unit, split_seed, uniform


@dataclass(frozen=True)
class _Flip(GeometricOp):
    p: float = 0.5

    def draw(self, seed, shape, strength=None):
        n = shape[0]
        on = tf.ones([n], tf.bool) if strength is not None else coin(seed, n, self.p)
        off = tf.zeros([n], tf.bool)
        hflip, vflip = (on, off) if self.mirrors else (off, on)
        return {"matrix": geometry.flip(hflip, vflip), "hflip": hflip, "on": on}


@dataclass(frozen=True)
class HFlip(_Flip):
    """Mirror left-right with probability ``p`` (class labels follow ``flip_class_map``).

    Introduced in notebook 04.
    """

    name: ClassVar[str] = "hflip"
    mirrors: ClassVar[bool] = True
    pool: ClassVar[dict] = {}
    word_map: ClassVar[dict] = {"left": "right", "right": "left"}


@dataclass(frozen=True)
class VFlip(_Flip):
    """Mirror top-bottom with probability ``p``.

    Introduced in notebook 04.
    """

    name: ClassVar[str] = "vflip"
    word_map: ClassVar[dict] = {"above": "below", "below": "above"}


@dataclass(frozen=True)
class Rotate(GeometricOp):
    """Rotate by ``U[-degrees, degrees]`` (counter-clockwise on screen for positive angles).

    Introduced in notebook 04.
    """

    degrees: float = 20.0
    p: float = 1.0
    name: ClassVar[str] = "rotate"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("degrees",)
    pool: ClassVar[dict] = {"degrees": 30.0}
    limits: ClassVar[dict] = {"degrees": (0.0, None)}

    def matrices(self, seed, n, height, width, strength):
        return geometry.rotation(signed_unit(seed, n, strength) * math.radians(self.degrees))


@dataclass(frozen=True)
class QuarterTurn(GeometricOp):
    """Turn by ``k`` quarter turns (``k * 90`` degrees, counter-clockwise on screen as
    :class:`Rotate`): with probability ``p`` the example is turned, ``k`` uniform in
    ``{1, 2, 3}``, else ``k = 0`` (the default ``p = 0.75`` makes ``k`` uniform in
    ``{0, 1, 2, 3}``). The matrices are exact (entries -1, 0 and 1), so on a square image
    the warp permutes the pixels exactly (``np.rot90(image, k)``); a non-square image turned
    an odd number of times loses its corners to the fill, as under :class:`Rotate`. With a
    strength (random policies) every example is turned: a turn has no magnitude.

    Its text hook rewrites the relation phrases as the turn moved the objects. One quarter
    turn (:attr:`word_map`, whose keys and values are phrases of whole tokens) takes what
    was left of another object below it (``"left of"`` -> ``"below"``), right of to above,
    above to left of and below to right of; ``k`` turns apply that map ``k`` times (two swap
    left/right and above/below, three undo one).

    Introduced in notebook 12.
    """

    p: float = 0.75
    name: ClassVar[str] = "quarter_turn"
    # pool stays None: RandAugment's and TrivialAugment's pool keep their published ops, and
    # a turn has no magnitude to scale.
    #: One counter-clockwise quarter turn's rule, phrase to phrase (the scenes' grammar says
    #: "left of" but "above"); :meth:`transform_text` applies it k times.
    word_map: ClassVar[dict] = {"left of": "below", "right of": "above",
                                "above": "left of", "below": "right of"}

    def draw(self, seed, shape, strength=None):
        n = shape[0]
        s_apply, s_k = split_seed(seed, 2)
        on = tf.ones([n], tf.bool) if strength is not None else coin(s_apply, n, self.p)
        k = tf.minimum(tf.cast(uniform(s_k, n, 1.0, 4.0), tf.int32), 3)
        k = tf.where(on, k, 0)
        # rounded: cos and sin of multiples of pi / 2 are exactly -1, 0 or 1 (+ 0: no -0)
        m = tf.round(geometry.rotation(tf.cast(k, tf.float32) * (math.pi / 2.0))) + 0.0
        return {"matrix": m, "hflip": tf.zeros([n], tf.bool), "on": on, "k": k}

    def text_turns(self, params, active, batch) -> tf.Tensor:
        """``(B,)`` int32: the quarter turns each example got (0 where the op did not act)."""
        acted = self.acted(params, active)
        return params["k"] if acted is None else tf.where(acted, params["k"], 0)

    def phrase_maps(self) -> list[dict[str, str]]:
        """The phrase maps of ``k = 0, 1, 2, 3`` quarter turns: :attr:`word_map` ``k`` times."""
        maps = [{a: a for a in self.word_map}]
        for _ in range(3):
            maps.append({a: self.word_map.get(b, b) for a, b in maps[-1].items()})
        return maps


@dataclass(frozen=True)
class Translate(GeometricOp):
    """Shift by ``U[-x, x] * W`` pixels right and ``U[-y, y] * H`` pixels down.

    With a strength ``s`` (random policies) the shift is ``s * (x W cos a, y H sin a)``
    for a random direction ``a``. Introduced in notebook 04.
    """

    x: float = 0.2
    y: float = 0.2
    p: float = 1.0
    name: ClassVar[str] = "translate"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("x", "y")
    pool: ClassVar[dict] = {"x": 0.3, "y": 0.3}
    limits: ClassVar[dict] = {"x": (0.0, None), "y": (0.0, None)}
    changes_orientation: ClassVar[bool] = False
    word_map: ClassVar[dict] = {}  # a shift keeps which object is left of which

    def matrices(self, seed, n, height, width, strength):
        wf, hf = tf.cast(width, tf.float32), tf.cast(height, tf.float32)
        if strength is None:
            sx, sy = split_seed(seed, 2)
            ux, uy = uniform(sx, n, -1.0, 1.0), uniform(sy, n, -1.0, 1.0)
        else:
            a = uniform(seed, n, 0.0, 2.0 * math.pi)
            ux, uy = strength * tf.cos(a), strength * tf.sin(a)
        return geometry.translation(ux * self.x * wf, uy * self.y * hf)


@dataclass(frozen=True)
class Shear(GeometricOp):
    """Shear by ``U[-degrees, degrees]`` in ImageDataGenerator's convention.

    Forward matrix ``[[1, tan phi], [0, 1 / cos phi]]`` (areas scale by ``1 / cos phi``).
    The legacy ``shear_range=0.2`` means 0.2 *degrees*; 0.2 radians is
    ``Shear(degrees=math.degrees(0.2))``. Introduced in notebook 04.
    """

    degrees: float = 10.0
    p: float = 1.0
    name: ClassVar[str] = "shear"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("degrees",)
    pool: ClassVar[dict] = {"degrees": math.degrees(0.3)}
    limits: ClassVar[dict] = {"degrees": (0.0, 90.0, ")")}
    changes_scale: ClassVar[bool] = True

    def matrices(self, seed, n, height, width, strength):
        return geometry.shear(signed_unit(seed, n, strength) * math.radians(self.degrees))


@dataclass(frozen=True)
class Zoom(GeometricOp):
    """Zoom with ImageDataGenerator's factors ``z ~ U[1 - range, 1 + range]`` (z > 1 zooms out).

    Content is scaled by ``1 / z``. ``isotropic=False`` (the legacy behaviour) draws ``zx``
    and ``zy`` independently. Introduced in notebook 04.
    """

    range: float = 0.2
    isotropic: bool = False
    p: float = 1.0
    name: ClassVar[str] = "zoom"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("range",)
    pool: ClassVar[dict] = {"range": 0.3, "isotropic": True}
    limits: ClassVar[dict] = {"range": (0.0, 1.0, ")")}
    changes_scale: ClassVar[bool] = True
    word_map: ClassVar[dict] = {}  # positive scales about the centre keep the order

    @property
    def changes_orientation(self) -> bool:  # an anisotropic zoom turns slanted directions
        return not self.isotropic

    def matrices(self, seed, n, height, width, strength):
        sx, sy = split_seed(seed, 2)
        zx = 1.0 + self.range * signed_unit(sx, n, strength)
        zy = zx if self.isotropic else 1.0 + self.range * signed_unit(sy, n, strength)
        return geometry.zoom(zx, zy)
