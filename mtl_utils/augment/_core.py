"""The op interface, its vocabulary, input checks, seeds, and :func:`run_ops`, the one
function that runs ops (geometric composed and warped once, then photometric, then mixing).

Defining an op class with a ``name`` registers it in :data:`OP_CLASSES`, from which every
op list of the package is derived: a new op is one class (and one export).

Introduced in notebook 04.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import tensorflow as tf

from mtl_utils import geometry
from mtl_utils.tasks import Task, task_dict

#: Every op class by name, filled in as :class:`Op` subclasses with a ``name`` are defined.
OP_CLASSES: dict[str, type[Op]] = {}
STAGES: tuple[str, ...] = ("identity", "geometric", "photometric", "mixing")


class Op:
    """Base class of augmentation ops.

    Class attributes describe the op: ``name`` (registers the class), ``stage``,
    ``magnitude_fields`` (fields a RandAugment magnitude scales), ``needs_rgb``, ``pool``
    (parameters at full strength, magnitude 10; ``None`` keeps the op out of the random
    pool) and ``limits`` (``{field: (low, high)}``, inclusive; ``high`` may be ``None``; a
    third element ``")"`` makes ``high`` exclusive). Dataclass ops get their fields checked
    against ``limits`` (and ``p`` against ``[0, 1]``) when they are built.

    Introduced in notebook 04.
    """

    name: ClassVar[str] = ""
    stage: ClassVar[str] = ""
    magnitude_fields: ClassVar[tuple[str, ...]] = ()
    needs_rgb: ClassVar[bool] = False
    pool: ClassVar[Mapping[str, Any] | None] = None
    limits: ClassVar[Mapping[str, tuple]] = {}

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if cls.name:
            OP_CLASSES[cls.name] = cls

    def __post_init__(self) -> None:
        limits = dict(self.limits)
        if hasattr(self, "p"):
            limits.setdefault("p", (0.0, 1.0))
        for field, (lo, hi, *kind) in limits.items():
            v, open_hi = getattr(self, field), kind == [")"]
            if v < lo or (hi is not None and (v >= hi if open_hi else v > hi)):
                top = "inf)" if hi is None else f"{hi}{')' if open_hi else ']'}"
                raise ValueError(f"{self.name}: {field} must be in [{lo}, {top}; got {v}.")

    def draw(self, seed: tf.Tensor, shape: Sequence[Any], strength: tf.Tensor | None = None
             ) -> dict[str, Any]:
        """Draw this op's parameters for a batch of ``shape = (B, H, W, C)``, once.

        ``strength`` (``(B,)`` in ``[0, 1]``, random policies) replaces the draw by that
        fraction of the op's range, and the op is then always applied.
        """
        return {}

    def images(self, images: tf.Tensor, params: Mapping[str, Any]) -> tf.Tensor:
        """The image hook: the batch transformed with the drawn ``params``."""
        return images

    def labels(self, labels: Mapping[str, tf.Tensor], params: Mapping[str, Any],
               tasks: Mapping[str, Task]) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
        """The label hook: ``(labels, visibility weights)`` after the op (default: kept)."""
        return dict(labels), {}

    def check_tasks(self, tasks: Mapping[str, Task]) -> None:
        """Raise ``ValueError`` if the op cannot keep some task's label valid (beyond the
        tasks' own ``not_invariant_to``); mixing ops check that every kind can mix."""

    def at_strength(self, fraction: float) -> Op:
        """This op with its :attr:`magnitude_fields` times ``fraction`` (itself if none)."""
        if not self.magnitude_fields:
            return self
        return dataclasses.replace(self, **{f: getattr(self, f) * fraction
                                            for f in self.magnitude_fields})

    # Traits a geometric op's label effects read (see mtl_utils.kinds): overridden there.
    mirrors: ClassVar[bool] = False
    changes_scale: ClassVar[bool] = False
    changes_orientation: ClassVar[bool] = False


@dataclasses.dataclass(frozen=True)
class Identity(Op):
    """The op that does nothing (RandAugment/TrivialAugment's "identity" choice).

    Introduced in notebook 04.
    """

    name: ClassVar[str] = "identity"
    stage: ClassVar[str] = "identity"
    pool: ClassVar[Mapping[str, Any]] = {}


