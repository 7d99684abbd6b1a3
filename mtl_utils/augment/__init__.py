"""Label-consistent, vectorized ``tf.data`` augmentation for multi-task data.

Every policy is called as ``policy(images, labels, seed)`` on a *batch* inside
``ds.map(..., num_parallel_calls=AUTOTUNE)``: ``images`` float32 ``(B, H, W, C)`` in
``[0, 1]``, ``labels`` a dict ``{task_name: tensor}`` and ``seed`` an int tensor of shape
``[2]``. Geometric ops compose into one affine matrix per example; the image is warped
once and the same matrix moves every label by its task's kind (see
:mod:`mtl_utils.tasks`). Photometric ops touch the image only; MixUp/CutMix mix class and
mask labels with the same lambda and refuse the other kinds.

Op names: ``identity``; geometric ``hflip vflip rotate translate zoom shear``; photometric
``brightness contrast hue saturation grayscale noise blur cutout``; mixing ``mixup cutmix``.

Introduced in notebook 04.
"""

from mtl_utils.augment._affine import (
    affine_matrix,
    apply_affine,
    from_legacy_params,
    shear_degrees,
    transform_labels,
    warp_images,
)
from mtl_utils.augment._core import (
    COLOR_OPS,
    FILL_MODES,
    GEOMETRIC_OPS,
    MIXING_OPS,
    OP_NAMES,
    PHOTOMETRIC_OPS,
    Identity,
    Op,
)
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
    DEFAULT_POOL,
    MAGNITUDE_FIELDS,
    OP_CLASSES,
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
    rand_augment,
    shared,
    trivial_augment,
)

__all__ = [
    "COLOR_OPS", "DEFAULT_POOL", "FILL_MODES", "GEOMETRIC_OPS", "MAGNITUDE_FIELDS", "MIXING_OPS",
    "OP_CLASSES", "OP_NAMES", "PHOTOMETRIC_OPS",
    "Blur", "Brightness", "Contrast", "CutMix", "Cutout", "Grayscale", "HFlip", "Hue",
    "Identity", "MixUp", "Noise", "Op", "Rotate", "Saturation", "Shear", "Translate",
    "VFlip", "Zoom",
    "ComposedPolicy", "PerTaskPolicy", "Policy", "RandomPolicy", "SharedPolicy",
    "affine_matrix", "apply_affine", "article_ops", "article_preset", "compose", "cutmix_batch",
    "from_legacy_params", "label_damage", "label_effect", "label_effects", "make_op",
    "mixup_batch", "op_at", "per_task", "rand_augment", "shared", "shear_degrees",
    "transform_labels", "trivial_augment", "warp_images",
]
