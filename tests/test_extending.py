"""Extending the package: a new augmentation op is one class, a new label kind is one class.

Both are defined here, in this test module alone (not in an op or kind module of the
package), and then used through the public API only: the op joins RandAugment's default
pool by its ``pool`` setting and flows through augmentation, training and a plot; the kind
takes a Task field of its own (the number of points) and flows through augmentation, a
model head, training, statistics and a plot. Every registry refuses a reused name.
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
from mtl_utils import geometry, kinds, plotting, stats, text
from mtl_utils import weighting as W
from mtl_utils.data import to_dataset
from mtl_utils.models import build_shared_model
from mtl_utils.tasks import Task

matplotlib.use("Agg")


# ------------------------------------------------------------------------ a new op
@pytest.fixture(scope="module")
def stretch():
    """``Stretch``: a horizontal stretch by ``U[1 - amount, 1 + amount]``; one class, with
    the public draw helpers only."""

    @dataclass(frozen=True)
    class Stretch(A.GeometricOp):
        amount: float = 0.2
        p: float = 1.0
        name: ClassVar[str] = "stretch"
        magnitude_fields: ClassVar[tuple[str, ...]] = ("amount",)
        pool: ClassVar[dict] = {"amount": 0.4}
        limits: ClassVar[dict] = {"amount": (0.0, 1.0, ")")}
        changes_scale: ClassVar[bool] = True

        def matrices(self, seed, n, height, width, strength):
            u = A.signed_unit(seed, n, strength)
            return geometry.zoom(1.0 / (1.0 + self.amount * u), tf.ones([n]))

    yield Stretch
    A.OP_CLASSES.unregister("stretch")  # leave the registry as the other tests expect it


def test_a_new_op_is_one_class_used_by_name_and_in_every_policy(stretch):
    images, labels = object_batch(seed=3, n=8, h=32, w=32)
    tasks = (SHAPE, POSITION, MASK)
    labels = pick(labels, tasks)
    seed = tf.constant([1, 2])
    assert isinstance(A.make_op("stretch"), stretch)  # known by name
    assert A.op_at("stretch", 5) == stretch(0.2)  # magnitudes from its pool setting
    assert A.label_effect(POSITION, "stretch") == "moved"
    assert "stretch" in A.GEOMETRIC_OPS and A.MAGNITUDE_FIELDS["stretch"] == ("amount",)
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


def test_a_new_op_with_a_pool_setting_joins_rand_augments_default_pool(stretch):
    assert stretch(0.4) in A.DEFAULT_POOL and stretch(0.4) in A.rand_augment([SHAPE]).pool
    # Tasks that refuse every other op leave RandAugment's default pool (no pool=) with the
    # new op alone: what runs is the new op, at magnitude 10 (amount 0.4, sign random).
    others = frozenset(n for n in A.OP_NAMES if n != "stretch")
    tasks = {"shape": Task("shape", "class", num_classes=3, not_invariant_to=others),
             "position": Task("position", "position", not_invariant_to=others),
             "mask": Task("mask", "mask", not_invariant_to=others)}
    policy = A.rand_augment(tasks, num_ops=1, magnitude=10)
    assert [o.name for o in policy.pool] == ["stretch"]
    images, labels = object_batch(seed=5, n=16, h=32, w=32)
    labels = pick(labels, tasks.values())
    run = policy.run(images, labels, tf.constant([3, 4]))
    m = run.transform.matrices.numpy()  # the run hands back what it drew
    np.testing.assert_allclose(np.sort(np.unique(m[:, 0, 0].round(5))), [0.6, 1.4])
    np.testing.assert_allclose(m[:, 1, 1], 1.0)
    np.testing.assert_allclose(run.labels["position"], centroids(run.labels["mask"].numpy()),
                               atol=1 / 32)
    # ...through training (a to_dataset pipeline and a shared model) and a plot
    keras.utils.set_random_seed(0)
    model = build_shared_model(tasks, (32, 32, 3), filters=(4, 4))
    ds = to_dataset((images, labels), tasks, 8, seed=0, augment=policy)
    history = model.fit(ds, epochs=2, verbose=0, shuffle=False)
    assert np.isfinite(history.history["loss"]).all()
    fig = plotting.plot_batch(run.inputs, run.labels, tasks, n=2)
    cross = fig.axes[0].lines[0].get_data()
    np.testing.assert_allclose([cross[0][0], cross[1][0]],
                               run.labels["position"].numpy()[0] * 32 - 0.5)


# ------------------------------------------------------------------------ a new kind
@pytest.fixture(scope="module")
def keypoints():
    """``keypoints``: ``num_points`` points on the object, ``(num_points, 2)`` in ``[0, 1]``,
    the number of points a Task field of the kind's own; one class."""

    class KeypointsKind(kinds.LabelKind):
        name = "keypoints"
        fields = {"num_points": kinds.TaskField(None, "how many points each label has")}
        pool = "flatten"

        def validate(self, task):
            if not isinstance(task.num_points, int) or task.num_points < 1:
                raise ValueError(f"Task {task.name!r}: a keypoints task needs num_points >= 1,"
                                 f" got {task.num_points!r}.")

        def describe(self, task):
            return f", {task.num_points} points"

        def label_shape(self, task, image_shape):
            return (task.num_points, 2)

        def output_units(self, task):
            return 2 * task.num_points

        def head(self, task, features, image_shape, pool, hidden=64, dropout=0.0):
            x = layers.Dense(hidden, activation="relu")(layers.Flatten()(features))
            x = layers.Dense(self.output_units(task), activation="sigmoid")(x)
            return layers.Reshape((task.num_points, 2), name=task.name)(x)

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
            point = kinds.get_kind("position")
            points = [point.move(task, y[:, i], matrices, height, width, hflip)[0]
                      for i in range(task.num_points)]
            return tf.stack(points, axis=1), None

        def effect(self, task, op):
            return "moved"

        def draw(self, ax, task, y, frame, color):
            ax.plot(y[:, 0] * frame["width"] - 0.5, y[:, 1] * frame["height"] - 0.5, "x",
                    color=color, label="keypoints")

    yield Task("points", "keypoints", num_points=3, metric_scale=32.0, unit="px")
    kinds.LABEL_KINDS.unregister("keypoints")


