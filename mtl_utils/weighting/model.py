"""``MultiTaskModel``: a functional Keras model whose ``train_step`` combines the task
losses through a weighting strategy.

Introduced in notebook 03.
"""

from __future__ import annotations

import inspect
import json
import warnings
from collections.abc import Iterable, Mapping, Sequence
from types import SimpleNamespace
from typing import Any

import keras
import tensorflow as tf

from ..tasks import Task, task_dict
from .base import (
    WeightingStrategy,
    check_known_tasks,
    get_strategy,
    num_replicas,
    scale_for_replicas,
)
from .strategies import Static


class LastValue(keras.metrics.Metric):
    """A metric that reports the last value it was given (a task's current weight).

    Introduced in notebook 03.
    """

    def __init__(self, name: str, dtype: str = "float32") -> None:
        super().__init__(name=name, dtype=dtype)
        # "mean" over replicas: every replica holds the same (synchronised) weight.
        self.last = self.add_variable(shape=(), initializer="zeros", aggregation="mean",
                                      name="last")

    def update_state(self, value, sample_weight=None) -> None:
        self.last.assign(tf.cast(value, self.dtype))

    def result(self):
        return tf.identity(tf.convert_to_tensor(self.last))

    def reset_state(self) -> None:
        self.last.assign(0.0)


try:  # the wrapper Keras' compile() uses for plain loss functions
    from keras.src.losses.losses import LossFunctionWrapper as _FunctionLoss
except ImportError:  # pragma: no cover - private path moved
    class _FunctionLoss(keras.losses.Loss):
        def __init__(self, fn, name=None):
            super().__init__(name=name)
            self.fn = fn

        def call(self, y_true, y_pred):
            return self.fn(y_true, y_pred)


def _loss_object(identifier: Any, task: str) -> keras.losses.Loss:
    loss = keras.losses.get(identifier) if isinstance(identifier, str | dict) else identifier
    if isinstance(loss, keras.losses.Loss):
        return loss
    if callable(loss):
        return _FunctionLoss(loss, name=getattr(loss, "__name__", task))
    raise ValueError(f"loss for task {task!r} is not a Keras loss or a callable: {identifier!r}.")


