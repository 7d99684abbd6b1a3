"""Label-consistent, vectorized ``tf.data`` augmentation for multi-task data.

Every policy is called as ``policy(images, labels, seed)`` on a *batch* inside
``ds.map(..., num_parallel_calls=AUTOTUNE)``: ``images`` float32 ``(B, H, W, C)`` in
``[0, 1]``, ``labels`` a dict ``{task_name: tensor}`` and ``seed`` an int tensor of shape
``[2]``. Every op draws its parameters once and has an image hook and a label hook
(:class:`Op`); geometric ops compose into one affine matrix per example, the image is
warped once and the same matrix moves every label by its task's kind
(:mod:`mtl_utils.kinds`). Photometric ops touch the image only; MixUp/CutMix mix the labels
of kinds that can mix and refuse the others.

The op vocabulary (:data:`OP_CLASSES`, :data:`OP_NAMES`, :data:`DEFAULT_POOL`, ...) is
derived from the op classes: an op is one class.

Introduced in notebook 04.
"""

from mtl_utils.augment._affine import apply_affine, transform_labels
from mtl_utils.augment._core import (
    OP_CLASSES,
    GeometricOp,
    Identity,
    MixingOp,
    Op,
    PhotometricOp,
    op_names,
    run_ops,
)
from mtl_utils.augment.beyond import QUANTITIES, AuxiliaryPolicy, tta, with_auxiliary
from mtl_utils.augment.effects import label_damage, label_effect, label_effects
from mtl_utils.augment.geometric import HFlip, Rotate, Shear, Translate, VFlip, Zoom
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
    COLOR_OPS,
    DEFAULT_POOL,
    GEOMETRIC_OPS,
    MAGNITUDE_FIELDS,
    MIXING_OPS,
    OP_NAMES,
    PHOTOMETRIC_OPS,
    ComposedPolicy,
    PerTaskPolicy,
    Policy,
    RandomPolicy,
    SharedPolicy,
    article_ops,
    article_preset,
    compose,
    make_op,
    op_at,
    per_task,
    pool_op,
    pool_table,
    rand_augment,
    shared,
    trivial_augment,
)
from mtl_utils.geometry import (
    FILL_MODES,
    affine_matrix,
    from_legacy_params,
    shear_degrees,
    warp_images,
)

__all__ = [
    "COLOR_OPS", "DEFAULT_POOL", "FILL_MODES", "GEOMETRIC_OPS", "MAGNITUDE_FIELDS", "MIXING_OPS",
    "OP_CLASSES", "OP_NAMES", "PHOTOMETRIC_OPS",
    "Op", "GeometricOp", "PhotometricOp", "MixingOp", "Identity",
    "Blur", "Brightness", "Contrast", "CutMix", "Cutout", "Grayscale", "HFlip", "Hue",
    "MixUp", "Noise", "Rotate", "Saturation", "Shear", "Translate", "VFlip", "Zoom",
    "AuxiliaryPolicy", "ComposedPolicy", "PerTaskPolicy", "Policy", "RandomPolicy",
    "SharedPolicy", "QUANTITIES", "tta", "with_auxiliary",
    "affine_matrix", "apply_affine", "article_ops", "article_preset", "compose", "cutmix_batch",
    "from_legacy_params", "label_damage", "label_effect", "label_effects", "make_op",
    "mixup_batch", "op_at", "op_names", "per_task", "pool_op", "pool_table", "rand_augment",
    "run_ops", "shared", "shear_degrees", "transform_labels", "trivial_augment",
    "warp_images",
]
