"""Warp a batch with given matrices and move its labels: the explicit-parameter entry points
(policies draw their own matrices; these take yours, e.g. the legacy generator's).

Introduced in notebook 04.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from mtl_utils.augment.core import image_hw
from mtl_utils.augment.runner import as_tasks, check_images, check_labels
from mtl_utils.policy import Transformation
from mtl_utils.tasks import Task


def transform_labels(labels: Mapping[str, tf.Tensor], matrices: tf.Tensor,
                     tasks: Mapping[str, Task], height: Any, width: Any,
                     hflip: tf.Tensor | None = None
                     ) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """Move every label through forward ``matrices`` by its task's kind (:mod:`mtl_utils.kinds`).

    Returns:
        ``(labels, weights)``: moved labels, and ``{task: (B,) float32}`` that is 0 where a
        position left the frame ``[0, 1]^2`` and 1 elsewhere.
    """
    return Transformation(matrices, hflip, height, width).move(labels, tasks)


@tf.autograph.experimental.do_not_convert
def apply_affine(images: Any, labels: Mapping[str, Any], matrices: Any,
                 tasks: Any, *, hflip: Any = None, fill_mode: str = "reflect",
                 naive: bool = False, with_visibility: bool = False):
    """Warp images once and move every task's label with the same matrices.

    Args:
        matrices: ``(B, 3, 3)`` forward matrices, e.g. from
            :func:`~mtl_utils.geometry.affine_matrix`.
        hflip: optional ``(B,)`` booleans: which examples were mirrored left-right, so
            ``flip_class_map`` applies. ``None``: no class is re-mapped.
        fill_mode: image fill outside the frame (masks always fill with 0).
        naive: transform the image only and pass labels through untouched.
        with_visibility: return ``(images, labels, weights)`` (weights as in
            :func:`transform_labels`) instead of ``(images, labels)``.

    Raises:
        ValueError / TypeError: bad image rank or dtype, a missing or unknown label.

    Introduced in notebook 04.
    """
    tasks = as_tasks(tasks)
    images = check_images(images)
    labels = check_labels(labels, tasks, images)
    n = tf.shape(images)[0]
    matrices = tf.broadcast_to(tf.cast(tf.convert_to_tensor(matrices), tf.float32),
                               tf.stack([n, 3, 3]))
    if hflip is not None:
        hflip = tf.broadcast_to(tf.reshape(tf.cast(hflip, tf.bool), [-1]), [n])
    transform = Transformation(matrices, hflip, *image_hw(images))
    out = transform.warp(images, fill_mode)
    new, weights = (dict(labels), {}) if naive else transform.move(labels, tasks)
    weights = {k: weights.get(k, tf.ones([n])) for k in labels}
    return (out, new, weights) if with_visibility else (out, new)