class GeometricOp(Op):
    """Base of geometric ops: subclasses implement :meth:`matrices` (one forward matrix per
    example, about the image centre) and set the traits label kinds read (``mirrors``,
    ``changes_scale``, ``changes_orientation``); the hooks warp and move every label."""

    stage: ClassVar[str] = "geometric"
    changes_orientation: ClassVar[bool] = True
    p: float = 1.0

    def matrices(self, seed: tf.Tensor, n: Any, height: Any, width: Any,
                 strength: tf.Tensor | None) -> tf.Tensor:
        """``(n, 3, 3)`` forward matrices about the centre, drawn within the op's range."""
        raise NotImplementedError

    def draw(self, seed, shape, strength=None):
        n, h, w = shape[0], shape[1], shape[2]
        s_apply, s_par = split_seed(seed, 2)
        m = self.matrices(s_par, n, h, w, strength)
        if strength is None and self.p < 1.0:
            m = tf.where(coin(s_apply, n, self.p)[:, None, None], m, geometry.eye(n))
        return {"matrix": m, "hflip": tf.zeros([n], tf.bool), "height": h, "width": w}

    def images(self, images, params):
        h, w = params["height"], params["width"]
        return geometry.warp_images(images, geometry.centered(params["matrix"], h, w))

    def labels(self, labels, params, tasks):
        h, w = params["height"], params["width"]
        return move_labels(labels, tasks, geometry.centered(params["matrix"], h, w), h, w,
                           params["hflip"])


class PhotometricOp(Op):
    """Base of photometric ops (pixel values only; labels kept): subclasses implement
    :meth:`draw_params` and :meth:`transform`; each example is changed with probability ``p``."""

    stage: ClassVar[str] = "photometric"
    p: float = 1.0

    def draw_params(self, seed: tf.Tensor, shape: Sequence[Any],
                    strength: tf.Tensor | None) -> dict[str, Any]:
        return {}

    def transform(self, images: tf.Tensor, params: Mapping[str, Any]) -> tf.Tensor:
        raise NotImplementedError

    def draw(self, seed, shape, strength=None):
        s_apply, s_par = split_seed(seed, 2)
        params = self.draw_params(s_par, shape, strength)
        if strength is None and self.p < 1.0:
            params["on"] = coin(s_apply, shape[0], self.p)
        return params

    def images(self, images, params):
        if self.needs_rgb and images.shape[-1] != 3:
            raise ValueError(
                f"op {self.name!r} needs RGB images (C=3); got C={images.shape[-1]}. Drop "
                f"{self.name!r} from the policy for grayscale data (random policies skip it "
                "automatically).")
        out = self.transform(images, params)
        return tf.where(expand(params["on"]), out, images) if "on" in params else out


class MixingOp(Op):
    """Base of mixing ops (run last): subclasses draw ``lam``, ``partner`` (and optionally
    ``box``) and mix the images; the label hook mixes every label by its kind."""

    stage: ClassVar[str] = "mixing"

    def check_tasks(self, tasks):
        for t in tasks.values():
            if not t.label_kind.mixable:
                raise ValueError(
                    f"{self.name} is not defined for task {t.name!r} (kind {t.kind!r}): a mix "
                    f"of two {t.kind} labels is not the label of the mixed image. Drop "
                    f"{self.name!r}, use per_task(...) to give {self.name!r} only to "
                    "class/mask tasks, or build with naive=True to mix images and leave "
                    "labels untouched.")

    def labels(self, labels, params, tasks):
        return {n: tasks[n].label_kind.mix(tasks[n], y, params["partner"], params["lam"],
                                           params.get("box"))
                for n, y in labels.items()}, {}


# --------------------------------------------------------------------- vocabulary
def op_names(stage: str | None = None) -> tuple[str, ...]:
    """Names of the registered ops, optionally of one stage: by stage (identity, geometric,
    photometric, mixing), then in the order the classes were defined."""
    ordered = sorted(OP_CLASSES.items(), key=lambda kv: STAGES.index(kv[1].stage))
    return tuple(n for n, c in ordered if stage is None or c.stage == stage)


def check_op_names(names: Iterable[str], where: str) -> None:
    """Raise ``ValueError`` naming the unknown op and listing the known op names."""
    for n in names:
        if n not in OP_CLASSES:
            raise ValueError(
                f"{where}: unknown augmentation op {n!r}. Known op names: "
                f"{', '.join(OP_CLASSES)}.")


def as_tasks(tasks: Iterable[Task] | Mapping[str, Task] | Task) -> dict[str, Task]:
    """Tasks as ``{name: Task}``; also checks every ``not_invariant_to`` name is known."""
    out = task_dict([tasks] if isinstance(tasks, Task) else tasks)
    if not out:
        raise ValueError("a policy needs at least one Task (got none).")
    for t in out.values():
        check_op_names(sorted(t.not_invariant_to), f"Task {t.name!r} not_invariant_to")
    return out


# ------------------------------------------------------------------------- checks
def check_images(images: Any) -> tf.Tensor:
    """Images as a float32 ``(B, H, W, C)`` tensor with static rank and channels."""
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
    """Labels as a dict holding exactly the policy's tasks, each checked by its kind."""
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


