"""Multi-task MixUp and CutMix: one lambda per pair, applied to every label by its kind.

Class labels become soft and masks are blended or pasted; positions, angles and scalars have
no meaningful mix, so mixing them raises unless ``naive=True`` (labels pass untouched).

Introduced in notebook 04.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import tensorflow as tf

from mtl_utils.augment.core import MixingOp, expand, image_hw, split_seed, uniform
from mtl_utils.augment.runner import as_tasks, check_images, check_labels


def _beta(seed: tf.Tensor, n: Any, alpha: float) -> tf.Tensor:
    s1, s2 = split_seed(seed, 2)
    g1 = tf.random.stateless_gamma([n], s1, alpha)
    g2 = tf.random.stateless_gamma([n], s2, alpha)
    return tf.math.divide_no_nan(g1, g1 + g2)


def _partner(seed: tf.Tensor, n: Any) -> tf.Tensor:
    return tf.cast(tf.argsort(uniform(seed, n)), tf.int32)


def _box_params(boxes: Any, partner: Any, height: Any, width: Any) -> dict[str, tf.Tensor]:
    """Box masks ``(B, H, W, 1)`` and ``lam`` (the area kept) from ``(y0, x0, y1, x1)``."""
    boxes = tf.cast(tf.reshape(boxes, [-1, 4]), tf.int32)
    y0 = tf.clip_by_value(boxes[:, 0], 0, height)
    x0 = tf.clip_by_value(boxes[:, 1], 0, width)
    y1 = tf.clip_by_value(boxes[:, 2], y0, height)
    x1 = tf.clip_by_value(boxes[:, 3], x0, width)
    ys, xs = tf.range(height)[None, :], tf.range(width)[None, :]
    in_y = (ys >= y0[:, None]) & (ys < y1[:, None])
    in_x = (xs >= x0[:, None]) & (xs < x1[:, None])
    area = tf.cast((y1 - y0) * (x1 - x0), tf.float32)
    return {"box": (in_y[:, :, None] & in_x[:, None, :])[..., None],
            "lam": 1.0 - area / tf.cast(height * width, tf.float32),
            "partner": tf.reshape(tf.cast(partner, tf.int32), [-1])}


@dataclass(frozen=True)
class MixUp(MixingOp):
    """MixUp with ``lam ~ Beta(alpha, alpha)`` per pair (Zhang et al. 2018).

    Introduced in notebook 04.
    """

    alpha: float = 0.2
    name: ClassVar[str] = "mixup"
    limits: ClassVar[dict] = {"alpha": (1e-6, None)}

    def draw(self, seed, shape, strength=None):
        s_lam, s_perm = split_seed(seed, 2)
        return {"lam": _beta(s_lam, shape[0], self.alpha), "partner": _partner(s_perm, shape[0])}

    def mix_images(self, images, params):
        lam = expand(params["lam"])
        return lam * images + (1.0 - lam) * tf.gather(images, params["partner"])


@dataclass(frozen=True)
class CutMix(MixingOp):
    """CutMix (Yun et al. 2019): box of area ``(1 - lam) H W``, ``lam ~ Beta(alpha, alpha)``.

    The box centre is uniform over the image; the box is clipped at the borders and the
    labels use the area actually pasted. Introduced in notebook 04.
    """

    alpha: float = 1.0
    name: ClassVar[str] = "cutmix"
    limits: ClassVar[dict] = {"alpha": (1e-6, None)}

    def draw(self, seed, shape, strength=None):
        s_lam, s_perm, s_y, s_x = split_seed(seed, 4)
        n, hh, ww = shape[0], shape[1], shape[2]
        hf, wf = tf.cast(hh, tf.float32), tf.cast(ww, tf.float32)
        r = tf.sqrt(1.0 - _beta(s_lam, n, self.alpha))
        bh, bw = tf.round(r * hf), tf.round(r * wf)
        cy, cx = tf.floor(uniform(s_y, n) * hf), tf.floor(uniform(s_x, n) * wf)
        y0, x0 = cy - tf.floor(bh / 2), cx - tf.floor(bw / 2)
        boxes = tf.maximum(tf.cast(tf.stack([y0, x0, y0 + bh, x0 + bw], axis=1), tf.int32), 0)
        return _box_params(boxes, _partner(s_perm, n), hh, ww)

    def mix_images(self, images, params):
        return tf.where(params["box"], tf.gather(images, params["partner"]), images)


def _mix_batch(op: MixingOp, images, labels, tasks, params, naive):
    tasks = as_tasks(tasks)
    images = check_images(images)
    labels = check_labels(labels, tasks, images)
    if not naive:
        op.check_tasks(tasks)
    return op.mix(images, labels, params, tasks, naive)


@tf.autograph.experimental.do_not_convert
def mixup_batch(images: Any, labels: Mapping[str, Any], tasks: Any, lam: Any, partner: Any,
                *, naive: bool = False) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """MixUp with explicit parameters: ``x_i <- lam_i x_i + (1 - lam_i) x_partner[i]``.

    Args:
        lam: ``(B,)`` weights in ``[0, 1]`` on each example itself.
        partner: ``(B,)`` int indices of each example's partner.
        naive: mix images only, leave labels untouched.

    Returns:
        ``(images, labels)``; class labels become ``(B, num_classes)`` float32, masks float32.

    Raises:
        ValueError: a position/angle/scalar task (unless ``naive``), bad inputs.

    Introduced in notebook 04.
    """
    params = {"lam": tf.reshape(tf.cast(lam, tf.float32), [-1]),
              "partner": tf.reshape(tf.cast(partner, tf.int32), [-1])}
    return _mix_batch(MixUp(), images, labels, tasks, params, naive)


@tf.autograph.experimental.do_not_convert
def cutmix_batch(images: Any, labels: Mapping[str, Any], tasks: Any, boxes: Any,
                 partner: Any, *, naive: bool = False) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """CutMix with explicit boxes: paste ``partner[i]``'s box region into example ``i``.

    Args:
        boxes: ``(B, 4)`` int ``(y0, x0, y1, x1)`` half-open pixel boxes (clipped to the
            image). The label weight is ``lam = 1 - box_area / (H W)``, the area kept.
        partner, naive: as in :func:`mixup_batch`.

    Returns:
        ``(images, labels)``; class labels become ``(B, num_classes)`` float32 soft labels,
        masks keep their dtype (pasted, not blended).

    Raises:
        ValueError: a position/angle/scalar task (unless ``naive``), bad inputs.

    Introduced in notebook 04.
    """
    images = check_images(images)
    params = _box_params(boxes, partner, *image_hw(images))
    return _mix_batch(CutMix(), images, labels, tasks, params, naive)
