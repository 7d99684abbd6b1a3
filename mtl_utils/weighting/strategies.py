"""Loss-based weighting: the objective is ``sum_t w_t L_t`` with weights chosen by a rule:
``Static``, ``Uncertainty``, ``DWA`` and ``RLW``.

Introduced in notebook 03.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from .base import (
    StaticWeightsBase,
    WeightingStrategy,
    check_known_tasks,
    check_positive,
    make_optimizer,
    step_seed,
)

if TYPE_CHECKING:  # pragma: no cover
    from .model import MultiTaskModel


class Static(StaticWeightsBase):
    """Fixed loss weights: ``L = sum_t lambda_t L_t`` (the article's ``lambda_A L_A +
    lambda_B L_B``; the same objective as Keras' ``compile(loss_weights=...)``).

    Args:
        weights: ``{task: lambda}`` (missing tasks get 1) or a sequence in task order;
            ``None`` weighs every task 1.

    Raises:
        ValueError: negative or non-finite weights, all weights zero; at compile time, a
            task name that is not one of the model's tasks or a sequence of the wrong length.

    Introduced in notebook 03.
    """

    name = "static"


class Uncertainty(WeightingStrategy):
    """Homoscedastic uncertainty weighting (Kendall, Gal & Cipolla, "Multi-Task Learning
    Using Uncertainty to Weigh Losses for Scene Geometry and Semantics", CVPR 2018).

    Each task learns a log-variance ``s_t = log sigma_t^2``; the objective is::

        L = sum_t  c_t * exp(-s_t) * L_t  +  s_t / 2

    the paper's Gaussian likelihood (``c_t = 1/2``) for regression kinds (``position``,
    ``scalar``, ``angle``) and its scaled-softmax likelihood (``c_t = 1``) for ``class`` and
    ``mask``. Learning ``s`` rather than ``sigma`` keeps the weight positive and is
    numerically stable. The logged weight is ``c_t * exp(-s_t)``; the logged ``loss``
    includes the ``s_t / 2`` terms and can be negative.

    Args:
        init_log_var: initial ``s_t``, one value or ``{task: s}``.
        optimizer: optimizer for the ``s_t`` (an instance or a name); ``None`` copies the
            model's optimizer, as in the paper.
        learning_rate: overrides that optimizer's learning rate.

    Raises:
        ValueError: a non-finite ``init_log_var`` or learning rate <= 0.

    Introduced in notebook 03.
    """

    name = "uncertainty"

    def __init__(self, init_log_var: float | Mapping[str, float] = 0.0,
                 optimizer: keras.optimizers.Optimizer | str | None = None,
                 learning_rate: float | None = None) -> None:
        super().__init__()
        per_task = isinstance(init_log_var, Mapping)
        for v in init_log_var.values() if per_task else [init_log_var]:
            if not np.isfinite(float(v)):
                raise ValueError(f"Uncertainty: init_log_var must be finite, got {v!r}.")
        self.init_log_var = dict(init_log_var) if per_task else float(init_log_var)
        self.optimizer_spec = optimizer
        self.learning_rate = (None if learning_rate is None else
                              check_positive(learning_rate, "learning_rate", "Uncertainty"))
        self.log_vars: keras.Variable | None = None

    def _build(self, model: MultiTaskModel) -> None:
        init = self.init_log_var
        if isinstance(init, Mapping):
            check_known_tasks(init, self.task_names, "Uncertainty: init_log_var names")
            values = [float(init.get(n, 0.0)) for n in self.task_names]
        else:
            values = [float(init)] * self.num_tasks
        self.coefficients = tf.constant(  # each label kind's likelihood (kinds.py)
            [t.label_kind.uncertainty_coefficient for t in self.tasks.values()], tf.float32)
        self.log_vars = keras.Variable(np.asarray(values, np.float32), trainable=True,
                                       name="uncertainty_log_vars")
        self._optimizer = make_optimizer(self.optimizer_spec, model.optimizer, self.learning_rate)
        self._optimizer.build([self.log_vars])

    @property
    def variables(self) -> list:
        return [] if self.log_vars is None else [self.log_vars]

    @property
    def trainable_variables(self) -> list:
        return self.variables

    def task_weights(self, training: bool = False) -> tf.Tensor:
        return self.coefficients * tf.exp(-tf.convert_to_tensor(self.log_vars))

    def combine(self, losses: tf.Tensor, training: bool = False) -> tf.Tensor:
        s = tf.convert_to_tensor(self.log_vars)
        return tf.reduce_sum(self.coefficients * tf.exp(-s) * losses + 0.5 * s)

    def get_config(self) -> dict[str, Any]:
        return {"init_log_var": self.init_log_var, "optimizer": self.optimizer_spec,
                "learning_rate": self.learning_rate}


def dwa_weights(loss_history: Sequence[Sequence[float]], temperature: float = 2.0) -> np.ndarray:
    """Dynamic weight average weights for the next epoch (Liu, Johns & Davison 2019).

    ``w_t = T exp(r_t/tau) / sum_i exp(r_i/tau)`` (summing to ``T``) with ``r_t`` the ratio
    of task ``t``'s mean training losses in the last two epochs; equal weights (1) before
    two epochs.

    Args:
        loss_history: one row per finished epoch, each the ``T`` tasks' mean losses.
        temperature: ``tau``; larger values give more uniform weights.

    Raises:
        ValueError: a ragged or non-2-D history, losses that are not finite and > 0, or a
            temperature that is not > 0.

    Introduced in notebook 03.
    """
    tau = check_positive(temperature, "temperature", "DWA")
    h = np.asarray(loss_history, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(
            f"DWA: loss_history must be a list of per-epoch rows of task losses, got an "
            f"array of shape {h.shape}.")
    if h.shape[0] < 2:
        return np.ones(h.shape[1])
    last = h[-2:]
    if not np.all(np.isfinite(last)) or np.any(last <= 0):
        raise ValueError(f"DWA: epoch losses must be finite and > 0, got {last.tolist()}.")
    z = (last[-1] / last[-2]) / tau
    e = np.exp(z - z.max())
    return h.shape[1] * e / e.sum()


class DWA(WeightingStrategy):
    """Dynamic weight average (Liu, Johns & Davison, "End-to-End Multi-Task Learning with
    Attention", CVPR 2019): a task whose loss fell more slowly last epoch gets more weight.

    After each epoch of ``fit``, :func:`dwa_weights` sets the next epoch's weights from the
    logged ``<task>_loss``. The history persists across ``fit`` calls and is reset by
    ``compile``; in a custom training loop, call :meth:`on_epoch_end` yourself.

    Args:
        temperature: ``tau`` (the paper uses 2).

    Raises:
        ValueError: a temperature that is not > 0.

    Introduced in notebook 03.
    """

    name = "dwa"

    def __init__(self, temperature: float = 2.0) -> None:
        super().__init__()
        self.temperature = check_positive(temperature, "temperature", "DWA")
        self.history: list[list[float]] = []
        self.weights_var: keras.Variable | None = None

    def _build(self, model: MultiTaskModel) -> None:
        self.history = []
        self.weights_var = keras.Variable(np.ones(self.num_tasks, np.float32), trainable=False,
                                          name="dwa_weights", aggregation="only_first_replica")

    @property
    def variables(self) -> list:
        return [] if self.weights_var is None else [self.weights_var]

    def task_weights(self, training: bool = False) -> tf.Tensor:
        return tf.convert_to_tensor(self.weights_var)

    def on_epoch_end(self, task_losses: Mapping[str, float]) -> None:
        """Record the epoch's mean task losses and set the next epoch's weights."""
        self.history.append([float(task_losses[n]) for n in self.task_names])
        try:
            weights = dwa_weights(self.history, self.temperature)
        except ValueError as err:  # e.g. a task fully masked out for an epoch: loss 0
            warnings.warn(f"{err} Keeping the previous DWA weights.", stacklevel=2)
            return
        self.weights_var.assign(weights.astype(np.float32))

    def get_config(self) -> dict[str, Any]:
        return {"temperature": self.temperature}


class RLW(WeightingStrategy):
    """Random loss weighting (Lin et al., "Reasonable Effectiveness of Random Weighting:
    A Litmus Test for Multi-Task Learning", TMLR 2022): each training step draws
    ``w = T * softmax(z)``, ``z ~ N(0, I)``; evaluation uses equal weights.

    A baseline that any adaptive method should beat. Draws are seeded by the optimizer's
    step (reproducible, the same on every replica); the logged weight is the last draw.

    Args:
        seed: seed of the draws.

    Introduced in notebook 03.
    """

    name = "rlw"

    def __init__(self, seed: int = 0) -> None:
        super().__init__()
        self.seed = int(seed)
        self._iterations = None

    def _build(self, model: MultiTaskModel) -> None:
        self._iterations = model.optimizer.iterations

    def task_weights(self, training: bool = False) -> tf.Tensor:
        if not training:
            return tf.ones([self.num_tasks], tf.float32)
        z = tf.random.stateless_normal([self.num_tasks],
                                       seed=step_seed(self.seed, self._iterations))
        return self.num_tasks * tf.nn.softmax(z)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}