class MultiTaskModel(keras.Model):
    """A functional multi-task model whose ``train_step`` weighs the task losses with a
    :class:`~mtl_utils.weighting.WeightingStrategy`.

    Build it like ``keras.Model(inputs, outputs)`` with outputs ``{task: tensor}`` named
    after their tasks (or use ``models.build_shared_model(..., weighting=...)``), then
    ``compile(..., weighting=strategy)``. Logs: ``loss`` (the objective), ``<task>_loss``
    (unweighted ``L_t``), ``<task>_weight`` (the last step's weight of ``L_t``) and the
    compiled metrics; ``val_`` versions during validation. Works under ``tf.distribute``
    (build and compile in ``strategy.scope()``). TensorFlow backend only.

    Args:
        inputs: the functional inputs (one tensor, or a dict with one input per task).
        outputs: ``{task: tensor}``, one output per task, its layer named after the task.
        tasks: the :class:`~mtl_utils.tasks.Task` of every output (a list or ``{name: Task}``).
        name: model name (Keras picks one when ``None``).
        encoder_name: name of the shared-encoder layer (GradNorm and PCGrad use it).

    Raises:
        ValueError: a non-TensorFlow backend, or outputs that do not match ``tasks``.

    Introduced in notebook 03.
    """

    def __init__(self, inputs: Any, outputs: Any, tasks: Iterable[Task] | Mapping[str, Task],
                 name: str | None = None, encoder_name: str = "encoder", **kwargs: Any) -> None:
        if keras.backend.backend() != "tensorflow":
            raise ValueError(
                f"MultiTaskModel needs the TensorFlow backend, got {keras.backend.backend()!r}; "
                "set KERAS_BACKEND=tensorflow before importing keras.")
        super().__init__(inputs, outputs, name=name, **kwargs)
        tasks = task_dict(tasks)
        if set(self.output_names) != set(tasks):
            raise ValueError(
                f"MultiTaskModel: outputs {sorted(self.output_names)} do not match tasks "
                f"{sorted(tasks)}; name each output layer after its task.")
        # A plain namespace, so Keras' attribute tracking leaves these objects alone.
        self._mt = SimpleNamespace(tasks=tasks, encoder_name=encoder_name, weighting=None,
                                   loss_objects={}, loss_trackers=[], weight_trackers=[])

    @property
    def tasks(self) -> dict[str, Task]:
        """The tasks, ``{name: Task}`` in output order."""
        return dict(self._mt.tasks)

    @property
    def weighting(self) -> WeightingStrategy:
        """The weighting strategy given to ``compile`` (``Static`` by default)."""
        if self._mt.weighting is None:
            raise ValueError(f"model {self.name!r} is not compiled; call compile() first.")
        return self._mt.weighting

    @property
    def encoder(self) -> keras.layers.Layer:
        """The shared encoder layer.

        Raises:
            ValueError: the model has no layer named ``encoder_name``.
        """
        try:
            return self.get_layer(self._mt.encoder_name)
        except ValueError:
            raise ValueError(
                f"model {self.name!r} has no shared-encoder layer named "
                f"{self._mt.encoder_name!r} (layers: {[la.name for la in self.layers]}); "
                "GradNorm and PCGrad need one: build with models.build_shared_model, or pass "
                "MultiTaskModel(..., encoder_name=...).") from None

    def task_weights(self) -> dict[str, float]:
        """Current weight of each task's loss, ``{task: float}``."""
        return self.weighting.current_weights()

    def compile(self, optimizer: Any = "adam", loss: Any = None, loss_weights: Any = None,
                metrics: Any = None, weighting: WeightingStrategy | str | None = None,
                **kwargs: Any) -> None:
        """Configure training; ``keras.Model.compile`` plus ``weighting``.

        Args:
            loss: ``{task: loss}`` (missing tasks use ``Task.loss()``), a list in task
                order, or ``None`` for every task's own loss.
            loss_weights: static ``{task: weight}`` or a list in task order: the weights of
                ``Static()`` or ``PCGrad()`` given without weights.
            metrics: as in Keras; ``None`` uses every task's ``Task.metrics()``.
            weighting: a strategy instance or a name for :func:`get_strategy`; default
                ``Static(loss_weights)``.

        Raises:
            ValueError: losses or weights for unknown tasks, ``loss_weights`` together
                with a strategy that sets its own weights, or a bad strategy name.
        """
        tasks = self._mt.tasks
        weighting = self._resolve_weighting(weighting, loss_weights)
        losses = self._resolve_losses(loss)
        if metrics is None:
            metrics = {n: t.metrics() for n, t in tasks.items()}
        super().compile(optimizer=optimizer, loss=losses, metrics=metrics, **kwargs)
        with self.distribute_strategy.scope():
            self._mt.loss_objects = {n: _loss_object(losses[n], n) for n in tasks}
            self._mt.loss_trackers = [keras.metrics.Mean(name=f"{n}_loss") for n in tasks]
            self._mt.weight_trackers = [LastValue(name=f"{n}_weight") for n in tasks]
            weighting.build(self)
        self._mt.weighting = weighting

    def _resolve_weighting(self, weighting: Any, loss_weights: Any) -> WeightingStrategy:
        if isinstance(weighting, str):
            weighting = get_strategy(weighting)
        if weighting is None:
            weighting = Static()
        if not isinstance(weighting, WeightingStrategy):
            raise ValueError(
                f"weighting must be a WeightingStrategy or a strategy name, got "
                f"{type(weighting).__name__} {weighting!r}; e.g. weighting=DWA() or 'dwa'.")
        if loss_weights is None:
            return weighting
        if getattr(weighting, "static_weights", "n/a") is not None:
            raise ValueError(
                f"loss_weights={loss_weights!r} and weighting={weighting!r} both set the "
                "task weights; pass static weights as Static(weights=...) (or "
                "PCGrad(weights=...)) and drop loss_weights.")
        return type(weighting)(**{**weighting.get_config(), "weights": loss_weights})

    def _resolve_losses(self, loss: Any) -> dict[str, Any]:
        tasks = self._mt.tasks
        if loss is None:
            return {n: t.loss() for n, t in tasks.items()}
        if isinstance(loss, Mapping):
            check_known_tasks(loss, list(tasks), "loss names")
            return {n: loss[n] if loss.get(n) is not None else t.loss() for n, t in tasks.items()}
        if isinstance(loss, Sequence) and not isinstance(loss, str):
            if len(loss) != len(tasks):
                raise ValueError(
                    f"got {len(loss)} losses for {len(tasks)} tasks {list(tasks)}; give one "
                    "per task in this order or a {task: loss} dict.")
            return dict(zip(tasks, loss))
        return dict.fromkeys(tasks, loss)

    @property
    def metrics(self) -> list:
        metrics = super().metrics
        extra = self._mt.loss_trackers + self._mt.weight_trackers if hasattr(self, "_mt") else []
        if metrics and metrics[0] is self._loss_tracker:
            return [metrics[0], *extra, *metrics[1:]]
        return [*extra, *metrics]

    def compute_task_losses(self, y: Any, y_pred: Any, sample_weight: Any = None) -> list:
        """Each task's loss for one batch (unweighted, this replica's batch mean): scalar
        float32 tensors in task order.

        Args:
            y: ``{task: labels}`` (or a sequence in task order).
            sample_weight: ``None``, one ``(B,)`` weight for all tasks, or
                ``{task: (B,)}`` (tasks left out are weighted 1).

        Raises:
            ValueError: labels missing a task, or sample weights for an unknown task.
        """
        names = list(self._mt.tasks)
        y = self._by_task(y, "labels")
        y_pred = self._by_task(y_pred, "predictions")
        if isinstance(sample_weight, Mapping):
            check_known_tasks(sample_weight, names, "sample weights name",
                              " Key the sample-weight dict by task name.")
        out = []
        for n in names:
            sw = sample_weight.get(n) if isinstance(sample_weight, Mapping) else sample_weight
            value = self._mt.loss_objects[n](y[n], y_pred[n], sw)
            # Keras' losses divide by the replica count; undo it to report the batch mean.
            out.append(tf.cast(value, tf.float32) * float(num_replicas()))
        return out

    def _by_task(self, values: Any, what: str) -> dict[str, Any]:
        names = list(self._mt.tasks)
        if isinstance(values, Mapping):
            missing = [n for n in names if n not in values]
            if missing:
                raise ValueError(
                    f"{what} are missing task {missing[0]!r} (have {sorted(values)}); give "
                    "a {task: value} dict with every task.")
            return dict(values)
        if isinstance(values, Sequence) and len(values) == len(names):
            return dict(zip(names, values))
        if len(names) == 1:
            return {names[0]: values}
        raise ValueError(
            f"{what} must be a {{task: value}} dict for tasks {names}, got {type(values)}.")

    def _objective(self, losses: list, training: bool) -> tuple[tf.Tensor, tf.Tensor | None]:
        total = self.weighting.combine(tf.stack(losses), training=training)
        regularization = None
        if self.losses:
            regularization = tf.add_n([tf.reduce_sum(tf.cast(x, tf.float32)) for x in self.losses])
            total = total + regularization
        return total, regularization

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        """The strategy's objective, scaled for ``tf.distribute`` as Keras' own loss is."""
        losses = self.compute_task_losses(y, y_pred, sample_weight)
        total, _ = self._objective(losses, training)
        return scale_for_replicas(total)

    def _track(self, x: Any, losses: list, total: tf.Tensor, weights: tf.Tensor) -> None:
        first = next(v for v in tf.nest.flatten(x) if v is not None)
        batch = tf.shape(first)[0]
        self._loss_tracker.update_state(total, sample_weight=batch)
        for i, tracker in enumerate(self._mt.loss_trackers):
            tracker.update_state(losses[i], sample_weight=batch)
        for i, tracker in enumerate(self._mt.weight_trackers):
            tracker.update_state(weights[i])

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        """Keras' ``compute_metrics``; a ``{task: weight}`` dict may leave tasks out."""
        if isinstance(sample_weight, Mapping) and set(sample_weight) != set(self._mt.tasks):
            # Keras' compiled metrics want one weight per output: weigh the others 1.
            first = next(v for v in tf.nest.flatten(x) if v is not None)
            ones = tf.ones(tf.shape(first)[:1], tf.float32)
            sample_weight = {n: sample_weight.get(n, ones) for n in self._mt.tasks}
        return super().compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def train_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        strategy = self.weighting
        with tf.GradientTape(persistent=strategy.needs_persistent_tape) as tape:
            y_pred = self(x, training=True)
            losses = self.compute_task_losses(y, y_pred, sample_weight)
            weights = strategy.task_weights(training=True)
            total, regularization = self._objective(losses, training=True)
            objective = self.optimizer.scale_loss(scale_for_replicas(total))
            if regularization is not None:
                regularization = self.optimizer.scale_loss(scale_for_replicas(regularization))
        self._track(x, losses, total, weights)
        grads = strategy.gradients(self, tape, losses, objective, regularization)
        del tape
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def test_step(self, data):
        x, y, sample_weight = keras.utils.unpack_x_y_sample_weight(data)
        y_pred = self(x, training=False)
        losses = self.compute_task_losses(y, y_pred, sample_weight)
        total, _ = self._objective(losses, training=False)
        self._track(x, losses, total, self.weighting.task_weights(training=False))
        return self.compute_metrics(x, y, y_pred, sample_weight=sample_weight)

    def fit(self, *args: Any, **kwargs: Any):
        """``keras.Model.fit``; also tells the strategy when an epoch ends (for DWA)."""
        arguments = inspect.signature(keras.Model.fit).bind(self, *args, **kwargs).arguments
        arguments.pop("self")
        callbacks = arguments.get("callbacks")
        hook = keras.callbacks.LambdaCallback(on_epoch_end=self._on_epoch_end)
        if isinstance(callbacks, keras.callbacks.CallbackList):
            callbacks.append(hook)
        else:
            arguments["callbacks"] = [hook, *(callbacks or [])]
        return super().fit(**arguments)

    def _on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        """Hand each epoch's mean training loss per task to the strategy (DWA needs it)."""
        keys = {n: f"{n}_loss" for n in self._mt.tasks}
        if logs and all(k in logs for k in keys.values()):
            self.weighting.on_epoch_end({n: float(logs[k]) for n, k in keys.items()})

    def get_config(self) -> dict[str, Any]:
        # Keras serialises the graph only for constructors shaped like Functional's, so
        # take the config of a plain functional view of the same graph and add the tasks.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
            view = keras.Model(self.input, self.output, name=self.name)
        return {**view.get_config(), "tasks": [t.get_config() for t in self._mt.tasks.values()],
                "encoder_name": self._mt.encoder_name}

    def get_compile_config(self) -> dict[str, Any]:
        """The optimizer and the strategy's name and settings (for ``model.save``); losses
        and metrics are not stored, ``compile_from_config`` uses the tasks' own."""
        if not self.compiled or self._mt.weighting is None:
            return {}
        strategy = self._mt.weighting
        settings = strategy.get_config()
        try:
            json.dumps(settings)
        except TypeError:  # e.g. an optimizer instance: keep the strategy's defaults
            settings = {}
        return {"optimizer": keras.optimizers.serialize(self.optimizer),
                "weighting": {"name": strategy.name, "config": settings}}

    def compile_from_config(self, config: dict[str, Any]) -> None:
        """Compile from :meth:`get_compile_config` (``keras.models.load_model`` calls it);
        the strategy starts from fresh state."""
        if not config:
            return
        spec = config.get("weighting") or {}
        self.compile(optimizer=keras.optimizers.deserialize(config["optimizer"]),
                     weighting=get_strategy(spec.get("name", "static"),
                                            **spec.get("config", {})))
        if self.built:
            self.optimizer.build(self.trainable_variables)

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: Any = None):
        config = dict(config)
        tasks = [Task.from_config(t) for t in config.pop("tasks")]
        encoder_name = config.pop("encoder_name", "encoder")
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
            graph = keras.Model.from_config(config, custom_objects=custom_objects)
            return cls(graph.input, graph.output, tasks=tasks, name=graph.name,
                       encoder_name=encoder_name)

