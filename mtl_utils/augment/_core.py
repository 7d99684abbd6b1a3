"""Shared plumbing of :mod:`mtl_utils.augment`: op vocabulary, input checks, seeds.

Everything here works on whole batches inside a traced ``tf.data`` map function: checks
read static shapes only, random draws are stateless and keyed by a shape-``[2]`` seed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, ClassVar

import tensorflow as tf

from mtl_utils.tasks import Task, task_dict

GEOMETRIC_OPS: tuple[str, ...] = ("hflip", "vflip", "rotate", "translate", "zoom", "shear")
PHOTOMETRIC_OPS: tuple[str, ...] = (
    "brightness", "contrast", "hue", "saturation", "grayscale", "noise", "blur", "cutout",
)
MIXING_OPS: tuple[str, ...] = ("mixup", "cutmix")
OP_NAMES: tuple[str, ...] = ("identity", *GEOMETRIC_OPS, *PHOTOMETRIC_OPS, *MIXING_OPS)
COLOR_OPS: frozenset[str] = frozenset({"hue", "saturation"})  # need RGB (C=3)
FILL_MODES: tuple[str, ...] = ("reflect", "wrap", "constant", "nearest")
MIXABLE_KINDS: frozenset[str] = frozenset({"class", "mask"})


class Op:
    """Base class of augmentation ops; subclasses set ``name`` and ``stage``."""

    name: ClassVar[str] = ""
    stage: ClassVar[str] = ""  # "identity", "geometric", "photometric" or "mixing"


class Identity(Op):
    """The op that does nothing (RandAugment/TrivialAugment's "identity" choice).

    Introduced in notebook 04.
    """

    name: ClassVar[str] = "identity"
    stage: ClassVar[str] = "identity"

    def __repr__(self) -> str:
        return "Identity()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Identity)

    def __hash__(self) -> int:
        return hash("identity")


def check_op_names(names: Iterable[str], where: str) -> None:
    """Raise ``ValueError`` naming the unknown op and listing the known op names."""
    for n in names:
        if n not in OP_NAMES:
            raise ValueError(
                f"{where}: unknown augmentation op {n!r}. Known op names: "
                f"{', '.join(OP_NAMES)}."
            )


def as_tasks(tasks: Iterable[Task] | Mapping[str, Task] | Task) -> dict[str, Task]:
    """Tasks as ``{name: Task}``; also checks every ``not_invariant_to`` name is known."""
    if isinstance(tasks, Task):
        tasks = [tasks]
    out = task_dict(tasks)
    if not out:
        raise ValueError("a policy needs at least one Task (got none).")
    for t in out.values():
        check_op_names(sorted(t.not_invariant_to), f"Task {t.name!r} not_invariant_to")
    return out


def check_images(images: Any) -> tf.Tensor:
    """Images as a float32 ``(B, H, W, C)`` tensor with static rank and channels."""
    images = tf.convert_to_tensor(images)
    if images.shape.rank != 4:
        raise ValueError(
            f"images must be a 4-D batch (B, H, W, C); got shape {images.shape}. Batch the "
            "dataset before augmenting (ds.batch(b).map(policy)), or add a channel axis "
            "with images[..., None]."
        )
    if images.dtype != tf.float32:
        raise TypeError(
            f"images must be float32 in [0, 1]; got dtype {images.dtype.name}. Convert with "
            "tf.cast(images, tf.float32) / 255.0."
        )
    if images.shape[-1] is None:
        raise ValueError(
            f"images need a static channel count; got shape {images.shape}. Call "
            "images.set_shape([None, H, W, C]) or batch a dataset with known shapes."
        )
    return images


def check_labels(labels: Any, tasks: Mapping[str, Task], images: tf.Tensor) -> dict:
    """Labels as a dict holding exactly the policy's tasks, with per-kind static shapes."""
    if not isinstance(labels, Mapping):
        raise TypeError(
            f"labels must be a dict {{task_name: tensor}}; got {type(labels).__name__}. "
            "Map the dataset to (images, {task: label}) pairs first."
        )
    missing = [n for n in tasks if n not in labels]
    if missing:
        raise ValueError(
            f"labels are missing task {missing[0]!r} of this policy (labels have "
            f"{sorted(labels)}, the policy has tasks {list(tasks)}). Pass a label for every "
            "task, or build the policy with fewer tasks."
        )
    extra = [n for n in labels if n not in tasks]
    if extra:
        raise ValueError(
            f"label {extra[0]!r} has no Task in this policy (policy tasks: {list(tasks)}), so "
            "the policy cannot know how to move it (Keras layers would pass it through "
            "silently wrong). Add its Task to the policy's tasks."
        )
    out = {}
    h, w = images.shape[1], images.shape[2]
    for name, task in tasks.items():
        y = tf.convert_to_tensor(labels[name])
        shape = y.shape
        if task.kind == "class":
            ok = shape.rank == 1 or (
                shape.rank == 2 and shape[-1] in (None, task.num_classes))
            want = "(B,) class indices or (B, num_classes) soft labels"
        elif task.kind == "mask":
            ok = shape.rank == 4 and shape[-1] in (None, 1) and all(
                a is None or b is None or a == b for a, b in zip(shape[1:3], (h, w)))
            want = f"(B, {h}, {w}, 1)"
        else:
            n = 2 if task.kind == "position" else 1
            ok = shape.rank == 2 and shape[-1] in (None, n)
            want = f"(B, {n})"
        if not ok:
            raise ValueError(
                f"label {name!r} ({task.kind}) has shape {shape}; expected {want} for images "
                f"of shape {images.shape}."
            )
        if task.kind != "class" and not y.dtype.is_floating and task.kind != "mask":
            y = tf.cast(y, tf.float32)
        out[name] = y
    return out


def check_seed(seed: Any) -> tf.Tensor:
    """A stateless seed: an integer tensor of shape ``[2]`` (a Python int is widened)."""
    if isinstance(seed, int):
        seed = [0, seed]
    seed = tf.convert_to_tensor(seed)
    if not seed.dtype.is_integer:
        raise TypeError(f"seed must be int32 or int64; got dtype {seed.dtype.name}.")
    if seed.shape.rank != 1 or seed.shape[0] not in (None, 2):
        raise ValueError(
            f"seed must have shape [2] (a stateless seed); got shape {seed.shape}. Zip the "
            "dataset with tf.data.Dataset.random(seed=...).batch(2)."
        )
    if seed.dtype not in (tf.int32, tf.int64):
        seed = tf.cast(seed, tf.int64)
    return seed


def split_seed(seed: tf.Tensor, n: int) -> list[tf.Tensor]:
    """``n`` independent stateless seeds derived from ``seed``."""
    if n <= 0:
        return []
    s = tf.random.experimental.stateless_split(seed, num=n)
    return [s[i] for i in range(n)]


def batch_size(images: tf.Tensor) -> tf.Tensor:
    """The batch size (static Python int when known, else a scalar tensor)."""
    return images.shape[0] if images.shape[0] is not None else tf.shape(images)[0]


def image_hw(images: tf.Tensor) -> tuple[Any, Any]:
    """``(H, W)`` as Python ints when static, else scalar int tensors."""
    dyn = tf.shape(images)
    h = images.shape[1] if images.shape[1] is not None else dyn[1]
    w = images.shape[2] if images.shape[2] is not None else dyn[2]
    return h, w


def uniform(seed: tf.Tensor, n: Any, lo: float = 0.0, hi: float = 1.0) -> tf.Tensor:
    """``(n,)`` float32 draws from ``U[lo, hi)``."""
    return tf.random.stateless_uniform([n], seed, minval=lo, maxval=hi)


def coin(seed: tf.Tensor, n: Any, p: float) -> tf.Tensor:
    """``(n,)`` booleans, each True with probability ``p``."""
    if p >= 1.0:
        return tf.ones([n], tf.bool)
    if p <= 0.0:
        return tf.zeros([n], tf.bool)
    return uniform(seed, n) < p


def signed_unit(seed: tf.Tensor, n: Any, strength: tf.Tensor | None) -> tf.Tensor:
    """``U[-1, 1]`` draws, or ``±strength`` with a random sign when a strength is given."""
    if strength is None:
        return uniform(seed, n, -1.0, 1.0)
    sign = tf.where(uniform(seed, n) < 0.5, -1.0, 1.0)
    return sign * strength


def unit(seed: tf.Tensor, n: Any, strength: tf.Tensor | None) -> tf.Tensor:
    """``U[0, 1]`` draws, or ``strength`` itself when given."""
    if strength is None:
        return uniform(seed, n)
    return tf.broadcast_to(tf.cast(strength, tf.float32), [n])


def expand(v: tf.Tensor) -> tf.Tensor:
    """A ``(B,)`` tensor reshaped to ``(B, 1, 1, 1)`` to broadcast over images."""
    return tf.reshape(v, [-1, 1, 1, 1])


def ones_weights(tasks: Mapping[str, Task], n: Any) -> dict[str, tf.Tensor]:
    """Sample weights of 1 for every task."""
    return {name: tf.ones([n], tf.float32) for name in tasks}
