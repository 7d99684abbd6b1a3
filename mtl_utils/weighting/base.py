"""The strategy interface shared by every loss-weighting method, and small helpers.

Introduced in notebook 03.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar

import keras
import numpy as np
import tensorflow as tf

from ..registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    from .model import MultiTaskModel

WeightsSpec = Mapping[str, float] | Sequence[float] | None
#: Strategy classes by name, filled in as :class:`WeightingStrategy` subclasses are defined.
STRATEGIES: Registry[type[WeightingStrategy]] = Registry("weighting strategy",
                                                         "mtl_utils.weighting.STRATEGIES")


def num_replicas() -> int:
    """Number of replicas in sync under the current ``tf.distribute`` strategy (1 if none)."""
    return int(tf.distribute.get_strategy().num_replicas_in_sync)


def all_reduce_mean(x: tf.Tensor) -> tf.Tensor:
    """Mean of ``x`` over replicas inside ``strategy.run`` (of per-replica batch means: the
    global batch's value); ``x`` itself on one replica."""
    ctx = tf.distribute.get_replica_context()
    if ctx is None or ctx.num_replicas_in_sync == 1:
        return x
    return ctx.all_reduce(tf.distribute.ReduceOp.MEAN, x)


def scale_for_replicas(x: tf.Tensor) -> tf.Tensor:
    """Divide by the number of replicas, as Keras does to a loss before differentiating it
    (optimizers sum gradients over replicas)."""
    n = num_replicas()
    return x if n == 1 else x * (1.0 / n)


def step_seed(seed: int, iterations: Any) -> tf.Tensor:
    """A stateless-random seed from ``seed`` and the optimizer's step: new each step, the
    same on every replica.

    An internal helper of the package's strategies (public for use across weighting modules).
    """
    step = tf.cast(tf.convert_to_tensor(iterations), tf.int64)
    return tf.stack([tf.constant(seed, tf.int64), step])


def check_known_tasks(keys: Iterable[str], names: Sequence[str], what: str, hint: str = "") -> None:
    """Raise ``ValueError`` naming the first of ``keys`` that is not one of the tasks.

    An internal helper of the package's strategies (public for use across weighting modules).
    """
    unknown = [k for k in keys if k not in names]
    if unknown:
        raise ValueError(f"{what} unknown task {unknown[0]!r}; the model's tasks are "
                         f"{list(names)}.{hint}")


def resolve_static_weights(weights: WeightsSpec, task_names: Sequence[str],
                           owner: str) -> np.ndarray:
    """Turn ``{task: w}`` (missing tasks get 1), a sequence in task order, or ``None`` into
    a float array.

    Raises:
        ValueError: a task name that is not a task, a sequence of the wrong length, or a
            weight that is negative, not finite, or all weights zero.
    """
    names = list(task_names)
    if weights is None:
        out = np.ones(len(names))
    elif isinstance(weights, Mapping):
        check_known_tasks(weights, names, f"{owner}: weights name",
                          f" Use those names as keys (weights keys {sorted(weights)}).")
        out = np.array([float(weights.get(n, 1.0)) for n in names])
    else:
        seq = list(weights)
        if len(seq) != len(names):
            raise ValueError(
                f"{owner}: got {len(seq)} weights {seq} for {len(names)} tasks {names}; "
                "give one weight per task in this order, or a {task: weight} dict.")
        out = np.array([float(w) for w in seq])
    check_weight_values(dict(zip(names, out)), owner)
    return out


def check_weight_values(weights: Mapping[str, float], owner: str) -> None:
    """Raise ``ValueError`` for negative or non-finite weights, or all weights zero."""
    for name, w in weights.items():
        if not math.isfinite(w) or w < 0:
            raise ValueError(
                f"{owner}: weight {w!r} for task {name!r} is not a finite number >= 0; "
                "loss weights must be non-negative (use 0 to switch a task's loss off).")
    if weights and all(w == 0 for w in weights.values()):
        raise ValueError(
            f"{owner}: all weights are 0 ({dict(weights)}), so nothing would be trained; "
            "give at least one task a positive weight.")


def check_positive(value: float, name: str, owner: str) -> float:
    """Return ``value`` as a float, or raise ``ValueError`` if it is not finite and > 0."""
    v = float(value)
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{owner}: {name} must be a finite number > 0, got {value!r}.")
    return v


def flatten(tensors: Sequence[tf.Tensor]) -> tf.Tensor:
    """Concatenate tensors into one vector (for gradient dot products and norms)."""
    return tf.concat([tf.reshape(tf.cast(t, tf.float32), [-1]) for t in tensors], axis=0)


def unflatten(vector: tf.Tensor, like: Sequence[Any]) -> list[tf.Tensor]:
    """Split a vector made by :func:`flatten` back into tensors shaped like ``like``."""
    sizes = [int(np.prod(v.shape)) for v in like]
    parts = tf.split(vector, sizes) if len(sizes) > 1 else [vector]
    return [tf.cast(tf.reshape(p, v.shape), v.dtype) for p, v in zip(parts, like)]


def make_optimizer(spec: Any, fallback: keras.optimizers.Optimizer | None,
                   learning_rate: float | None) -> keras.optimizers.Optimizer:
    """A fresh optimizer (in the current distribution scope) for a strategy's own variables:
    a copy of ``spec`` (an optimizer, a name, or ``None`` for a copy of ``fallback``, else
    Adam), with ``learning_rate`` overriding its rate when given."""
    source = spec if spec is not None else fallback
    if source is None:
        source = "adam"
    if isinstance(source, keras.optimizers.Optimizer):
        inner = getattr(source, "inner_optimizer", None)  # LossScaleOptimizer
        source = inner if inner is not None else source
        config = source.get_config()
        if learning_rate is not None:  # also replaces a schedule, which is not settable later
            config["learning_rate"] = float(learning_rate)
        return source.__class__.from_config(config)
    opt = keras.optimizers.get(source)
    if learning_rate is not None:
        opt.learning_rate = learning_rate
    return opt


def check_weights_spec(weights: WeightsSpec, owner: str) -> WeightsSpec:
    """Validate what can be checked before the tasks are known; return a frozen copy."""
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        checked = {str(k): float(v) for k, v in weights.items()}
        check_weight_values(checked, owner)
        return checked
    if isinstance(weights, str) or not isinstance(weights, Sequence | np.ndarray):
        raise ValueError(
            f"{owner}: weights must be a {{task: weight}} dict or a sequence in task order, "
            f"got {type(weights).__name__} {weights!r}.")
    seq = [float(w) for w in weights]
    check_weight_values({f"#{i}": w for i, w in enumerate(seq)}, owner)
    return tuple(seq)


class WeightingStrategy:
    """Base class: combine per-task losses ``L_t`` into one objective ``sum_t w_t L_t``.

    Subclasses override :meth:`task_weights`, and optionally :meth:`combine`,
    :meth:`gradients` (gradient surgery), :meth:`on_epoch_end` and :meth:`_build` (state).
    A strategy belongs to one model at a time; compiling a model with it (re)creates its
    state.

    Introduced in notebook 03.
    """

    name: ClassVar[str] = ""
    #: Whether :meth:`gradients` differentiates more than one value of the same tape.
    needs_persistent_tape: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.name:
            STRATEGIES.register(cls.name, cls)

    def __init__(self) -> None:
        self.task_names: tuple[str, ...] = ()
        self.tasks: dict = {}
        self._owner: weakref.ReferenceType | None = None
        self._optimizer: keras.optimizers.Optimizer | None = None

    @property
    def num_tasks(self) -> int:
        """Number of tasks of the model this strategy is built for (0 before compile)."""
        return len(self.task_names)

    @property
    def built(self) -> bool:
        """Whether :meth:`build` has run (the model was compiled with this strategy)."""
        return bool(self.task_names)

    def build(self, model: MultiTaskModel) -> None:
        """Bind to ``model``'s tasks and create this strategy's state (``compile`` calls it
        inside the model's distribution scope).

        Raises:
            ValueError: the strategy is already in use by another model.
        """
        owner = self._owner() if self._owner is not None else None
        if owner is not None and owner is not model:
            raise ValueError(
                f"this {type(self).__name__} strategy is already used by model "
                f"{owner.name!r}; a strategy keeps per-model state. Give model "
                f"{model.name!r} its own instance, e.g. strategy.clone().")
        self._owner = weakref.ref(model)
        self.task_names = tuple(model.tasks)
        self.tasks = dict(model.tasks)
        self._build(model)

    def _build(self, model: MultiTaskModel) -> None:
        """Create variables and optimizers; override in subclasses."""

    def task_weights(self, training: bool = False) -> tf.Tensor:
        """Current weight of each task's loss, shape ``(T,)`` in task order (random
        strategies sample when ``training``)."""
        return tf.ones([self.num_tasks], tf.float32)

    def combine(self, losses: tf.Tensor, training: bool = False) -> tf.Tensor:
        """The objective for one batch from the stacked per-task losses ``(T,)``."""
        return tf.reduce_sum(self.task_weights(training) * losses)

    @property
    def variables(self) -> list:
        """All state variables of this strategy (learnable or not)."""
        return []

    @property
    def trainable_variables(self) -> list:
        """Variables trained by differentiating the objective (e.g. log-variances)."""
        return []

    def current_weights(self) -> dict[str, float]:
        """The current task weights as ``{task: float}`` (outside a training step)."""
        w = np.asarray(self.task_weights(training=False), dtype=float)
        return {n: float(v) for n, v in zip(self.task_names, w)}

    def gradients(self, model: MultiTaskModel, tape: tf.GradientTape,
                  losses: Sequence[tf.Tensor], objective: tf.Tensor,
                  regularization: tf.Tensor | None = None) -> list:
        """One gradient per variable of ``model.trainable_weights``, replica-scaled as
        ``optimizer.apply_gradients`` expects; also updates this strategy's state.

        Args:
            tape: the tape of the forward pass (persistent when
                :attr:`needs_persistent_tape`).
            losses: this replica's per-task losses, each recorded on ``tape``.
            objective: the replica-scaled objective (:meth:`combine` plus regularisation).
            regularization: the replica-scaled regularisation losses, or ``None``.
        """
        variables = list(model.trainable_weights)
        own = list(self.trainable_variables)
        grads = tape.gradient(objective, variables + own)
        if own and self._optimizer is not None:
            self._optimizer.apply_gradients(zip(grads[len(variables):], own))
        return grads[: len(variables)]

    def on_epoch_end(self, task_losses: Mapping[str, float]) -> None:
        """Epoch-level update from each task's mean training loss (``fit`` calls it)."""

    def get_config(self) -> dict[str, Any]:
        """Constructor arguments, so ``type(s)(**s.get_config())`` is an unbuilt copy."""
        return {}

    def clone(self) -> WeightingStrategy:
        """A fresh, unbuilt strategy with the same settings (for another model)."""
        return type(self)(**self.get_config())

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items())
        return f"{type(self).__name__}({args})"


