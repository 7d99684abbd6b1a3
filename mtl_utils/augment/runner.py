"""Input checks and :func:`run_ops`, the one function that runs ops on a view of a batch:
every op draws its parameters, then each stage hook runs on every op in stage order
(geometric matrices composed and the image warped once, photometric, mixing).

Introduced in notebook 04.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import tensorflow as tf

from mtl_utils import geometry
from mtl_utils.augment.core import Op, batch_size, check_op_names, image_hw
from mtl_utils.policy import PolicyRun, Transformation
from mtl_utils.tasks import Task, task_dict


def as_tasks(tasks: Iterable[Task] | Mapping[str, Task] | Task) -> dict[str, Task]:
    """Tasks as ``{name: Task}``; also checks every ``not_invariant_to`` name is a known op.

    Raises:
        ValueError: no task, or an unknown op name in some ``not_invariant_to``.
    """
    out = task_dict([tasks] if isinstance(tasks, Task) else tasks)
    if not out:
        raise ValueError("a policy needs at least one Task (got none).")
    for t in out.values():
        check_op_names(sorted(t.not_invariant_to), f"Task {t.name!r} not_invariant_to")
    return out


def check_images(images: Any) -> tf.Tensor:
    """Images as a float32 ``(B, H, W, C)`` tensor with static rank and channels.

    Raises:
        ValueError / TypeError: another rank, dtype or an unknown channel count, with the fix.
    """
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(
            f"images must be a 4-D batch (B, H, W, C); got shape {images.shape}. Batch the "
            "dataset before augmenting (ds.batch(b).map(policy)), or add a channel axis "
            "with images[..., None].")
    if images.dtype != tf.float32:
        raise TypeError(
            f"images must be float32 in [0, 1]; got dtype {images.dtype.name}. Convert with "
            "tf.cast(images, tf.float32) / 255.0.")
    if images.shape[-1] is None:
        raise ValueError(
            f"images need a static channel count; got shape {images.shape}. Call "
            "images.set_shape([None, H, W, C]) or batch a dataset with known shapes.")
    return images


def check_labels(labels: Any, tasks: Mapping[str, Task], images: tf.Tensor) -> dict:
    """Labels as a dict holding exactly the tasks, each checked by its kind.

    Raises:
        ValueError / TypeError: not a dict, a missing or unknown task, a label of the wrong
            shape.
    """
    if not isinstance(labels, Mapping):
        raise TypeError(
            f"labels must be a dict {{task_name: tensor}}; got {type(labels).__name__}. "
            "Map the dataset to (images, {task: label}) pairs first.")
    missing = [n for n in tasks if n not in labels]
    if missing:
        raise ValueError(
            f"labels are missing task {missing[0]!r} of this policy (labels have "
            f"{sorted(labels)}, the policy has tasks {list(tasks)}). Pass a label for every "
            "task, or build the policy with fewer tasks.")
    extra = [n for n in labels if n not in tasks]
    if extra:
        raise ValueError(
            f"label {extra[0]!r} has no Task in this policy (policy tasks: {list(tasks)}), so "
            "the policy cannot know how to move it (Keras layers would pass it through "
            "silently wrong). Add its Task to the policy's tasks.")
    h, w = images.shape[1], images.shape[2]
    return {n: t.label_kind.check(t, tf.convert_to_tensor(labels[n]), h, w)
            for n, t in tasks.items()}


def run_ops(ops: Sequence[Op], seeds: Sequence[tf.Tensor], images: tf.Tensor,
            labels: Mapping[str, tf.Tensor], tasks: Mapping[str, Task], *,
            naive: bool = False, fill_mode: str = "reflect",
            strength: tf.Tensor | None = None, active: tf.Tensor | None = None,
            tokens: tf.Tensor | None = None, words: Sequence[str] = ()) -> PolicyRun:
    """Apply ``ops`` to one view of a batch, each with its own seed.

    Every op draws its parameters; then the stage hooks run on every op, in list order
    within a stage: the geometric ops' matrices (:meth:`~Op.matrix`) are composed and the
    image is warped once with every label moved by its kind (``naive``: labels untouched),
    then :meth:`~Op.transform_images`, then :meth:`~Op.mix`. ``active`` (``(B, len(ops))``
    booleans, random policies) applies op ``i`` only where ``active[:, i]``. ``tokens``
    (``(B, L)`` ids of a text about each image, ``words`` its vocabulary) go through every
    op's text hook (:meth:`~Op.transform_text`, in list order) with the op's draw, and the
    run's inputs are then ``{"image": images, "tokens": tokens}`` (notebook 12).

    Returns:
        A :class:`~mtl_utils.policy.PolicyRun` with per-task visibility weights and the
        view's :class:`~mtl_utils.policy.Transformation`.

    Introduced in notebook 04.
    """
    n = batch_size(images)
    h, w = image_hw(images)
    shape = (n, h, w, images.shape[-1])
    weights = {name: tf.ones([n], tf.float32) for name in tasks}
    draws = [op.draw(s, shape, strength) for op, s in zip(ops, seeds)]
    on = [None if active is None else active[:, i] for i in range(len(ops))]
    m, hflip, warped = geometry.eye(n), tf.zeros([n], tf.bool), False
    for op, params, a in zip(ops, draws, on):
        step = op.matrix(params, a)
        if step is not None:
            m, hflip, warped = step[0] @ m, tf.math.logical_xor(hflip, step[1]), True
    transform = Transformation(geometry.centered(m, h, w), hflip, h, w)
    if warped:
        images = transform.warp(images, fill_mode)
        if not naive:
            labels, moved = transform.move(labels, tasks)
            weights.update(moved)
    for op, params, a in zip(ops, draws, on):
        images = op.transform_images(images, params, a)
    for op, params in zip(ops, draws):
        images, labels = op.mix(images, labels, params, tasks, naive)
    if tokens is not None:
        for op, params, a in zip(ops, draws, on):
            tokens = op.transform_text(tokens, params, a, words)
        return PolicyRun({"image": images, "tokens": tokens}, dict(labels), weights, transform)
    return PolicyRun(images, dict(labels), weights, transform)
