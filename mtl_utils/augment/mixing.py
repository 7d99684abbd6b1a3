"""Multi-task MixUp and CutMix: one lambda per pair, applied to every mixable label.

Each example ``i`` is paired with ``partner[i]`` (a random permutation of the batch) and
mixed with weight ``lam[i]`` on itself. ``class`` labels become soft ``(B, num_classes)``
float32 labels ``lam * onehot(y_i) + (1 - lam) * onehot(y_partner)``; ``mask`` labels are
mixed (MixUp) or pasted with the same box (CutMix). Positions, angles and scalars have no
meaningful mix (the average of two positions is where neither object is), so mixing them
raises, unless ``naive=True`` (labels then pass through untouched).

Introduced in notebook 04.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

import tensorflow as tf

from mtl_utils.augment._core import (
    MIXABLE_KINDS,
    Op,
    as_tasks,
    batch_size,
    check_images,
    check_labels,
    expand,
    image_hw,
    split_seed,
    uniform,
)
from mtl_utils.tasks import Task


def check_mixable(op: str, tasks: Mapping[str, Task]) -> None:
    """Raise ``ValueError`` if ``op`` (``"mixup"``/``"cutmix"``) cannot mix some task's label."""
    for t in tasks.values():
        if t.kind not in MIXABLE_KINDS:
            raise ValueError(
                f"{op} is not defined for task {t.name!r} (kind {t.kind!r}): a mix of two "
                f"{t.kind} labels is not the label of the mixed image. Drop {op!r}, use "
                f"per_task(...) to give {op!r} only to class/mask tasks, or build with "
                "naive=True to mix images and leave labels untouched."
            )


def _soft(y: tf.Tensor, task: Task) -> tf.Tensor:
    if y.shape.rank == 1:
        return tf.one_hot(tf.cast(y, tf.int32), task.num_classes, dtype=tf.float32)
    return tf.cast(y, tf.float32)


def _mix_labels(labels, tasks, partner, lam, box):
    out = {}
    for name, y in labels.items():
        task = tasks[name]
        if task.kind == "class":
            s = _soft(y, task)
            out[name] = lam[:, None] * s + (1.0 - lam[:, None]) * tf.gather(s, partner)
        elif task.kind == "mask":
            other = tf.gather(y, partner)
            if box is None:
                out[name] = expand(lam) * tf.cast(y, tf.float32) + expand(1.0 - lam) * tf.cast(
                    other, tf.float32)
            else:
                out[name] = tf.where(box, other, y)
        else:
            check_mixable("mixing", {name: task})
    return out


@tf.autograph.experimental.do_not_convert
def mixup_batch(images: Any, labels: Mapping[str, Any], tasks: Any, lam: Any, partner: Any,
                *, naive: bool = False) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """MixUp with explicit parameters: ``x_i <- lam_i x_i + (1 - lam_i) x_partner[i]``.

    Args:
        images: float32 ``(B, H, W, C)``.
        labels: ``{task: (B, ...)}`` for exactly the tasks in ``tasks``.
        tasks: Task objects (list or dict).
        lam: ``(B,)`` weights in ``[0, 1]`` on each example itself.
        partner: ``(B,)`` int indices of each example's partner.
        naive: mix images only, leave labels untouched.

    Returns:
        ``(images, labels)``; class labels become ``(B, num_classes)`` float32, masks
        float32.

    Raises:
        ValueError: a position/angle/scalar task (unless ``naive``), bad inputs.

    Introduced in notebook 04.
    """
    tasks = as_tasks(tasks)
    images = check_images(images)
    labels = check_labels(labels, tasks, images)
    if not naive:
        check_mixable("mixup", tasks)
    lam = tf.reshape(tf.cast(lam, tf.float32), [-1])
    partner = tf.reshape(tf.cast(partner, tf.int32), [-1])
    mixed = expand(lam) * images + expand(1.0 - lam) * tf.gather(images, partner)
    if naive:
        return mixed, dict(labels)
    return mixed, _mix_labels(labels, tasks, partner, lam, None)


