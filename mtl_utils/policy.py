"""The one interface of augmentation policies, image and text alike, and what a run returns.

A :class:`Policy` is called inside ``tf.data`` as ``policy(inputs, labels, seed)`` on a
batch. It declares its ``tasks``, the tasks whose labels it writes itself (:attr:`emits`),
whether it gives each task a view of its own (:attr:`views_per_task`) and the policy that
prepares validation and test batches (:meth:`~Policy.for_evaluation`). :meth:`Policy.run`
returns a :class:`PolicyRun`: the augmented batch *and* the transformation drawn for it
(a :class:`Transformation` per image view: forward matrices and flip flags per example),
so test-time augmentation, auxiliary labels and any later consumer read what was drawn
instead of replaying seeds. :func:`mtl_utils.data.to_dataset` and the experiments read
this interface only.

Introduced in notebook 04 (policies) and notebook 10 (the drawn transformation).
"""

from __future__ import annotations

import abc
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import tensorflow as tf

from . import geometry
from .tasks import Task, task_dict


# ----------------------------------------------------------------------------- seeds
def check_seed(seed: Any) -> tf.Tensor:
    """A stateless seed: an integer tensor of shape ``[2]`` (a Python int ``s`` becomes
    ``[0, s]``).

    Raises:
        TypeError: a seed that is not integer.
        ValueError: a seed of another shape, with the fix.

    Introduced in notebook 04.
    """
    seed = tf.convert_to_tensor([0, seed] if isinstance(seed, int) else seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"seed must be int32 or int64; got dtype {seed.dtype.name}.")
    if seed.shape.rank != 1 or seed.shape[0] not in (None, 2):
        raise ValueError(
            f"seed must have shape [2] (a stateless seed); got shape {seed.shape}. Zip the "
            "dataset with tf.data.Dataset.random(seed=...).batch(2).")
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def split_seed(seed: tf.Tensor, n: int) -> list[tf.Tensor]:
    """``n`` independent stateless seeds derived from ``seed`` (an op draws each of its
    random quantities from its own).

    Introduced in notebook 04.
    """
    if n <= 0:
        return []
    s = tf.random.experimental.stateless_split(seed, num=n)
    return [s[i] for i in range(n)]


# -------------------------------------------------------------------- what was drawn
@dataclass(frozen=True)
class Transformation:
    """The geometric transformation one image view of a batch went through.

    Attributes:
        matrices: ``(B, 3, 3)`` forward matrices in pixel-index coordinates (the
            composition of every geometric op of the view; the identity where none acted).
        hflip: ``(B,)`` booleans: the example is mirrored left-right (``flip_class_map``
            applies).
        height, width: the image size the matrices are for.

    Introduced in notebook 10.
    """

    matrices: tf.Tensor
    hflip: tf.Tensor
    height: Any
    width: Any

    @classmethod
    def identity(cls, n: Any, height: Any, width: Any) -> Transformation:
        """No transformation, for ``n`` images of ``height x width``."""
        return cls(geometry.eye(n), tf.zeros([n], tf.bool), height, width)

    def then(self, other: Transformation) -> Transformation:
        """This transformation followed by ``other`` (e.g. two composed policies)."""
        return Transformation(other.matrices @ self.matrices,
                              tf.math.logical_xor(self.hflip, other.hflip),
                              self.height, self.width)

    def warp(self, images: tf.Tensor, fill_mode: str = "reflect") -> tf.Tensor:
        """``images`` warped by the matrices (bilinear)."""
        return geometry.warp_images(images, self.matrices, fill_mode=fill_mode)

    def move(self, labels: Mapping[str, tf.Tensor], tasks: Mapping[str, Task]
             ) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """Every label moved by its task's kind; ``(labels, visibility weights)``, the
        weights 0 where a position left the frame."""
        out, weights = {}, {}
        for name, y in labels.items():
            kind = tasks[name].label_kind
            out[name], visible = kind.move(tasks[name], y, self.matrices, self.height,
                                           self.width, self.hflip)
            weights[name] = tf.ones_like(self.matrices[:, 0, 0]) if visible is None else visible
        return out, weights

    def unmove(self, predictions: Mapping[str, tf.Tensor], tasks: Mapping[str, Task]
               ) -> dict[str, tf.Tensor]:
        """Predictions made on the transformed images, moved back to the original frame by
        each task's kind (test-time augmentation)."""
        return {name: tasks[name].label_kind.unmove(tasks[name], p, self.matrices, self.height,
                                                    self.width, self.hflip)
                for name, p in predictions.items()}


class PolicyRun(NamedTuple):
    """What one policy run returns.

    Attributes:
        inputs: the augmented batch, or ``{task: batch}`` for per-task views.
        labels: ``{task: labels}``, moved or mixed with the inputs; labels a policy writes
            itself (:attr:`Policy.emits`) included.
        weights: ``{task: (B,) float32}`` visibility weights (0 where a position left the
            frame; empty for text).
        transform: what was drawn: a :class:`Transformation` for an image view, the
            policy's own record for text (:class:`mtl_utils.text.TextTransformation`), or
            ``{task: ...}`` for per-task views.

    Introduced in notebook 10.
    """

    inputs: Any
    labels: dict[str, tf.Tensor]
    weights: dict[str, tf.Tensor]
    transform: Any


