"""Extending the package: a new augmentation op is one class, a new label kind is one class.

Both are defined here, in the test file alone, and then used through the public API: the op
in shared, per-task and random policies (and the op contract); the kind through augmentation,
a model head, training, statistics and a plot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import keras
import matplotlib
import numpy as np
import pytest
import tensorflow as tf
from keras import layers
from test_op_contract import check_op_contract
from toys import MASK, POSITION, SHAPE, centroids, object_batch, pick

from mtl_utils import augment as A
from mtl_utils import geometry, kinds, plotting, stats
from mtl_utils.augment import GeometricOp
from mtl_utils.data import to_dataset
from mtl_utils.models import build_shared_model
from mtl_utils.tasks import Task

matplotlib.use("Agg")


# ------------------------------------------------------------------------ a new op
@pytest.fixture(scope="module")
def stretch():
    """``Stretch``: a horizontal stretch by ``U[1 - amount, 1 + amount]``; one class."""

    @dataclass(frozen=True)
    class Stretch(GeometricOp):
        amount: float = 0.2
        p: float = 1.0
        name: ClassVar[str] = "stretch"
        magnitude_fields: ClassVar[tuple[str, ...]] = ("amount",)
        pool: ClassVar[dict] = {"amount": 0.4}
        limits: ClassVar[dict] = {"amount": (0.0, 1.0, ")")}
        changes_scale: ClassVar[bool] = True

        def matrices(self, seed, n, height, width, strength):
            u = A._core.signed_unit(seed, n, strength)
            return geometry.zoom(1.0 / (1.0 + self.amount * u), tf.ones([n]))

    yield Stretch
    del A.OP_CLASSES["stretch"]  # leave the registry as the other tests expect it


def test_a_new_op_is_one_class_used_by_name_and_in_every_policy(stretch):
    images, labels = object_batch(seed=3, n=8, h=32, w=32)
    tasks = (SHAPE, POSITION, MASK)
    labels = pick(labels, tasks)
    seed = tf.constant([1, 2])
    assert isinstance(A.make_op("stretch"), stretch)  # known by name
    assert A.op_at("stretch", 5) == stretch(0.2)  # magnitudes from its pool setting
    assert A.label_effect(POSITION, "stretch") == "moved"
    for policy in (A.shared(["stretch", "hflip"], tasks),
                   A.per_task({"position": [stretch(0.3)], "mask": ["stretch"]}, tasks),
                   A.rand_augment(tasks, 1, 10, pool=[stretch(0.4), "identity"]),
                   A.trivial_augment(tasks, pool=[stretch(0.4)])):
        x, y = policy(images, labels, seed)
        if isinstance(x, dict):  # per-task views
            x, pos, mask = x["position"], y["position"].numpy(), None
        else:
            pos, mask = y["position"].numpy(), y["mask"].numpy()
        assert x.shape == images.shape
        if mask is not None:  # the position still sits on the stretched object
            np.testing.assert_allclose(pos, centroids(mask), atol=1 / 32)
    with pytest.raises(ValueError, match="stretch: amount must be in"):
        stretch(amount=1.5)
    check_op_contract(stretch(0.4))


# ------------------------------------------------------------------------ a new kind
@pytest.fixture(scope="module")
def keypoints():
    """``keypoints``: two points on the object, ``(2, 2)`` in ``[0, 1]``; one class."""

    class KeypointsKind(kinds.LabelKind):
        name = "keypoints"
        pool = "flatten"
        draw_first = False

        def label_shape(self, task, image_shape):
            return (2, 2)

        def output_units(self, task):
            return 4

        def head(self, task, features, image_shape, pool, hidden=64, dropout=0.0):
            x = layers.Dense(hidden, activation="relu")(layers.Flatten()(features))
            x = layers.Dense(4, activation="sigmoid")(x)
            return layers.Reshape((2, 2), name=task.name)(x)

        def metrics(self, task):
            def distance(y_true, y_pred):
                d = tf.cast(y_true, y_pred.dtype) - y_pred
                return tf.reduce_mean(tf.sqrt(tf.reduce_sum(d * d, -1) + 1e-12), -1) * (
                    task.metric_scale)
            return [keras.metrics.MeanMetricWrapper(distance, name="error")]

        def constant_baseline(self, task, train, labels):
            d = labels - train.mean(axis=0)
            return float(np.sqrt((d ** 2).sum(-1)).mean() * task.metric_scale)

        def move(self, task, y, matrices, height, width, hflip):
            points = [kinds.LABEL_KINDS["position"].move(task, y[:, i], matrices, height,
                                                          width, hflip)[0] for i in range(2)]
            return tf.stack(points, axis=1), None

        def effect(self, task, op):
            return "moved"

        def draw(self, ax, task, y, frame, color):
            ax.plot(y[:, 0] * frame["width"] - 0.5, y[:, 1] * frame["height"] - 0.5, "x",
                    color=color, label="keypoints")

    yield Task("points", "keypoints", metric_scale=32.0, unit="px")
    del kinds.LABEL_KINDS["keypoints"]


def _points(labels):
    """Two points per object: its centre and a point 3 px to its right."""
    pos = labels["position"]
    return np.stack([pos, pos + [3 / 32, 0.0]], axis=1).astype(np.float32)


def test_a_new_label_kind_is_one_class_through_augment_model_training_and_plot(keypoints):
    assert A.label_effect(keypoints, "rotate") == "moved"
    images, labels = object_batch(seed=4, n=32, h=32, w=32)
    labels = {"shape": labels["shape"], "position": labels["position"],
              "points": _points(labels)}
    tasks = {"shape": Task("shape", "class", num_classes=3), "position": POSITION,
             "points": keypoints}
    # augmentation moves it like the position kind moves a point
    policy = A.shared([A.Rotate(90), A.HFlip()], tasks)
    _, y = policy(images, labels, tf.constant([5, 6]))
    np.testing.assert_allclose(y["points"].numpy()[:, 0], y["position"].numpy(), atol=1e-5)
    gap = np.linalg.norm(y["points"].numpy()[:, 1] - y["points"].numpy()[:, 0], axis=1) * 32
    np.testing.assert_allclose(gap, 3.0, atol=1e-3)  # rigid: the two points stay 3 px apart
    # a head, a loss and a metric from the kind; training runs and the error falls
    keras.utils.set_random_seed(0)  # initial weights independent of the tests run before
    model = build_shared_model(tasks, (32, 32, 3), filters=(8, 8), learning_rate=3e-3)
    assert model.output["points"].shape[1:] == (2, 2)
    ds = to_dataset((images, labels), tasks, 16, seed=0, augment=policy)
    history = model.fit(ds, epochs=4, verbose=0, shuffle=False)  # the dataset shuffles
    errors = history.history["points_error"]
    assert np.isfinite(errors).all() and errors[-1] < errors[0]
    # statistics know its direction and its chance level
    assert not keypoints.higher_is_better and keypoints.constant_baseline(
        labels["points"], labels["points"]) > 0
    assert stats.delta_m({"points": 1.0}, {"points": 2.0}, [keypoints]) == 50.0
    # and plots draw it
    fig = plotting.plot_batch(images, labels, tasks, n=2)
    drawn = [ln for ln in fig.axes[0].lines if ln.get_label() == "keypoints"]
    np.testing.assert_allclose(drawn[0].get_xdata(), labels["points"][0, :, 0] * 32 - 0.5)


def test_unknown_kinds_and_ops_name_the_known_ones():
    with pytest.raises(ValueError, match="unknown label kind 'keypoint'.*class, position"):
        Task("p", "keypoint")
    with pytest.raises(ValueError, match="unknown augmentation op 'strech'.*rotate"):
        A.make_op("strech")
    assert math.isclose(A.pool_op("rotate").degrees, 30.0)
