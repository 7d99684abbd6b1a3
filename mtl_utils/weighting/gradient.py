"""Gradient-based weighting: ``GradNorm`` balances the tasks' gradient norms at the last
shared layer; ``PCGrad`` removes the conflicting part of each task's encoder gradient.
Both average per-task gradients over replicas before comparing them, so every replica
takes the same decision.

Introduced in notebook 03.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import keras
import numpy as np
import tensorflow as tf

from .base import (
    StaticWeightsBase,
    WeightingStrategy,
    WeightsSpec,
    all_reduce_mean,
    check_positive,
    flatten,
    make_optimizer,
    num_replicas,
    step_seed,
    unflatten,
)

if TYPE_CHECKING:  # pragma: no cover
    from .model import MultiTaskModel


def _sublayers(root: keras.layers.Layer) -> Iterator[keras.layers.Layer]:
    """Every layer inside ``root``, nested models included, depth first in graph order."""
    for sub in getattr(root, "layers", []):
        yield sub
        yield from _sublayers(sub)


def last_shared_layer(encoder: keras.layers.Layer) -> keras.layers.Layer:
    """The encoder's last layer (in graph order, looking inside nested models) that has
    trainable weights: where GradNorm measures gradient norms.

    Raises:
        ValueError: the encoder has no layer with trainable weights.

    Introduced in notebook 03.
    """
    leaves = [la for la in (encoder, *_sublayers(encoder))
              if not getattr(la, "layers", None) and la.trainable_weights]
    if not leaves:
        raise ValueError(
            f"GradNorm: encoder {encoder.name!r} has no layer with trainable weights; "
            "unfreeze it, or name a layer with GradNorm(layer=...).")
    return leaves[-1]


def _owner_variables(model: MultiTaskModel, wanted: Sequence[Any]) -> list:
    """The variables of ``model.trainable_weights`` that are in ``wanted`` (same order)."""
    ids = {id(v) for v in wanted}
    return [v for v in model.trainable_weights if id(v) in ids]


def _zero_filled_gradient(tape: tf.GradientTape, target: tf.Tensor, variables: list) -> list:
    """``tape.gradient`` with zeros for the variables that ``target`` does not depend on."""
    return tape.gradient(target, variables, unconnected_gradients=tf.UnconnectedGradients.ZERO)


def gradnorm_weight_gradient(weights, grad_norms, loss_ratios, alpha: float) -> tf.Tensor:
    """Gradient ``(T,)`` (float32) of GradNorm's loss ``L_grad`` for the task weights.

    With ``G_t = w_t ||grad_W L_t||`` at the shared layer ``W``, ``r_t = ~L_t / mean(~L)``
    (``~L_t = L_t(step) / L_t(0)``, the ``loss_ratios``) and the target
    ``mean(G) * r_t ** alpha`` held constant (as in the paper), ``L_grad = sum_t |G_t -
    target_t|`` has ``dL_grad/dw_t = sign(G_t - target_t) * ||grad_W L_t||``.

    Args:
        weights, grad_norms, loss_ratios: ``(T,)`` each: ``w_t``, the unweighted norms
            ``||grad_W L_t||`` and ``L_t / L_t(0)``.
        alpha: asymmetry; 0 pulls all gradient norms to their mean.

    Introduced in notebook 03.
    """
    w = tf.cast(tf.convert_to_tensor(weights), tf.float32)
    n = tf.cast(tf.convert_to_tensor(grad_norms), tf.float32)
    ratios = tf.cast(tf.convert_to_tensor(loss_ratios), tf.float32)
    g = w * n
    rel = ratios / tf.maximum(tf.reduce_mean(ratios), 1e-12)
    target = tf.stop_gradient(tf.reduce_mean(g) * rel ** float(alpha))
    return tf.sign(g - target) * n


def renormalize_weights(weights, min_weight: float = 1e-4) -> tf.Tensor:
    """Clip weights to at least ``min_weight`` and rescale them to sum to ``T``.

    Introduced in notebook 03.
    """
    w = tf.maximum(tf.cast(tf.convert_to_tensor(weights), tf.float32), min_weight)
    return w * (tf.cast(tf.size(w), tf.float32) / tf.reduce_sum(w))


class GradNorm(WeightingStrategy):
    """GradNorm (Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization
    for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018).

    Learnable weights ``w_t`` (initially 1). Each step the network is trained on
    ``sum_t w_t L_t``; then the weights take one step of their own optimizer on GradNorm's
    loss (:func:`gradnorm_weight_gradient`) at the last shared layer ``W``, with
    ``L_t(0)`` the first training step's loss, and are clipped and renormalised
    (:func:`renormalize_weights`). Costs one extra backward pass per task, down to ``W``.

    Args:
        alpha: asymmetry; larger values pull lagging tasks harder, 0 equalises the
            gradient norms (1.5 is a common choice).
        learning_rate, optimizer: the weights' optimizer (an instance or a name, copied
            per model; default Adam) and its learning rate.
        layer: name of the shared layer (searched inside the encoder); default
            :func:`last_shared_layer`.
        min_weight: see :func:`renormalize_weights`.

    Raises:
        ValueError: alpha < 0, learning_rate or min_weight not > 0; at compile time, a
            model without a shared encoder or an unknown ``layer``.

    Introduced in notebook 03.
    """

    name = "gradnorm"
    needs_persistent_tape = True

    def __init__(self, alpha: float = 1.5, learning_rate: float = 0.025,
                 optimizer: keras.optimizers.Optimizer | str | None = None,
                 layer: str | None = None, min_weight: float = 1e-4) -> None:
        super().__init__()
        self.alpha = float(alpha)
        if not np.isfinite(self.alpha) or self.alpha < 0:
            raise ValueError(f"GradNorm: alpha must be a finite number >= 0, got {alpha!r}.")
        self.learning_rate = check_positive(learning_rate, "learning_rate", "GradNorm")
        self.optimizer_spec = optimizer
        self.layer = layer
        self.min_weight = check_positive(min_weight, "min_weight", "GradNorm")
        self.weights_var: keras.Variable | None = None
        self.initial_losses: keras.Variable | None = None
        self.shared_layer: keras.layers.Layer | None = None

    def _build(self, model: MultiTaskModel) -> None:
        encoder = model.encoder
        if self.layer is None:
            self.shared_layer = last_shared_layer(encoder)
        else:
            self.shared_layer = next(
                (la for la in _sublayers(encoder) if la.name == self.layer), None)
            if self.shared_layer is None:
                raise ValueError(
                    f"GradNorm: no layer named {self.layer!r} in encoder {encoder.name!r}; "
                    f"its layers are {[sub.name for sub in encoder.layers]}.")
        self.weights_var = keras.Variable(np.ones(self.num_tasks, np.float32), trainable=True,
                                          name="gradnorm_weights", aggregation="only_first_replica")
        self.initial_losses = keras.Variable(np.zeros(self.num_tasks, np.float32),
                                             trainable=False, name="gradnorm_initial_losses",
                                             aggregation="only_first_replica")
        self._optimizer = make_optimizer(self.optimizer_spec or "adam", None, self.learning_rate)
        self._optimizer.build([self.weights_var])

    @property
    def variables(self) -> list:
        return [] if self.weights_var is None else [self.weights_var, self.initial_losses]

    def task_weights(self, training: bool = False) -> tf.Tensor:
        return tf.stop_gradient(tf.convert_to_tensor(self.weights_var))

    def gradients(self, model, tape, losses, objective, regularization=None) -> list:
        grads = tape.gradient(objective, list(model.trainable_weights))
        shared = _owner_variables(model, self.shared_layer.trainable_weights)
        if not shared:
            raise ValueError(
                f"GradNorm: shared layer {self.shared_layer.name!r} has no trainable weights "
                "in this model (is the encoder frozen?); unfreeze it or choose "
                "GradNorm(layer=...).")
        rows = [flatten(_zero_filled_gradient(tape, loss, shared)) for loss in losses]
        norms = tf.norm(all_reduce_mean(tf.stack(rows)), axis=1)
        current = tf.stop_gradient(all_reduce_mean(tf.stack(losses)))
        stored = tf.convert_to_tensor(self.initial_losses)
        initial = tf.where(stored > 0, stored, current)
        self.initial_losses.assign(initial)
        ratios = current / tf.maximum(initial, 1e-12)
        grad_w = gradnorm_weight_gradient(tf.convert_to_tensor(self.weights_var), norms, ratios,
                                          self.alpha)
        # Optimizers sum gradients over replicas; grad_w is already the same on every one.
        self._optimizer.apply_gradients([(grad_w / num_replicas(), self.weights_var)])
        self.weights_var.assign(
            renormalize_weights(tf.convert_to_tensor(self.weights_var), self.min_weight))
        return grads

    def get_config(self) -> dict[str, Any]:
        return {"alpha": self.alpha, "learning_rate": self.learning_rate,
                "optimizer": self.optimizer_spec, "layer": self.layer,
                "min_weight": self.min_weight}


def project_conflicting(grads, order=None) -> tf.Tensor:
    """PCGrad's projection (Yu et al. 2020, Algorithm 1) of flattened task gradients: a
    ``(T, P)`` float32 tensor (sum it for the update).

    For each task ``i``, for each other task ``j`` in ``order``: if ``g_i . g_j < 0``, replace
    ``g_i`` by ``g_i - (g_i . g_j) / ||g_j||^2 g_j`` (``g_j`` the original gradient; a zero
    ``g_j`` removes nothing). Non-conflicting gradients are returned unchanged.

    Args:
        grads: ``(T, P)`` array or tensor, one flattened gradient per task.
        order: a permutation of ``range(T)`` (list, array or int tensor): the order in which
            the other tasks are projected away; default ``0..T-1``.

    Raises:
        ValueError: ``grads`` is not 2-D.

    Introduced in notebook 03.
    """
    g = tf.cast(tf.convert_to_tensor(grads), tf.float32)
    if g.shape.rank != 2:
        raise ValueError(f"project_conflicting: grads must be (tasks, params), got {g.shape}.")
    num_tasks = int(g.shape[0])
    perm = (tf.range(num_tasks) if order is None
            else tf.cast(tf.convert_to_tensor(order), tf.int32))
    others = tf.gather(g, perm)
    # The projection does not depend on g_j's length: rescale each g_j by its largest entry
    # so that tiny gradients keep their direction in float32 (no underflow of |g_j|^2).
    others = tf.math.divide_no_nan(others, tf.reduce_max(tf.abs(others), axis=1, keepdims=True))
    sq_norms = tf.reduce_sum(others * others, axis=1)
    out = []
    for i in range(num_tasks):
        gi = g[i]
        for k in range(num_tasks):
            gk = others[k]
            dot = tf.reduce_sum(gi * gk)
            coef = tf.math.divide_no_nan(tf.minimum(dot, 0.0), sq_norms[k])
            coef = tf.where(tf.equal(perm[k], i), 0.0, coef)  # never project onto itself
            gi = gi - coef * gk
        out.append(gi)
    return tf.stack(out)


class PCGrad(StaticWeightsBase):
    """Projecting conflicting gradients (Yu, Kumar, Gupta, Levine, Hausman & Finn,
    "Gradient Surgery for Multi-Task Learning", NeurIPS 2020).

    Each step projects the tasks' encoder gradients (of ``w_t L_t``, static weights) with
    :func:`project_conflicting` in a random task order (seeded, new each step, the same on
    every replica) and applies their sum; each head gets its own task's gradient. Costs one
    backward pass through the encoder per task.

    Args:
        weights: static loss weights as for :class:`Static` (default 1 each).
        seed: seed of the per-step task orders.

    Raises:
        ValueError: as :class:`Static` for bad weights; at compile time, a model without
            a shared encoder.

    Introduced in notebook 03.
    """

    name = "pcgrad"
    needs_persistent_tape = True

    def __init__(self, weights: WeightsSpec = None, seed: int = 0) -> None:
        super().__init__(weights)
        self.seed = int(seed)
        self._encoder = None
        self._iterations = None

    def _build(self, model: MultiTaskModel) -> None:
        super()._build(model)
        self._encoder = model.encoder
        self._iterations = model.optimizer.iterations

    def task_order(self) -> tf.Tensor:
        """This step's random task order (a permutation of ``range(T)``)."""
        return tf.argsort(tf.random.stateless_uniform(
            [self.num_tasks], seed=step_seed(self.seed, self._iterations)))

    def gradients(self, model, tape, losses, objective, regularization=None) -> list:
        variables = list(model.trainable_weights)
        shared = _owner_variables(model, self._encoder.trainable_weights)
        if not shared:  # frozen encoder: nothing is shared, nothing to project
            return tape.gradient(objective, variables)
        shared_ids = {id(v) for v in shared}
        others = [v for v in variables if id(v) not in shared_ids]
        w = self._weights
        rows = [w[t] * flatten(_zero_filled_gradient(tape, loss, shared))
                for t, loss in enumerate(losses)]
        projected = project_conflicting(all_reduce_mean(tf.stack(rows)), self.task_order())
        # Every replica now holds the same global-batch gradient; the optimizer sums over
        # replicas, and a loss-scale optimizer divides by its scale.
        total = tf.reduce_sum(projected, axis=0) * (model.optimizer.scale_loss(1.0)
                                                     / num_replicas())
        shared_grads = unflatten(total, shared)
        if regularization is not None:
            reg = _zero_filled_gradient(tape, regularization, shared)
            shared_grads = [g + r for g, r in zip(shared_grads, reg)]
        other_grads = tape.gradient(objective, others) if others else []
        by_id = {id(v): g for v, g in zip(shared + others, shared_grads + other_grads)}
        return [by_id[id(v)] for v in variables]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}
