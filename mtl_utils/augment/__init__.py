"""Label-consistent, vectorized ``tf.data`` augmentation for multi-task data.

``policy(images, labels, seed)`` augments a batch inside ``ds.map``: geometric ops warp the
image once and move every label by its task's kind (:mod:`mtl_utils.kinds`), photometric
ops touch the image only, MixUp/CutMix mix the labels of kinds that can mix.
``policy.run(images, labels, seed)`` also returns the transformation it drew
(:class:`~mtl_utils.policy.PolicyRun`).

A new op is one class in any module: subclass :class:`GeometricOp`, :class:`PhotometricOp`
or :class:`MixingOp`, give it a ``name`` (and a ``pool`` setting to join RandAugment's
default pool), and draw with :func:`uniform`, :func:`signed_unit`, :func:`unit`,
:func:`coin` and :func:`split_seed`.

Introduced in notebook 04.
"""

from mtl_utils.augment.affine import apply_affine, transform_labels
from mtl_utils.augment.beyond import QUANTITIES, AuxiliaryPolicy, tta, with_auxiliary
from mtl_utils.augment.contract import OpContractError, check_op_contract
from mtl_utils.augment.core import (
    COLOR_OPS,
    DEFAULT_POOL,
    GEOMETRIC_OPS,
    MAGNITUDE_FIELDS,
    MIXING_OPS,
    OP_CLASSES,
    OP_NAMES,
    PHOTOMETRIC_OPS,
    STAGES,
    GeometricOp,
    Identity,
    MixingOp,
    Op,
    PhotometricOp,
    batch_size,
    coin,
    default_pool,
    expand,
    image_hw,
    op_names,
    pool_op,
    rewrite_phrases,
    signed_unit,
    uniform,
    unit,
)
from mtl_utils.augment.effects import label_damage, label_effect, label_effects
from mtl_utils.augment.geometric import (
    HFlip,
    QuarterTurn,
    Rotate,
    Shear,
    Translate,
    VFlip,
    Zoom,
)
from mtl_utils.augment.mixing import CutMix, MixUp, cutmix_batch, mixup_batch
from mtl_utils.augment.photometric import (
    Blur,
    Brightness,
    Contrast,
    Cutout,
    Grayscale,
    Hue,
    Noise,
    Saturation,
)
from mtl_utils.augment.policies import (
    ComposedPolicy,
    ImagePolicy,
    PerTaskPolicy,
    RandomPolicy,
    SharedPolicy,
    article_ops,
    article_preset,
    compose,
    make_op,
    op_at,
    per_task,
    pool_table,
    rand_augment,
    shared,
    trivial_augment,
)
from mtl_utils.augment.runner import run_ops
from mtl_utils.geometry import (
    FILL_MODES,
    affine_matrix,
    from_legacy_params,
    shear_degrees,
    warp_images,
)
from mtl_utils.policy import Policy, PolicyRun, Transformation, check_seed, split_seed

__all__ = [
    "COLOR_OPS", "DEFAULT_POOL", "FILL_MODES", "GEOMETRIC_OPS", "MAGNITUDE_FIELDS", "MIXING_OPS",
    "OP_CLASSES", "OP_NAMES", "PHOTOMETRIC_OPS", "STAGES",
    "Op", "GeometricOp", "PhotometricOp", "MixingOp", "Identity",
    "Blur", "Brightness", "Contrast", "CutMix", "Cutout", "Grayscale", "HFlip", "Hue",
    "MixUp", "Noise", "QuarterTurn", "Rotate", "Saturation", "Shear", "Translate", "VFlip", "Zoom",
    "AuxiliaryPolicy", "ComposedPolicy", "ImagePolicy", "PerTaskPolicy", "Policy", "PolicyRun",
    "RandomPolicy", "SharedPolicy", "Transformation", "QUANTITIES", "tta",
    "with_auxiliary", "OpContractError",
    "affine_matrix", "apply_affine", "article_ops", "article_preset", "batch_size",
    "check_op_contract", "check_seed", "coin", "compose", "cutmix_batch", "default_pool", "expand",
    "from_legacy_params", "image_hw", "label_damage", "label_effect", "label_effects",
    "make_op", "mixup_batch", "op_at", "op_names", "per_task", "pool_op", "pool_table",
    "rand_augment", "rewrite_phrases", "run_ops", "shared", "shear_degrees", "signed_unit",
    "split_seed", "transform_labels", "trivial_augment", "uniform", "unit", "warp_images",
]
