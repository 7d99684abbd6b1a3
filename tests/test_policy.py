"""One Policy interface for image and text policies, and a run that hands back what it drew.

Every policy declares its tasks, the tasks it writes itself (``emits``), whether it gives each
task a view of its own and the policy for evaluation batches; ``to_dataset`` reads only that.
``policy.run`` returns the augmented batch with its transformation: the matrices and flip
flags the images were warped with, per example and per view.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from toys import ANGLE, MASK, POSITION, SHAPE, SIDE, SIZE_TASK, disc_batch, pick

from mtl_utils import augment as A
from mtl_utils import text
from mtl_utils.data import to_dataset
from mtl_utils.policy import Policy, PolicyRun, Transformation
from mtl_utils.tasks import Task

SEED = tf.constant([4, 2], tf.int64)
GEOMETRIC = (SIDE, POSITION, MASK, SIZE_TASK, ANGLE)
ZOOM = Task("zoom", "scalar", value_range=(0.5, 1.5))


def test_image_and_text_policies_implement_one_interface():
    shared = A.shared(["hflip"], [SHAPE, POSITION])
    aux = A.with_auxiliary(A.shared([A.Zoom(0.3, isotropic=True)], [POSITION]), {ZOOM: "scale"})
    per_task = A.per_task({"shape": ["hue"]}, [SHAPE, POSITION])
    texts = text.shared(["swap"], text.review_tasks())
    text_views = text.per_task({"topic": ["swap"]}, text.review_tasks())
    for policy in (shared, aux, per_task, A.rand_augment([SHAPE]), A.compose(shared, shared),
                   A.article_preset([SHAPE]), texts, text_views):
        assert isinstance(policy, Policy), policy
        assert isinstance(policy.emits, tuple) and isinstance(policy.views_per_task, bool)
    assert per_task.views_per_task and text_views.views_per_task and not shared.views_per_task
    assert aux.emits == ("zoom",) and shared.emits == () and texts.emits == ()
    assert shared.for_evaluation() is None and texts.for_evaluation() is None
    assert isinstance(aux.for_evaluation(), Policy)


def test_a_policy_of_ones_own_feeds_to_dataset_through_the_interface_alone():
    class Mirror(Policy):
        """Mirrors every image and writes a label of its own: whether it did (always)."""

        def __init__(self, tasks):
            super().__init__([*tasks, Task("mirrored", "class", num_classes=2)])

        @property
        def emits(self):
            return ("mirrored",)

        def check_batch(self, inputs, labels):
            return tf.convert_to_tensor(inputs), dict(labels or {})

        def call(self, inputs, labels, seed):
            n = tf.shape(inputs)[0]
            labels = {**labels, "mirrored": tf.ones([n], tf.int32)}
            return PolicyRun(inputs[:, :, ::-1], labels, {}, None)

    images, labels = disc_batch(6, 16, 16, 1, seed=0)
    policy = Mirror([SHAPE])
    ds = to_dataset((images, {"shape": labels["shape"]}), None, 6, shuffle=False,
                    augment=policy)  # the tasks come from the policy, "mirrored" from its run
    x, y = next(iter(ds))
    np.testing.assert_array_equal(x, images[:, :, ::-1])
    assert sorted(y) == ["mirrored", "shape"] and y["mirrored"].numpy().tolist() == [1] * 6


def test_a_run_hands_back_the_matrices_and_flips_it_warped_with():
    images, labels = disc_batch(8, 32, 32, 3, seed=1)
    labels = pick(labels, GEOMETRIC)
    policy = A.shared([A.HFlip(), A.Rotate(30), A.Zoom(0.2, isotropic=True)], GEOMETRIC,
                      with_visibility=True)
    run = policy.run(images, labels, SEED)
    assert isinstance(run.transform, Transformation)
    assert run.transform.hflip.numpy().any() and not run.transform.hflip.numpy().all()
    # warping the batch with what the run handed back gives the run's batch, bit for bit
    x, y, w = A.apply_affine(images, labels, run.transform.matrices, GEOMETRIC,
                             hflip=run.transform.hflip, with_visibility=True)
    np.testing.assert_array_equal(x, run.inputs)
    for t in y:
        np.testing.assert_array_equal(y[t], run.labels[t])
        np.testing.assert_array_equal(w[t], run.weights[t])
    x2, y2, w2 = policy(images, labels, SEED)  # the call is the run's first three parts
    np.testing.assert_array_equal(x2, run.inputs)
    # and un-moving the moved labels through it gives the labels back
    back = run.transform.unmove({"position": run.labels["position"]}, dict(
        zip([t.name for t in GEOMETRIC], GEOMETRIC)))
    np.testing.assert_allclose(back["position"], labels["position"], atol=1e-5)


def test_a_run_without_geometric_ops_hands_back_the_identity():
    images, labels = disc_batch(4, 16, 16, 3, seed=2)
    run = A.shared(["brightness"], [POSITION]).run(images, pick(labels, [POSITION]), SEED)
    np.testing.assert_array_equal(run.transform.matrices, np.tile(np.eye(3), (4, 1, 1)))
    assert not run.transform.hflip.numpy().any()


def test_per_task_and_composed_runs_hand_back_a_transformation_per_view_and_in_order():
    images, labels = disc_batch(6, 32, 32, 3, seed=3)
    labels = pick(labels, [SHAPE, POSITION])
    views = A.per_task({"shape": ["hflip"], "position": [A.Rotate(40)]}, [SHAPE, POSITION])
    run = views.run(images, labels, SEED)
    assert set(run.transform) == {"shape", "position"}
    for name, x in run.inputs.items():  # each view warped with its own transformation
        np.testing.assert_array_equal(run.transform[name].warp(tf.constant(images)), x)
    first, second = A.shared([A.Rotate(30)], [POSITION]), A.shared([A.HFlip(1.0)], [POSITION])
    composed = A.compose(first, second).run(images, pick(labels, [POSITION]), SEED)
    a, b = (p.run(images, pick(labels, [POSITION]), s).transform
            for p, s in zip((first, second), A.split_seed(SEED, 2)))
    np.testing.assert_allclose(composed.transform.matrices, b.matrices @ a.matrices, atol=1e-6)
    assert composed.transform.hflip.numpy().all()


def test_run_checks_the_batch_and_the_seed_as_a_call_does():
    policy = A.shared(["hflip"], [POSITION])
    with pytest.raises(ValueError, match="4-D batch"):
        policy.run(np.zeros((4, 4), np.float32), None, SEED)
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        policy.run(np.zeros((1, 4, 4, 1), np.float32), None, tf.constant([1, 2, 3]))
    run = policy.run(np.zeros((2, 4, 4, 1), np.float32), None, SEED)  # images alone
    assert run.labels == {} and run.inputs.shape == (2, 4, 4, 1)