def _points(labels):
    """Three points per object: its centre, 3 px to its right and 2 px below it."""
    pos = labels["position"]
    return np.stack([pos, pos + [3 / 32, 0.0], pos + [0.0, 2 / 32]], axis=1).astype(np.float32)


def test_a_new_label_kind_takes_a_field_of_its_own(keypoints):
    assert keypoints.num_points == 3 and keypoints.label_shape((32, 32, 3)) == (3, 2)
    assert keypoints.describe() == "points: keypoints, 3 points; metric error (px), lower is better"
    assert Task.from_config(keypoints.get_config()) == keypoints
    assert keypoints != Task("points", "keypoints", num_points=2, metric_scale=32.0, unit="px")
    with pytest.raises(ValueError, match="num_points >= 1"):
        Task("p", "keypoints")
    with pytest.raises(ValueError, match="num_points is only for keypoints tasks"):
        Task("p", "position", num_points=3)
    with pytest.raises(TypeError, match="unknown field 'num_point'.*num_points"):
        Task("p", "keypoints", num_point=3)
    with pytest.raises(AttributeError, match="num_points is a field of keypoints tasks"):
        POSITION.num_points  # noqa: B018


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
    points = y["points"].numpy()
    np.testing.assert_allclose(points[:, 0], y["position"].numpy(), atol=1e-5)
    for i, gap in ((1, 3.0), (2, 2.0)):  # rigid: the points keep their distances
        np.testing.assert_allclose(np.linalg.norm(points[:, i] - points[:, 0], axis=1) * 32,
                                   gap, atol=1e-3)
    # a head, a loss and a metric from the kind; training runs and the error falls
    keras.utils.set_random_seed(0)  # initial weights independent of the tests run before
    model = build_shared_model(tasks, (32, 32, 3), filters=(8, 8), learning_rate=3e-3)
    assert model.output["points"].shape[1:] == (3, 2)
    ds = to_dataset((images, labels), tasks, 16, seed=0, augment=policy)
    history = model.fit(ds, epochs=4, verbose=0, shuffle=False)  # the dataset shuffles
    errors = history.history["points_error"]
    assert np.isfinite(errors).all() and errors[-1] < errors[0]
    # statistics know its direction, display unit and chance level
    assert not keypoints.higher_is_better and keypoints.constant_baseline(
        labels["points"], labels["points"]) > 0
    assert keypoints.higher_is_better_for("error") is False
    assert keypoints.display_scale == (1.0, "px")
    assert stats.metric_label(keypoints) == "points error (px) ↓"
    assert stats.delta_m({"points": 1.0}, {"points": 2.0}, [keypoints]) == 50.0
    # and plots draw it
    fig = plotting.plot_batch(images, labels, tasks, n=2)
    drawn = [ln for ln in fig.axes[0].lines if ln.get_label() == "keypoints"]
    np.testing.assert_allclose(drawn[0].get_xdata(), labels["points"][0, :, 0] * 32 - 0.5)
    fig = plotting.plot_history(history.history, {"points": keypoints}, what="metric")
    assert fig.axes[0].get_ylabel() == "train error (px)"


