"""One contract, run over every augmentation op (as Keras' ``run_layer_test`` does for layers).

Every op, applied alone by a shared policy: keeps the batch's shape, dtype and value range;
gives the same output for the same seed and another for another seed; at strength 0 (its
magnitude fields zeroed) is the identity; photometric ops keep every label; geometric ops
move the labels so that they still describe the warped object; mixing ops mix the labels of
kinds that can mix. ``check_op_contract`` is also run on an op defined in a test file alone
(``test_extending.py``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import tensorflow as tf
from toys import ANGLE, MASK, POSITION, SHAPE, SIZE_TASK, centroids, object_batch, pick

from mtl_utils import augment as A

GEOMETRIC_TASKS = (SHAPE, POSITION, MASK, SIZE_TASK, ANGLE)
MIXING_TASKS = (SHAPE, MASK)


def _always(op: A.Op) -> A.Op:
    """The op applied to every example (``p=1``)."""
    return dataclasses.replace(op, p=1.0) if hasattr(op, "p") else op


def _run(op: A.Op, images, labels, tasks, seed=(3, 4)):
    x, y = A.shared([op], tasks, fill_mode="constant")(images, labels, tf.constant(seed))
    return x.numpy(), {k: v.numpy() for k, v in y.items()}


def check_op_contract(op: A.Op) -> None:
    """Assert the contract for one op (at its default or full-strength parameters)."""
    tasks = MIXING_TASKS if op.stage == "mixing" else GEOMETRIC_TASKS
    images, labels = object_batch(seed=1, n=8, h=32, w=32)
    images = (0.2 + 0.6 * images + 0.1 * np.random.default_rng(0).random(images.shape))
    images = images.astype(np.float32)
    labels = pick(labels, tasks)
    op = _always(op)
    x, y = _run(op, images, labels, tasks)
    # shape, dtype and range
    assert x.shape == images.shape and x.dtype == np.float32
    assert x.min() >= -1e-6 and x.max() <= 1 + 1e-6
    # the same seed, the same output; another seed, another output (for random ops)
    x2, y2 = _run(op, images, labels, tasks)
    np.testing.assert_array_equal(x, x2)
    for k in y:
        np.testing.assert_array_equal(y[k], y2[k])
    if op.stage != "identity" and not isinstance(op, (A.HFlip, A.VFlip, A.Grayscale)):
        x3, _ = _run(op, images, labels, tasks, seed=(5, 6))
        assert not np.array_equal(x, x3), f"{op!r} ignores its seed"
    # strength 0 is the identity
    if op.magnitude_fields:
        x0, y0 = _run(op.at_strength(0.0), images, labels, tasks)
        np.testing.assert_allclose(x0, images, atol=1e-5, err_msg=repr(op))
        for k in labels:
            np.testing.assert_allclose(y0[k], labels[k], atol=1e-5, err_msg=f"{op!r}: {k}")
    if op.stage == "photometric" or op.stage == "identity":
        for k in labels:  # the label hook keeps every label
            np.testing.assert_array_equal(y[k], labels[k])
    elif op.stage == "geometric":
        # the moved position is the centroid of the moved mask (objects still in the frame)
        inside = y["mask"][..., 0].sum(axis=(1, 2)) > 4
        inside &= ~(y["mask"][:, [0, -1]].any(axis=(1, 2, 3)) | y["mask"][:, :, [0, -1]].any(
            axis=(1, 2, 3)))
        assert inside.sum() >= 4, f"{op!r} pushed the objects out of the frame"
        gap = np.abs(y["position"] - centroids(y["mask"]))[inside] * 32
        assert gap.max() < 1.0, f"{op!r}: position {gap.max():.2f} px from the mask's centroid"
        moved = not np.allclose(y["position"], labels["position"], atol=1e-4)
        assert moved, f"{op!r} moved no label"
        assert set(np.unique(y["mask"])) <= {0.0, 1.0}  # warped, still binary
    elif op.stage == "mixing":
        assert y["shape"].shape == (8, SHAPE.num_classes)  # soft labels
        np.testing.assert_allclose(y["shape"].sum(axis=1), 1.0, rtol=1e-5)


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
