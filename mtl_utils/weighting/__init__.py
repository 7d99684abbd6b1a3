"""Loss weighting for multi-task learning: ``L = sum_t w_t L_t`` and beyond.

The article's loss is ``lambda_A L_A + lambda_B L_B`` with fixed lambdas. This package
holds a Keras model whose ``train_step`` combines the task losses through a strategy object,
and the strategies:

========================= ============================================================
``Static(weights)``       fixed weights (Keras' ``loss_weights``)
``Uncertainty()``         learned homoscedastic uncertainty (Kendall et al. 2018)
``DWA(temperature=2)``    dynamic weight average (Liu et al. 2019)
``GradNorm(alpha=1.5)``   gradient-norm balancing (Chen et al. 2018)
``PCGrad()``              projecting conflicting gradients (Yu et al. 2020)
``RLW()``                 random loss weighting, a baseline (Lin et al. 2022)
========================= ============================================================

Usage::

    model = build_shared_model(tasks, input_shape, weighting=get_strategy("dwa"))
    history = model.fit(train_ds, validation_data=val_ds, epochs=10)
    history.history["shape_weight"]   # the weight trajectory of task "shape"

Introduced in notebook 03.
"""

from __future__ import annotations

from .base import (
    STRATEGIES,
    WeightingStrategy,
    all_reduce_mean,
    get_strategy,
    num_replicas,
    scale_for_replicas,
)
from .gradient import (
    GradNorm,
    PCGrad,
    gradnorm_weight_gradient,
    last_shared_layer,
    project_conflicting,
    renormalize_weights,
)
from .model import LastValue, MultiTaskModel
from .strategies import DWA, RLW, Static, Uncertainty, dwa_weights

__all__ = [
    "DWA",
    "RLW",
    "STRATEGIES",
    "GradNorm",
    "LastValue",
    "MultiTaskModel",
    "PCGrad",
    "Static",
    "Uncertainty",
    "WeightingStrategy",
    "all_reduce_mean",
    "dwa_weights",
    "get_strategy",
    "gradnorm_weight_gradient",
    "last_shared_layer",
    "num_replicas",
    "project_conflicting",
    "renormalize_weights",
    "scale_for_replicas",
]