# ------------------------------------------------------------------ the registries
def test_a_reused_name_in_any_registry_raises_and_names_the_fix():
    fix = r"already taken by {}; .* cannot reuse it\. Give your class another name, or " \
          r"unregister the old one first: {}\.unregister\('{}'\)"
    with pytest.raises(ValueError, match=fix.format(r"mtl_utils\.augment\.geometric\.Rotate",
                                                    r"mtl_utils\.augment\.OP_CLASSES",
                                                    "rotate")):
        @dataclass(frozen=True)
        class MyRotate(A.GeometricOp):
            name: ClassVar[str] = "rotate"
    with pytest.raises(ValueError, match=fix.format(r"mtl_utils\.kinds\.ClassKind",
                                                    r"mtl_utils\.kinds\.LABEL_KINDS", "class")):
        class MyClassKind(kinds.LabelKind):
            name = "class"
    with pytest.raises(ValueError, match=fix.format(r"mtl_utils\.weighting\.strategies\.DWA",
                                                    r"mtl_utils\.weighting\.STRATEGIES", "dwa")):
        class MyDWA(W.WeightingStrategy):
            name = "dwa"
    with pytest.raises(ValueError, match=fix.format(r"mtl_utils\.text\.ops\.RandomSwap",
                                                    r"mtl_utils\.text\.TEXT_OP_CLASSES", "swap")):
        class MySwap(text.TextOp):
            name = "swap"
    # the built-ins are untouched
    assert A.OP_CLASSES["rotate"] is A.Rotate and W.STRATEGIES["dwa"] is W.DWA
    assert type(kinds.LABEL_KINDS["class"]) is kinds.ClassKind
    assert text.TEXT_OP_CLASSES["swap"] is text.RandomSwap


def test_unregister_frees_a_name_and_a_class_defined_again_replaces_itself():
    def define(body: str):
        """A text op class named "shout", as a notebook cell defines it (same qualname)."""
        namespace = {"__name__": "a_notebook", "text": text}
        exec(f"class Shout(text.TextOp):\n    name = 'shout'\n{body}", namespace)
        return namespace["Shout"]

    first = define("    moves_words = False")
    try:
        again = define("    moves_words = True")  # the cell run again: replaces itself
        assert text.TEXT_OP_CLASSES["shout"] is again and "shout" in text.TEXT_OPS
        with pytest.raises(ValueError, match="'shout' is already taken"):
            class Shout(text.TextOp):  # another class (another qualname)
                name = "shout"
        assert text.TEXT_OP_CLASSES.unregister("shout") is again
        assert "shout" not in text.TEXT_OPS
        other = define("    pass")
        assert text.TEXT_OP_CLASSES["shout"] is other and first is not other
    finally:
        text.TEXT_OP_CLASSES.unregister("shout")
    with pytest.raises(KeyError, match="no text op named 'shout' to unregister"):
        text.TEXT_OP_CLASSES.unregister("shout")


def test_unknown_kinds_and_ops_name_the_known_ones():
    with pytest.raises(ValueError, match="unknown label kind 'keypoint'.*class, position"):
        Task("p", "keypoint")
    with pytest.raises(ValueError, match="unknown augmentation op 'strech'.*rotate"):
        A.make_op("strech")
    assert math.isclose(A.pool_op("rotate").degrees, 30.0)
