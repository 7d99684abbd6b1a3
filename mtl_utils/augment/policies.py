"""Augmentation policies: vectorized, stateless callables ``policy(images, labels, seed)``.

In a view the stages run in a fixed order, whatever order the ops are listed in: geometric
ops (composed in list order into one warp that moves every label), photometric ops, mixing
ops. ``with_visibility=True`` adds ``{task: (B,) float32}`` sample weights (0 where a
position left the frame). Every policy implements :class:`~mtl_utils.policy.Policy`:
``policy.run(images, labels, seed)`` also returns the
:class:`~mtl_utils.policy.Transformation` each view was warped with.

Introduced in notebook 04.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pandas as pd
import tensorflow as tf

from mtl_utils.augment.core import (
    DEFAULT_POOL,
    OP_CLASSES,
    Op,
    batch_size,
    default_pool,
    split_seed,
    uniform,
)
from mtl_utils.augment.geometric import HFlip, Rotate, Shear, Translate, Zoom
from mtl_utils.augment.runner import as_tasks, check_images, check_labels, run_ops
from mtl_utils.geometry import FILL_MODES
from mtl_utils.policy import Policy, PolicyRun, check_invariance, check_task_names, check_views
from mtl_utils.tasks import Task

OpSpec = Op | str


def pool_table(magnitude: float = 10.0):
    """Every pool op at ``magnitude`` (0-10), as a table.

    Introduced in notebook 06.
    """
    return pd.DataFrame([{"op": o.name, "stage": o.stage,
                          "at magnitude": repr(op_at(o.name, magnitude))}
                         for o in DEFAULT_POOL]).set_index("op")


def op_at(name: str, magnitude: float) -> Op:
    """The :data:`DEFAULT_POOL` op ``name`` at a magnitude ``0..10`` for a fixed policy.

    Its range is the pool's range times ``magnitude / 10``, e.g.
    ``op_at("rotate", 5) == Rotate(15.0)``; ops without a magnitude come back unchanged.

    Raises:
        ValueError: an unknown or mixing op name, or a magnitude outside ``[0, 10]``.

    Introduced in notebook 06.
    """
    if not 0.0 <= float(magnitude) <= 10.0:
        raise ValueError(f"op_at({name!r}, {magnitude}): magnitude must be in [0, 10].")
    cls = OP_CLASSES.lookup(name, "op_at")
    if cls.stage == "mixing":
        raise ValueError(f"op_at({name!r}, ...): mixing ops have no magnitude; use "
                         f"make_op({name!r}) or {cls.__name__}(alpha=...).")
    return cls(**(cls.pool or {})).at_strength(float(magnitude) / 10.0)  # pool or defaults


def make_op(spec: OpSpec) -> Op:
    """An op from an instance or a name (the op's default parameters).

    Raises:
        ValueError: unknown op name (the known names are listed).
        TypeError: neither a name nor an op.

    Introduced in notebook 04.
    """
    if isinstance(spec, Op):
        return spec
    if isinstance(spec, str):
        return OP_CLASSES.lookup(spec, "policy")()
    raise TypeError(
        f"an augmentation op must be an op name (one of {', '.join(OP_CLASSES)}) or an op "
        f"object such as Rotate(20); got {type(spec).__name__}: {spec!r}.")


def _make_ops(ops: Iterable[OpSpec] | OpSpec) -> tuple[Op, ...]:
    if isinstance(ops, (str, Op)):
        ops = [ops]
    return tuple(make_op(o) for o in ops)


def _check_ops(ops: Sequence[Op], tasks: Mapping[str, Task], naive: bool,
               channels: int | None, fill_mode: str) -> None:
    if fill_mode not in FILL_MODES:
        raise ValueError(f"unknown fill_mode {fill_mode!r}; choose one of {FILL_MODES}.")
    if channels is not None and channels < 1:
        raise ValueError(f"channels must be a positive int or None; got {channels}.")
    for op in ops:
        if channels is not None and op.needs_rgb and channels != 3:
            raise ValueError(
                f"op {op.name!r} needs RGB images (C=3) but the policy was built for "
                f"channels={channels}. Drop {op.name!r} for grayscale data.")
        if naive:
            continue
        check_invariance(op.name, tasks, " without moving labels")
        op.check_tasks(tasks)


class ImagePolicy(Policy):
    """Base of the image policies: checks a batch of images and their labels.

    Introduced in notebook 04.
    """

    def __init__(self, tasks: Any, *, with_visibility: bool = False) -> None:
        super().__init__(as_tasks(tasks), with_visibility=with_visibility)

    def check_batch(self, inputs, labels):
        images = check_images(inputs)
        return images, {} if labels is None else check_labels(labels, self.tasks, images)


class SharedPolicy(ImagePolicy):
    """One random view for all tasks: the listed ops, stages as in the module docstring.

    Args:
        ops: op objects or names (default parameters); ``[]`` is the identity.
        naive: transform the image but move no label (as Keras preprocessing layers do with
            unknown keys); skips the safety checks.
        fill_mode: image fill outside the frame: ``reflect`` (like Keras), ``nearest`` (like
            ImageDataGenerator), ``constant`` (0) or ``wrap``; masks always fill with 0.
        channels: image channels, if known, to reject colour ops on C=1 at build time.

    Raises:
        ValueError: unknown op or fill mode; an op in some task's ``not_invariant_to`` or a
            mixing op on a position/angle/scalar task (unless ``naive``); a colour op with
            ``channels=1``.

    Introduced in notebook 04.
    """

    def __init__(self, ops: Iterable[OpSpec] | OpSpec, tasks: Any, *, naive: bool = False,
                 fill_mode: str = "reflect", with_visibility: bool = False,
                 channels: int | None = None) -> None:
        super().__init__(tasks, with_visibility=with_visibility)
        self.ops = _make_ops(ops)
        self.naive = bool(naive)
        self.fill_mode = fill_mode
        _check_ops(self.ops, self.tasks, self.naive, channels, fill_mode)

    def __repr__(self) -> str:
        ops = ", ".join(repr(o) for o in self.ops) or "identity"
        extra = ", naive=True" if self.naive else ""
        extra += ", with_visibility=True" if self.with_visibility else ""
        return (f"SharedPolicy([{ops}], tasks={list(self.tasks)}, "
                f"fill_mode={self.fill_mode!r}{extra})")

    def call(self, inputs, labels, seed):
        return run_ops(self.ops, split_seed(seed, len(self.ops)), inputs, labels, self.tasks,
                       naive=self.naive, fill_mode=self.fill_mode)


class RandomPolicy(ImagePolicy):
    """RandAugment/TrivialAugment-style view: each example gets ``num_ops`` distinct ops.

    Ops are drawn per example, without replacement, from ``pool`` (default
    :data:`DEFAULT_POOL`, at magnitude 10) less the ops some task forbids (unless ``naive``),
    and run at strength ``magnitude / 10`` or, with ``random_magnitude=True``
    (TrivialAugment), ``U[0, magnitude / 10]`` per example; an op's own ``p`` is ignored.
    Colour ops are skipped on C=1 images.

    Args:
        naive, fill_mode, with_visibility, channels: as in :class:`SharedPolicy`.

    Raises:
        ValueError: mixing ops in the pool, magnitude outside ``[0, 10]``, ``num_ops``
            larger than the allowed pool, unknown op names.

    Introduced in notebook 04.
    """

    def __init__(self, tasks: Any, *, num_ops: int = 2, magnitude: float = 9.0,
                 random_magnitude: bool = False, pool: Iterable[OpSpec] | None = None,
                 naive: bool = False, fill_mode: str = "reflect",
                 with_visibility: bool = False, channels: int | None = None) -> None:
        super().__init__(tasks, with_visibility=with_visibility)
        full = _make_ops(default_pool() if pool is None else pool)
        mixing = [o.name for o in full if o.stage == "mixing"]
        if mixing:
            raise ValueError(
                f"random policies take geometric/photometric ops only; got {mixing}. Add "
                "mixing after them: compose(rand_augment(tasks), shared(['mixup'], tasks)).")
        if not 0.0 <= float(magnitude) <= 10.0:
            raise ValueError(f"magnitude must be in [0, 10]; got {magnitude}.")
        self.naive = bool(naive)
        self.fill_mode = fill_mode
        banned = set() if naive else set().union(*(t.not_invariant_to for t in self.tasks.values()))
        if channels is not None and channels != 3:
            banned |= {o.name for o in full if o.needs_rgb}
        self.pool = tuple(o for o in full if o.name not in banned)
        self.excluded = tuple(o.name for o in full if o.name in banned)
        _check_ops(self.pool, self.tasks, self.naive, channels, fill_mode)
        if not 1 <= int(num_ops) <= len(self.pool):
            raise ValueError(
                f"num_ops={num_ops} but the pool allowed for tasks {list(self.tasks)} has "
                f"{len(self.pool)} ops ({[o.name for o in self.pool]}; excluded "
                f"{list(self.excluded)}). Use 1 <= num_ops <= {len(self.pool)}.")
        self.num_ops = int(num_ops)
        self.magnitude = float(magnitude)
        self.random_magnitude = bool(random_magnitude)

    def __repr__(self) -> str:
        kind = "TrivialAugment" if self.random_magnitude else "RandAugment"
        extra = ", naive=True" if self.naive else ""
        extra += ", with_visibility=True" if self.with_visibility else ""
        return (f"RandomPolicy({kind}, num_ops={self.num_ops}, magnitude={self.magnitude}, "
                f"pool=[{', '.join(repr(o) for o in self.pool)}], tasks={list(self.tasks)}, "
                f"fill_mode={self.fill_mode!r}{extra})")

    def call(self, inputs, labels, seed):
        images = inputs
        n = batch_size(images)
        pool = [o for o in self.pool if images.shape[-1] == 3 or not o.needs_rgb]
        k = len(pool)
        s_choice, s_mag, s_ops = split_seed(seed, 3)
        idx = tf.math.top_k(tf.random.stateless_uniform([n, k], s_choice),
                            k=min(self.num_ops, k)).indices
        active = tf.reduce_any(tf.one_hot(idx, k, on_value=True, off_value=False), axis=1)
        s_max = self.magnitude / 10.0
        strength = (uniform(s_mag, n, 0.0, s_max) if self.random_magnitude
                    else tf.fill([n], tf.constant(s_max, tf.float32)))
        return run_ops(pool, split_seed(s_ops, k), images, labels, self.tasks,
                       naive=self.naive, fill_mode=self.fill_mode, strength=strength,
                       active=active)


class PerTaskPolicy(ImagePolicy):
    """A view per task: ``views[t]`` augments the images for task ``t`` and moves ``t``'s label.

    Returns ``({task: images}, labels)``, for a model with one input per task (about T
    times the encoder cost of a shared view); each view gets its own seed.

    Args:
        views: ``{task_name: Policy}``, each built for exactly that one task.

    Raises:
        ValueError: a task without a view, a view for an unknown task, or a view built for
            other tasks.

    Introduced in notebook 04.
    """

    views_per_task = True  # a model fed by it takes one input per task

    def __init__(self, views: Mapping[str, Policy], tasks: Any, *,
                 with_visibility: bool = False) -> None:
        super().__init__(tasks, with_visibility=with_visibility)
        check_views(views, self.tasks, ImagePolicy)
        self.views: dict[str, ImagePolicy] = {t: views[t] for t in self.tasks}

    def __repr__(self) -> str:
        inner = "; ".join(f"{t}: {v!r}" for t, v in self.views.items())
        extra = ", with_visibility=True" if self.with_visibility else ""
        return f"PerTaskPolicy({inner}{extra})"

    def call(self, inputs, labels, seed):
        xs, ys, ws, ts = {}, {}, {}, {}
        for s, (name, view) in zip(split_seed(seed, len(self.views)), self.views.items()):
            out = view.call(inputs, {name: labels[name]} if name in labels else {}, s)
            xs[name], ws[name], ts[name] = out.inputs, out.weights[name], out.transform
            if name in labels:
                ys[name] = out.labels[name]
        return PolicyRun(xs, ys, ws, ts)


class ComposedPolicy(ImagePolicy):
    """Shared-view policies applied one after the other, each with its own seed.

    Args:
        policies: :class:`SharedPolicy` or :class:`RandomPolicy` objects built for the same
            tasks.
        with_visibility: also return per-task sample weights (the product of the parts').

    Raises:
        ValueError: no policies, a per-task policy, or policies built for other tasks.

    Introduced in notebook 04.
    """

    def __init__(self, policies: Sequence[Policy], *, with_visibility: bool = False) -> None:
        policies = list(policies)
        if not policies:
            raise ValueError("compose needs at least one policy.")
        super().__init__(policies[0].tasks, with_visibility=with_visibility)
        for p in policies:
            if p.views_per_task or isinstance(p, ComposedPolicy) or not isinstance(
                    p, ImagePolicy):
                raise ValueError(
                    f"compose takes shared-view policies (shared, rand_augment, ...); got "
                    f"{p!r}.")
            if list(p.tasks) != list(self.tasks):
                raise ValueError(
                    f"composed policies must share tasks: {list(p.tasks)} vs "
                    f"{list(self.tasks)}.")
        self.policies = tuple(policies)

    def __repr__(self) -> str:
        return "ComposedPolicy(" + " -> ".join(repr(p) for p in self.policies) + ")"

    def call(self, inputs, labels, seed):
        images, transform = inputs, None
        weights = {name: tf.ones([batch_size(images)], tf.float32) for name in self.tasks}
        for p, s in zip(self.policies, split_seed(seed, len(self.policies))):
            images, labels, w, t = p.call(images, labels, s)
            weights = {k: weights[k] * w[k] for k in weights}
            transform = t if transform is None else transform.then(t)
        return PolicyRun(images, labels, weights, transform)


def shared(ops: Iterable[OpSpec] | OpSpec, tasks: Any, *, naive: bool = False,
           fill_mode: str = "reflect", with_visibility: bool = False,
           channels: int | None = None) -> SharedPolicy:
    """One random view for all tasks, e.g. ``shared(["hflip", Rotate(15)], tasks)``: a
    :class:`SharedPolicy` (args and raises as there).

    Introduced in notebook 04.
    """
    return SharedPolicy(ops, tasks, naive=naive, fill_mode=fill_mode,
                        with_visibility=with_visibility, channels=channels)


def per_task(ops_by_task: Mapping[str, Iterable[OpSpec] | Policy], tasks: Any, *,
             default: Iterable[OpSpec] = (), naive: bool = False, fill_mode: str = "reflect",
             with_visibility: bool = False, channels: int | None = None) -> PerTaskPolicy:
    """A view per task, e.g. ``per_task({"shape": ["hflip", "hue"], "color": ["hflip"]}, tasks)``.

    Args:
        ops_by_task: ``{task_name: ops}`` (op objects/names, or a policy built for that one
            task); each op list is checked against that task only.
        default: ops for tasks missing from ``ops_by_task`` (default: identity view).
        naive, fill_mode, with_visibility, channels: as in :class:`SharedPolicy`.

    Raises:
        ValueError: unknown task name, or any :class:`SharedPolicy` error for a view.

    Introduced in notebook 04.
    """
    all_tasks = as_tasks(tasks)
    check_task_names(ops_by_task, all_tasks, "per_task got ops for")
    views: dict[str, Policy] = {}
    for name, task in all_tasks.items():
        spec = ops_by_task.get(name, default)
        views[name] = spec if isinstance(spec, Policy) else SharedPolicy(
            spec, [task], naive=naive, fill_mode=fill_mode, channels=channels)
    return PerTaskPolicy(views, all_tasks, with_visibility=with_visibility)


def article_ops(corrected: bool = False) -> tuple[Op, ...]:
    """The article's ImageDataGenerator settings as ops, in the legacy's order.

    ``ImageDataGenerator(rotation_range=20, width_shift_range=0.2, height_shift_range=0.2,
    shear_range=0.2, zoom_range=0.2, horizontal_flip=True)``; the shear is 0.2 *degrees* (the
    legacy unit) or, with ``corrected=True``, 0.2 radians.

    Introduced in notebook 04.
    """
    sh = math.degrees(0.2) if corrected else 0.2
    return (Rotate(20.0), Translate(0.2, 0.2), Shear(sh), Zoom(0.2, isotropic=False),
            HFlip(0.5))


def article_preset(tasks: Any, *, corrected: bool = False, per_task: bool = False,
                   naive: bool = False, with_visibility: bool = False) -> Policy:
    """The source article's augmentation, label-consistent (``fill_mode="nearest"``).

    On square images its matrices match ImageDataGenerator's exactly (see
    :func:`from_legacy_params`); on non-square ones the legacy's axis mix-ups are not copied.

    Args:
        corrected: shear of 0.2 radians (what the article evidently meant), not 0.2 degrees.
        per_task: give every task its own view (a :class:`PerTaskPolicy`).
        naive, with_visibility: as in :class:`SharedPolicy`.

    Raises:
        ValueError: a task that is not invariant to one of the ops (e.g. hflip for
            left/right digits), unless ``naive``.

    Introduced in notebook 04.
    """
    ops = article_ops(corrected)
    if per_task:
        all_tasks = as_tasks(tasks)
        views = {n: SharedPolicy(ops, [t], naive=naive, fill_mode="nearest")
                 for n, t in all_tasks.items()}
        return PerTaskPolicy(views, all_tasks, with_visibility=with_visibility)
    return SharedPolicy(ops, tasks, naive=naive, fill_mode="nearest",
                        with_visibility=with_visibility)


def rand_augment(tasks: Any, num_ops: int = 2, magnitude: float = 9.0, *,
                 per_task: bool = False, pool: Iterable[OpSpec] | None = None,
                 random_magnitude: bool = False, naive: bool = False,
                 fill_mode: str = "reflect", with_visibility: bool = False,
                 channels: int | None = None) -> Policy:
    """RandAugment: ``num_ops`` random ops per example at a fixed ``magnitude`` (0-10).

    Shared (default): the pool is restricted to ops *all* tasks allow. ``per_task=True``:
    each task gets its own view (a :class:`PerTaskPolicy`) from the ops *it* allows.

    Raises:
        ValueError: as :class:`RandomPolicy`.

    Introduced in notebook 04.
    """
    kw = dict(num_ops=num_ops, magnitude=magnitude, random_magnitude=random_magnitude,
              pool=pool, naive=naive, fill_mode=fill_mode, channels=channels)
    if per_task:
        all_tasks = as_tasks(tasks)
        views = {n: RandomPolicy([t], **kw) for n, t in all_tasks.items()}
        return PerTaskPolicy(views, all_tasks, with_visibility=with_visibility)
    return RandomPolicy(tasks, with_visibility=with_visibility, **kw)


def trivial_augment(tasks: Any, *, per_task: bool = False,
                    pool: Iterable[OpSpec] | None = None, max_magnitude: float = 10.0,
                    naive: bool = False, fill_mode: str = "reflect",
                    with_visibility: bool = False, channels: int | None = None) -> Policy:
    """TrivialAugment: one random op per example at a per-example magnitude ``U[0, max]``
    (returns and raises as :func:`rand_augment`).

    Introduced in notebook 04.
    """
    return rand_augment(tasks, 1, max_magnitude, per_task=per_task, pool=pool,
                        random_magnitude=True, naive=naive, fill_mode=fill_mode,
                        with_visibility=with_visibility, channels=channels)


def compose(*policies: Policy, with_visibility: bool = False) -> ComposedPolicy:
    """Chain shared-view policies, e.g. ``compose(rand_augment(tasks), shared(["mixup"], tasks))``
    (returns and raises as :class:`ComposedPolicy`).

    Introduced in notebook 04.
    """
    return ComposedPolicy(policies, with_visibility=with_visibility)