class StaticWeightsBase(WeightingStrategy):
    """A strategy with fixed task weights, as :class:`~.strategies.Static` takes them.

    An internal helper of the package's strategies (public for use across weighting modules).
    """

    def __init__(self, weights: WeightsSpec = None) -> None:
        super().__init__()
        self.static_weights = check_weights_spec(weights, type(self).__name__)
        self._weights = None

    def _build(self, model: MultiTaskModel) -> None:
        self._weights = tf.constant(resolve_static_weights(
            self.static_weights, self.task_names, type(self).__name__), tf.float32)

    def task_weights(self, training: bool = False) -> tf.Tensor:
        return self._weights

    def get_config(self) -> dict[str, Any]:
        w = self.static_weights
        return {"weights": dict(w) if isinstance(w, Mapping) else w}


def get_strategy(name: str | WeightingStrategy, **kwargs: Any) -> WeightingStrategy:
    """A fresh weighting strategy by name, e.g. ``get_strategy("dwa", temperature=2.0)``.

    Args:
        name: a key of :data:`STRATEGIES`, case-insensitive (``static``, ``uncertainty``,
            ``dwa``, ``gradnorm``, ``pcgrad``, ``rlw``), or an instance, returned as it is.
        **kwargs: the strategy's constructor arguments (none with an instance).

    Raises:
        ValueError: an unknown name (the known ones are listed), or keyword arguments
            given with an instance.
        TypeError: keyword arguments the strategy does not take.

    Introduced in notebook 03.
    """
    if isinstance(name, WeightingStrategy):
        if kwargs:
            raise ValueError(
                f"get_strategy got the instance {name!r} and arguments {sorted(kwargs)}; "
                "pass either a name with arguments or a ready instance.")
        return name
    return STRATEGIES.lookup(str(name).strip().lower(), "get_strategy")(**kwargs)
