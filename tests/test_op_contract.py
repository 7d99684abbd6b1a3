"""One contract, run over every augmentation op (as Keras' ``run_layer_test`` does for layers).

The contract is :func:`mtl_utils.augment.check_op_contract` (notebook 04's exercise runs it
on a learner's op): every op, applied alone by a shared policy, keeps the batch's shape,
dtype and value range; gives the same output for the same seed and another for another seed;
at strength 0 (its magnitude fields zeroed) is the identity; photometric ops keep every
label; geometric ops move the labels so that they still describe the warped object; mixing
ops mix the labels of kinds that can mix. It is also run on an op defined in a test file
alone (``test_extending.py``) and on the exercises' solutions (``test_exercises.py``).
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from toys import ANGLE, MASK, POSITION, SHAPE, SIZE_TASK, centroids, object_batch, pick

from mtl_utils import augment as A

GEOMETRIC_TASKS = (SHAPE, POSITION, MASK, SIZE_TASK, ANGLE)
check_op_contract = A.check_op_contract  # the contract lives in the package (augment/contract.py)


@pytest.mark.parametrize("name", A.OP_NAMES)
def test_every_op_keeps_the_contract(name):
    op = A.pool_op(name) if A.OP_CLASSES[name].pool is not None else A.make_op(name)
    check_op_contract(op)


@pytest.mark.parametrize("name", [n for n in A.OP_NAMES if A.OP_CLASSES[n].pool is not None])
def test_every_pool_op_runs_in_random_policies_with_labels_consistent(name):
    # The op as RandAugment draws it (strength set per example, p ignored).
    images, labels = object_batch(seed=2, n=8, h=32, w=32)
    policy = A.rand_augment(GEOMETRIC_TASKS, 1, 9, pool=[A.pool_op(name)])
    x, y = policy(images, pick(labels, GEOMETRIC_TASKS), tf.constant([1, 2]))
    assert x.shape == images.shape
    if A.OP_CLASSES[name].stage == "geometric":
        inside = y["mask"].numpy()[..., 0].sum(axis=(1, 2)) > 4
        gap = np.abs(y["position"].numpy() - centroids(y["mask"].numpy()))[inside] * 32
        assert gap.max() < 1.5