@tf.autograph.experimental.do_not_convert
def cutmix_batch(images: Any, labels: Mapping[str, Any], tasks: Any, boxes: Any,
                 partner: Any, *, naive: bool = False) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """CutMix with explicit boxes: paste ``partner[i]``'s box region into example ``i``.

    Args:
        images: float32 ``(B, H, W, C)``.
        labels: ``{task: (B, ...)}`` for exactly the tasks in ``tasks``.
        tasks: Task objects (list or dict).
        boxes: ``(B, 4)`` int ``(y0, x0, y1, x1)`` half-open pixel boxes (clipped to the
            image). The label weight is ``lam = 1 - box_area / (H W)``, the area actually
            kept.
        partner: ``(B,)`` int indices of each example's partner.
        naive: paste in images only, leave labels untouched.

    Returns:
        ``(images, labels)``; class labels become ``(B, num_classes)`` float32 soft labels,
        masks keep their dtype (pasted, not blended).

    Raises:
        ValueError: a position/angle/scalar task (unless ``naive``), bad inputs.

    Introduced in notebook 04.
    """
    tasks = as_tasks(tasks)
    images = check_images(images)
    labels = check_labels(labels, tasks, images)
    if not naive:
        check_mixable("cutmix", tasks)
    partner = tf.reshape(tf.cast(partner, tf.int32), [-1])
    hh, ww = image_hw(images)
    boxes = tf.cast(tf.reshape(boxes, [-1, 4]), tf.int32)
    y0 = tf.clip_by_value(boxes[:, 0], 0, hh)
    x0 = tf.clip_by_value(boxes[:, 1], 0, ww)
    y1 = tf.clip_by_value(boxes[:, 2], y0, hh)
    x1 = tf.clip_by_value(boxes[:, 3], x0, ww)
    ys, xs = tf.range(hh)[None, :], tf.range(ww)[None, :]
    in_y = (ys >= y0[:, None]) & (ys < y1[:, None])
    in_x = (xs >= x0[:, None]) & (xs < x1[:, None])
    box = (in_y[:, :, None] & in_x[:, None, :])[..., None]  # (B, H, W, 1)
    mixed = tf.where(box, tf.gather(images, partner), images)
    if naive:
        return mixed, dict(labels)
    area = tf.cast((y1 - y0) * (x1 - x0), tf.float32)
    lam = 1.0 - area / tf.cast(hh * ww, tf.float32)
    return mixed, _mix_labels(labels, tasks, partner, lam, box)


def _beta(seed: tf.Tensor, n: Any, alpha: float) -> tf.Tensor:
    s1, s2 = split_seed(seed, 2)
    g1 = tf.random.stateless_gamma([n], s1, alpha)
    g2 = tf.random.stateless_gamma([n], s2, alpha)
    return tf.math.divide_no_nan(g1, g1 + g2)


def _partner(seed: tf.Tensor, n: Any) -> tf.Tensor:
    return tf.cast(tf.argsort(uniform(seed, n)), tf.int32)


class MixingOp(Op):
    """Base of mixing ops (run last in a policy, after the warp and photometric ops)."""

    stage: ClassVar[str] = "mixing"

    def apply(self, images, labels, tasks, seed, naive=False):  # pragma: no cover
        raise NotImplementedError


@dataclass(frozen=True)
class MixUp(MixingOp):
    """MixUp with ``lam ~ Beta(alpha, alpha)`` per pair (Zhang et al. 2018).

    Introduced in notebook 04.
    """

    alpha: float = 0.2
    name: ClassVar[str] = "mixup"

    def __post_init__(self) -> None:
        if self.alpha <= 0:
            raise ValueError(f"mixup: alpha must be > 0; got {self.alpha}.")

    def apply(self, images: tf.Tensor, labels: Mapping[str, tf.Tensor],
              tasks: Mapping[str, Task], seed: tf.Tensor, naive: bool = False):
        """Mix the batch with random partners; returns ``(images, labels)``."""
        s_lam, s_perm = split_seed(seed, 2)
        n = batch_size(images)
        return mixup_batch(images, labels, tasks, _beta(s_lam, n, self.alpha),
                           _partner(s_perm, n), naive=naive)


@dataclass(frozen=True)
class CutMix(MixingOp):
    """CutMix (Yun et al. 2019): box of area ``(1 - lam) H W``, ``lam ~ Beta(alpha, alpha)``.

    The box centre is uniform over the image and the box is clipped at the borders; the
    labels use the area actually pasted.

    Introduced in notebook 04.
    """

    alpha: float = 1.0
    name: ClassVar[str] = "cutmix"

    def __post_init__(self) -> None:
        if self.alpha <= 0:
            raise ValueError(f"cutmix: alpha must be > 0; got {self.alpha}.")

    def apply(self, images: tf.Tensor, labels: Mapping[str, tf.Tensor],
              tasks: Mapping[str, Task], seed: tf.Tensor, naive: bool = False):
        """Paste boxes from random partners; returns ``(images, labels)``."""
        s_lam, s_perm, s_y, s_x = split_seed(seed, 4)
        n = batch_size(images)
        hh, ww = image_hw(images)
        hf, wf = tf.cast(hh, tf.float32), tf.cast(ww, tf.float32)
        r = tf.sqrt(1.0 - _beta(s_lam, n, self.alpha))
        bh, bw = tf.round(r * hf), tf.round(r * wf)
        cy, cx = tf.floor(uniform(s_y, n) * hf), tf.floor(uniform(s_x, n) * wf)
        y0, x0 = cy - tf.floor(bh / 2), cx - tf.floor(bw / 2)
        boxes = tf.cast(tf.stack([y0, x0, y0 + bh, x0 + bw], axis=1), tf.int32)
        boxes = tf.maximum(boxes, 0)
        return cutmix_batch(images, labels, tasks, boxes, _partner(s_perm, n), naive=naive)