# ------------------------------------------------------------------------ the interface
class Policy(abc.ABC):
    """The interface every augmentation policy implements (image and text).

    Subclasses implement :meth:`check_batch` (validate one batch) and :meth:`call` (augment a
    checked batch with a checked seed); :meth:`run` and ``__call__`` do the rest.

    Args:
        tasks: the tasks whose labels the policy reads and moves.
        with_visibility: ``policy(...)`` also returns per-task visibility weights.

    Introduced in notebook 04.
    """

    #: True: ``inputs`` come back as ``{task: view}``, for a model with one input per task.
    views_per_task: ClassVar[bool] = False

    def __init__(self, tasks: Iterable[Task] | Mapping[str, Task], *,
                 with_visibility: bool = False) -> None:
        self.tasks: dict[str, Task] = task_dict(tasks)
        self.with_visibility = bool(with_visibility)

    @property
    def emits(self) -> tuple[str, ...]:
        """Tasks whose labels the policy writes itself (they need none in the data)."""
        return ()

    def for_evaluation(self) -> Policy | None:
        """The policy for validation and test batches: ``None`` (no augmentation) unless the
        policy writes labels that untransformed images need too (:attr:`emits`)."""
        return None

    @abc.abstractmethod
    def check_batch(self, inputs: Any, labels: Mapping[str, Any] | None
                    ) -> tuple[Any, dict[str, tf.Tensor]]:
        """``(inputs, labels)`` checked and converted; ``labels=None``: inputs only.

        Raises:
            ValueError / TypeError: a batch the policy cannot augment, naming the fix.
        """

    @abc.abstractmethod
    def call(self, inputs: Any, labels: Mapping[str, tf.Tensor], seed: tf.Tensor) -> PolicyRun:
        """Augment a checked batch with a checked seed (:meth:`run` checks both)."""

    def run(self, inputs: Any, labels: Mapping[str, Any] | None, seed: Any) -> PolicyRun:
        """Augment one batch and return what was drawn with it (:class:`PolicyRun`);
        ``labels=None`` augments the inputs alone (e.g. for test-time augmentation).

        Raises:
            ValueError / TypeError: as :meth:`check_batch`, or a bad seed.

        Introduced in notebook 10.
        """
        inputs, labels = self.check_batch(inputs, labels)
        return self.call(inputs, labels, check_seed(seed))

    # Plain Python over static shapes only: nothing for AutoGraph to convert.
    @tf.autograph.experimental.do_not_convert
    def __call__(self, inputs: Any, labels: Mapping[str, Any], seed: Any):
        """Augment one batch inside ``ds.map``: ``(inputs, labels)``, plus ``weights`` with
        ``with_visibility``.

        Raises:
            ValueError / TypeError: as :meth:`run`.
        """
        out = self.run(inputs, labels, seed)
        return (out.inputs, out.labels, out.weights) if self.with_visibility else out[:2]


# ------------------------------------------------------------- checks policies share
def check_invariance(op: str, tasks: Mapping[str, Task], naive_does: str = "") -> None:
    """Refuse an op that some task declares in ``not_invariant_to``.

    Raises:
        ValueError: naming the op, the task, and the three fixes (drop it, ``per_task``,
            ``naive=True``); ``naive_does`` says what the naive mode does instead.

    Introduced in notebook 04.
    """
    for t in tasks.values():
        if op in t.not_invariant_to:
            raise ValueError(
                f"op {op!r} would break task {t.name!r}'s label: the task declares "
                f"not_invariant_to={sorted(t.not_invariant_to)}. Fix: drop {op!r} from the "
                f"policy, use per_task(...) so only the tasks that tolerate it get it, or "
                f"build with naive=True to apply it anyway{naive_does} (to show what goes "
                "wrong).")


def check_task_names(names: Iterable[str], tasks: Mapping[str, Task], what: str) -> None:
    """Raise ``ValueError`` ``"{what} unknown task 'x'; tasks are [...]"`` for the first
    name that is not one of ``tasks``.

    Introduced in notebook 04.
    """
    unknown = [n for n in names if n not in tasks]
    if unknown:
        raise ValueError(f"{what} unknown task {unknown[0]!r}; tasks are {list(tasks)}.")


def check_views(views: Mapping[str, Any], tasks: Mapping[str, Task], view_type: type,
                what: str = "policy") -> None:
    """Check per-task views: one per task, each a ``view_type`` built for that task alone.

    Raises:
        ValueError: a view for an unknown task, a task without a view, or a view built for
            other tasks.

    Introduced in notebook 04.
    """
    check_task_names(views, tasks, "per-task view for")
    missing = [t for t in tasks if t not in views]
    if missing:
        raise ValueError(f"task {missing[0]!r} has no view; give every task one (an empty op "
                         "list is the identity view).")
    for name, view in views.items():
        if not isinstance(view, view_type) or list(view.tasks) != [name]:
            raise ValueError(f"the view for task {name!r} must be a {what} built for exactly "
                             f"that task (got {view!r}).")
