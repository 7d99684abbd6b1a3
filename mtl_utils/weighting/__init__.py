"""Loss weighting for multi-task learning: ``L = sum_t w_t L_t`` and beyond.

``MultiTaskModel`` combines the task losses through a strategy: ``Static`` (the article's
fixed lambdas), ``Uncertainty``, ``DWA``, ``GradNorm``, ``PCGrad`` or ``RLW``. Usage::

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
    "DWA", "RLW", "STRATEGIES", "GradNorm", "LastValue", "MultiTaskModel", "PCGrad", "Static",
    "Uncertainty", "WeightingStrategy", "all_reduce_mean", "dwa_weights", "get_strategy",
    "gradnorm_weight_gradient", "last_shared_layer", "num_replicas", "project_conflicting",
    "renormalize_weights", "scale_for_replicas",
]