def check_seed(seed: Any) -> tf.Tensor:
    """A stateless seed: an integer tensor of shape ``[2]`` (a Python int is widened)."""
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


# ---------------------------------------------------------------------- random draws
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
    return tuple(images.shape[i] if images.shape[i] is not None else dyn[i] for i in (1, 2))


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
    return tf.where(uniform(seed, n) < 0.5, -1.0, 1.0) * strength


def unit(seed: tf.Tensor, n: Any, strength: tf.Tensor | None) -> tf.Tensor:
    """``U[0, 1]`` draws, or ``strength`` itself when given."""
    if strength is None:
        return uniform(seed, n)
    return tf.broadcast_to(tf.cast(strength, tf.float32), [n])


def expand(v: tf.Tensor) -> tf.Tensor:
    """A ``(B,)`` tensor reshaped to ``(B, 1, 1, 1)`` to broadcast over images."""
    return tf.reshape(v, [-1, 1, 1, 1])


# ------------------------------------------------------------------- running ops
def move_labels(labels: Mapping[str, tf.Tensor], tasks: Mapping[str, Task],
                matrices: tf.Tensor, height: Any, width: Any, hflip: tf.Tensor | None = None
                ) -> tuple[dict[str, tf.Tensor], dict[str, tf.Tensor]]:
    """Move every label with forward ``matrices`` (pixel-index coordinates) by its kind;
    ``(labels, visibility weights)`` as :func:`~mtl_utils.augment.transform_labels`."""
    out, weights = {}, {}
    for name, y in labels.items():
        task = tasks[name]
        out[name], visible = task.label_kind.move(task, y, matrices, height, width, hflip)
        weights[name] = tf.ones_like(matrices[:, 0, 0]) if visible is None else visible
    return out, weights


def warp_and_move(images: tf.Tensor, labels: Mapping[str, tf.Tensor],
                  tasks: Mapping[str, Task], matrices: tf.Tensor, hflip: tf.Tensor | None,
                  *, fill_mode: str = "reflect", naive: bool = False):
    """Warp the images once with forward ``matrices`` and move every label with them
    (``naive``: labels untouched). Returns ``(images, labels, weights)``."""
    h, w = image_hw(images)
    x = geometry.warp_images(images, matrices, fill_mode=fill_mode)
    if naive:
        return x, dict(labels), {}
    return (x, *move_labels(labels, tasks, matrices, h, w, hflip))


def run_ops(ops: Sequence[Op], seeds: Sequence[tf.Tensor], images: tf.Tensor,
            labels: Mapping[str, tf.Tensor], tasks: Mapping[str, Task], *,
            naive: bool = False, fill_mode: str = "reflect",
            strength: tf.Tensor | None = None, active: tf.Tensor | None = None):
    """Apply ``ops`` to one view of a batch, each with its own seed: the geometric ops'
    matrices composed (in list order) and the image warped once with every label moved by
    it, then the photometric ops, then the mixing ops. ``active`` (``(B, len(ops))``
    booleans) applies op ``i`` only where ``active[:, i]`` (random policies).

    Returns:
        ``(images, labels, weights)`` with per-task visibility weights.
    """
    n = batch_size(images)
    h, w = image_hw(images)
    shape = (n, h, w, images.shape[-1])
    weights = {name: tf.ones([n], tf.float32) for name in tasks}
    draws = [op.draw(s, shape, strength) if isinstance(op, (GeometricOp, PhotometricOp))
             else None for op, s in zip(ops, seeds)]
    geo = [i for i, op in enumerate(ops) if isinstance(op, GeometricOp)]
    if geo:
        m, hflip = geometry.eye(n), tf.zeros([n], tf.bool)
        for i in geo:
            mi, fi = draws[i]["matrix"], draws[i]["hflip"]
            if active is not None:
                mi = tf.where(active[:, i][:, None, None], mi, geometry.eye(n))
                fi = tf.logical_and(fi, active[:, i])
            m, hflip = mi @ m, tf.math.logical_xor(hflip, fi)
        images, labels, moved = warp_and_move(images, labels, tasks, geometry.centered(m, h, w),
                                              hflip, fill_mode=fill_mode, naive=naive)
        weights.update(moved)
    for i, op in enumerate(ops):
        if isinstance(op, PhotometricOp):
            y = op.images(images, draws[i])
            images = y if active is None else tf.where(expand(active[:, i]), y, images)
    for op, s in zip(ops, seeds):
        if isinstance(op, MixingOp):
            params = op.draw(s, shape)
            images = op.images(images, params)
            if not naive:
                labels, _ = op.labels(labels, params, tasks)
    return images, dict(labels), weights
