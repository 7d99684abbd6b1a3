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

from typing import Any

from .base import WeightingStrategy, all_reduce_mean, num_replicas, scale_for_replicas
from .gradient import (
    GradNorm,
    PCGrad,
    gradnorm_weight_gradient,
    last_shared_layer,
    project_conflicting,
    renormalize_weights,
)
from .model import LastValue, MultiTaskModel
from .strategies import DWA, RLW, UNCERTAINTY_COEFFICIENTS, Static, Uncertainty, dwa_weights

#: Strategy names accepted by :func:`get_strategy`.
STRATEGIES: dict[str, type[WeightingStrategy]] = {
    "static": Static,
    "uncertainty": Uncertainty,
    "dwa": DWA,
    "gradnorm": GradNorm,
    "pcgrad": PCGrad,
    "rlw": RLW,
}


def get_strategy(name: str | WeightingStrategy, **kwargs: Any) -> WeightingStrategy:
    """A fresh weighting strategy by name (case-insensitive), e.g. ``get_strategy("dwa",
    temperature=2.0)``; an instance is returned as it is.

    Args:
        name: one of :data:`STRATEGIES` (``static``, ``uncertainty``, ``dwa``,
            ``gradnorm``, ``pcgrad``, ``rlw``), or a strategy instance.
        **kwargs: the strategy's constructor arguments.

    Returns:
        The strategy.

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
    key = str(name).strip().lower()
    if key not in STRATEGIES:
        raise ValueError(
            f"unknown weighting strategy {name!r}; known strategies: "
            f"{', '.join(STRATEGIES)}.")
    return STRATEGIES[key](**kwargs)


__all__ = [
    "DWA",
    "RLW",
    "STRATEGIES",
    "UNCERTAINTY_COEFFICIENTS",
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
