"""Beyond training-time augmentation: test-time augmentation that un-moves predictions by
kind (:func:`tta`), and the drawn transform as an auxiliary task (:func:`with_auxiliary`;
self-supervised label augmentation, Lee et al. 2020; AugSelf, Lee et al. 2021).

Introduced in notebook 10.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import tensorflow as tf

from mtl_utils.augment.policies import ImagePolicy, SharedPolicy
from mtl_utils.augment.runner import check_images, check_labels
from mtl_utils.policy import PolicyRun
from mtl_utils.tasks import Task

#: What an auxiliary task can be taught, the kind its task must have, and its value for an
#: untransformed image.
QUANTITIES: dict[str, tuple[str, float]] = {
    "scale": ("scalar", 1.0),  # sqrt|det A|: how much the content grew (a zoom out < 1)
    "flip": ("class", 0.0),  # 1 where the view is mirrored (det A < 0), else 0
    "rotation": ("angle", 0.0),  # how far the content turned, radians in [0, 2 pi)
}


def _quantity(name: str, matrices: tf.Tensor) -> tf.Tensor:
    a, b = matrices[:, 0, 0], matrices[:, 0, 1]
    d, e = matrices[:, 1, 0], matrices[:, 1, 1]
    det = a * e - b * d
    if name == "scale":
        return tf.sqrt(tf.abs(det))
    if name == "flip":
        return tf.cast(det < 0, tf.float32)
    return tf.math.floormod(tf.atan2(b, a), 2.0 * math.pi)


def _as_label(task: Task, name: str, value: tf.Tensor) -> tf.Tensor:
    if name == "flip":
        return tf.cast(value, tf.int32)
    if name == "scale":
        lo, hi = task.value_range
        return ((value - lo) / (hi - lo))[:, None]
    return value[:, None]


class AuxiliaryPolicy(ImagePolicy):
    """A shared policy that also labels each example with what it drew.

    Returns ``(images, labels)``: the main tasks' labels (moved by the policy) and one per
    auxiliary task, read from the transformation the policy's run returns (each example's
    composed matrix). Feed it labels of the main tasks only; ``emits`` names the tasks it
    writes.

    Args:
        policy: a :class:`~mtl_utils.augment.SharedPolicy` (its matrices are read back).
        auxiliary: ``{Task: quantity}``, the quantity one of :data:`QUANTITIES`.

    Raises:
        ValueError: an unknown quantity, a task whose kind does not fit it, a name that
            clashes with a main task, or a policy that is not shared.

    Introduced in notebook 10.
    """

    def __init__(self, policy: SharedPolicy, auxiliary: Mapping[Task, str]) -> None:
        if not isinstance(policy, SharedPolicy):
            raise ValueError(f"with_auxiliary needs a shared policy (shared(...)), got {policy!r}.")
        for task, quantity in auxiliary.items():
            if quantity not in QUANTITIES:
                raise ValueError(f"unknown auxiliary quantity {quantity!r} for task "
                                 f"{task.name!r}; choose one of {', '.join(QUANTITIES)}.")
            kind = QUANTITIES[quantity][0]
            if task.kind != kind or (quantity == "flip" and task.num_classes != 2):
                raise ValueError(f"auxiliary task {task.name!r} learns {quantity!r}, a {kind} "
                                 f"label{' with 2 classes' if quantity == 'flip' else ''}; it "
                                 f"is a {task.kind} task. Make it Task({task.name!r}, {kind!r}"
                                 f"{', num_classes=2' if quantity == 'flip' else ''}).")
            if task.name in policy.tasks:
                raise ValueError(f"auxiliary task {task.name!r} is also a main task of the "
                                 "policy; give it another name.")
        self.policy = policy
        self.auxiliary = {t.name: (t, q) for t, q in auxiliary.items()}
        super().__init__([*policy.tasks.values(), *auxiliary], with_visibility=False)

    @property
    def emits(self) -> tuple[str, ...]:
        """The tasks whose labels this policy writes (not read from the data)."""
        return tuple(self.auxiliary)

    def __repr__(self) -> str:
        aux = ", ".join(f"{n}: {q}" for n, (_, q) in self.auxiliary.items())
        return f"AuxiliaryPolicy({self.policy!r}, {{{aux}}})"

    def for_evaluation(self) -> AuxiliaryPolicy:
        """The same tasks with no op: labels for untransformed (validation, test) images."""
        return AuxiliaryPolicy(SharedPolicy([], self.policy.tasks),
                               {t: q for t, q in self.auxiliary.values()})

    def check_batch(self, inputs, labels):
        images = check_images(inputs)
        return images, {} if labels is None else check_labels(labels, self.policy.tasks, images)

    def call(self, inputs, labels, seed):
        out = self.policy.call(inputs, labels, seed)
        m = out.transform.matrices
        for name, (task, quantity) in self.auxiliary.items():
            out.labels[name] = _as_label(task, quantity, _quantity(quantity, m))
        return PolicyRun(out.inputs, out.labels, out.weights, out.transform)


def with_auxiliary(policy: SharedPolicy, auxiliary: Mapping[Task, str]) -> AuxiliaryPolicy:
    """``policy`` that also writes what it drew as labels of auxiliary tasks, e.g.
    ``with_auxiliary(shared([Zoom(0.3, isotropic=True)], tasks), {Task("zoom", "scalar",
    value_range=(0.6, 1.5)): "scale"})``; evaluate with :meth:`AuxiliaryPolicy.for_evaluation`
    (returns and raises as :class:`AuxiliaryPolicy`).

    Introduced in notebook 10.
    """
    return AuxiliaryPolicy(policy, auxiliary)


def tta(model: Any, images: np.ndarray, policy: SharedPolicy, views: int = 8, *,
        seed: int = 0, combine: str = "kind", include_original: bool = True,
        batch_size: int = 256) -> dict[str, np.ndarray]:
    """Test-time augmentation: every task's prediction from several views of each image.

    Each view applies ``policy`` with its own seed; with ``combine="kind"`` each task's
    prediction is mapped back to the original frame by its kind
    (:meth:`~mtl_utils.kinds.LabelKind.unmove`) before the views are combined; with
    ``combine="naive"`` the raw predictions are averaged as they are.

    Args:
        model: a model with one output per task of ``policy`` (``model.predict``).
        seed: seeds the views (view ``v`` uses ``[seed, v]``).
        include_original: also average the prediction on the image itself.

    Returns:
        ``{task: (N, ...) numpy array}`` in the original frame.

    Raises:
        ValueError: a mixing op in the policy, ``views < 1``, an unknown ``combine``, or
            images that are not a non-empty (N, H, W, C) batch.

    Introduced in notebook 10.
    """
    if combine not in ("kind", "naive"):
        raise ValueError(f"combine must be 'kind' or 'naive', got {combine!r}.")
    if int(views) < 1:
        raise ValueError(f"views must be >= 1, got {views}.")
    if not isinstance(policy, SharedPolicy) or any(o.stage == "mixing" for o in policy.ops):
        raise ValueError("tta needs a shared policy without mixing ops (a mixed image has no "
                         f"inverse); got {policy!r}.")
    tasks = policy.tasks
    images = np.asarray(images, np.float32)
    if images.ndim != 4 or not len(images):
        raise ValueError(f"images must be a non-empty (N, H, W, C) batch, got shape "
                         f"{images.shape}.")
    outputs = ({t: [p] for t, p in _predict(model, images, batch_size, tasks).items()}
               if include_original else {t: [] for t in tasks})
    for v in range(int(views)):
        view = policy.run(images, None, tf.constant([seed, v], tf.int64))
        predictions = _predict(model, view.inputs.numpy(), batch_size, tasks)
        if combine == "kind":  # each task's prediction back to the original frame
            predictions = view.transform.unmove(
                {t: tf.constant(p) for t, p in predictions.items()}, tasks)
        for t, p in predictions.items():
            outputs[t].append(p)
    return {t: np.asarray(tasks[t].label_kind.combine(tasks[t], tf.stack(
        [tf.cast(p, tf.float32) for p in ps]))) for t, ps in outputs.items()}


def _predict(model: Any, images: np.ndarray, batch_size: int,
             tasks: Mapping[str, Task]) -> dict[str, np.ndarray]:
    # Batches through predict_on_batch rather than predict: predict wraps the array in a
    # tf.data pipeline, which under op determinism logs a spurious NodeDef error line
    # (use_unbounded_threadpool) to stderr on every call; the predictions are the same.
    if not hasattr(model, "predict_on_batch"):  # any object with a Keras-style predict
        parts = [model.predict(images, batch_size=batch_size, verbose=0)]
    else:
        parts = [model.predict_on_batch(images[i:i + batch_size])
                 for i in range(0, len(images), batch_size)]
    if not isinstance(parts[0], Mapping):  # outputs in the policy's task order
        parts = [dict(zip(tasks, p if isinstance(p, (list, tuple)) else [p])) for p in parts]
    out = {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}
    missing = [t for t in tasks if t not in out]
    if missing:
        raise ValueError(f"the model has no output for task(s) {missing} of the policy; its "
                         f"outputs: {sorted(out)}.")
    return {t: np.asarray(out[t]) for t in tasks}
