"""Test-time augmentation by label kind, and the drawn transform as an auxiliary task."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from toys import ANGLE, MASK, POSITION, SIDE, SIZE_TASK, centroids, disc_batch, object_batch, pick

from mtl_utils import augment as A
from mtl_utils import geometry
from mtl_utils.tasks import Task

SEED = tf.constant([1, 2], tf.int64)
ROUND_TRIP = (SIDE, POSITION, MASK, SIZE_TASK, ANGLE)


@pytest.mark.parametrize("name", A.GEOMETRIC_OPS)
def test_the_inverse_of_every_geometric_op_composes_to_the_identity(name):
    op = A.pool_op(name) if A.OP_CLASSES[name].pool is not None else A.make_op(name)
    m = A.shared([op], [POSITION]).run(np.zeros((16, 32, 24, 1), np.float32), None,
                                       SEED).transform.matrices
    np.testing.assert_allclose(geometry.invert(m) @ m, np.tile(np.eye(3), (16, 1, 1)),
                               atol=1e-5)


@settings(max_examples=25, deadline=None, derandomize=True)
@given(theta=st.floats(-180, 180), zoom=st.floats(0.7, 1.4), hflip=st.booleans(),
       tx=st.floats(-4, 4))
def test_a_prediction_moved_into_a_view_maps_back_exactly(theta, zoom, hflip, tx):
    # Whatever a view does, un-moving a prediction made in it returns the original frame's.
    _, labels = disc_batch(4, 32, 32, 3, seed=0)
    m = A.affine_matrix(32, 32, rotation_deg=theta, zx=zoom, zy=zoom, tx=tx, hflip=hflip)
    m = tf.tile(m, [4, 1, 1])
    flips = tf.fill([4], bool(hflip))
    for task in (SIDE, POSITION, SIZE_TASK):
        y = tf.constant(labels[task.name])
        if task is SIDE:  # a probability vector, as a model predicts it
            y = tf.one_hot(y, 2) * 0.8 + 0.1
        moved, _ = task.label_kind.move(task, y, m, 32, 32, flips)
        back = task.label_kind.unmove(task, moved, m, 32, 32, flips)
        np.testing.assert_allclose(back, y, atol=1e-4, err_msg=task.name)
    angle = labels["angle"][:, 0]
    vector = tf.constant(np.stack([np.cos(angle), np.sin(angle)], 1), tf.float32)
    moved, _ = ANGLE.label_kind.move(ANGLE, tf.constant(labels["angle"]), m, 32, 32, flips)
    predicted = tf.stack([tf.cos(moved[:, 0]), tf.sin(moved[:, 0])], 1)  # a perfect model
    back = ANGLE.label_kind.unmove(ANGLE, predicted, m, 32, 32, flips)
    np.testing.assert_allclose(back, vector, atol=1e-4)


class _Oracle:
    """A 'model' that reads each task's answer off the image: the white object's centroid
    is its position, the object itself its mask."""

    def predict(self, images, batch_size=None, verbose=0):
        masks = (images[..., :1] > 0.5).astype(np.float32)
        return {"position": centroids(masks), "mask": masks}


class _BatchedOracle(_Oracle):
    """The oracle as a Keras model is called by ``tta``: one batch at a time."""

    def __init__(self):
        self.batches = []

    def predict_on_batch(self, images):
        self.batches.append(len(images))
        return self.predict(images)


def test_tta_with_the_identity_view_equals_a_plain_predict():
    images, _ = object_batch(seed=1, n=6, h=32, w=32)
    policy = A.shared([], (POSITION, MASK))
    out = A.tta(_Oracle(), images, policy, views=1, include_original=False)
    plain = _Oracle().predict(images)
    batched = _BatchedOracle()
    out_batched = A.tta(batched, images, policy, views=1, include_original=False, batch_size=4)
    assert batched.batches == [4, 2]
    for t in plain:
        np.testing.assert_array_equal(out[t], plain[t])
        np.testing.assert_array_equal(out_batched[t], plain[t])


def test_tta_of_a_keras_model_equals_its_predict():
    import keras

    inputs = keras.Input((32, 32, 1))
    flat = keras.layers.Flatten()(inputs)
    model = keras.Model(inputs, {"position": keras.layers.Dense(2, name="position")(flat)})
    images, _ = object_batch(seed=3, n=5, h=32, w=32)
    images = images[..., :1]
    out = A.tta(model, images, A.shared([], [POSITION]), views=1, include_original=False,
                batch_size=2)
    np.testing.assert_allclose(out["position"], model.predict(images, verbose=0)["position"],
                               atol=1e-6)


def test_tta_by_kind_puts_predictions_back_where_naive_averaging_blurs_them():
    images, labels = object_batch(seed=2, n=8, h=32, w=32)
    policy = A.shared([A.HFlip(), A.Rotate(30), A.Translate(0.1, 0.1)], (POSITION, MASK),
                      fill_mode="constant")
    by_kind = A.tta(_Oracle(), images, policy, views=6)
    naive = A.tta(_Oracle(), images, policy, views=6, combine="naive")
    err = {k: np.abs(v["position"] - labels["position"]).max() * 32
           for k, v in (("kind", by_kind), ("naive", naive))}
    assert err["kind"] < 0.6 < err["naive"], err  # back within rasterisation; naive blurred
    iou = {k: float(np.mean(((v["mask"] > 0.5) & (labels["mask"] > 0.5)).sum((1, 2, 3))
                            / ((v["mask"] > 0.5) | (labels["mask"] > 0.5)).sum((1, 2, 3))))
           for k, v in (("kind", by_kind), ("naive", naive))}
    assert iou["kind"] > 0.9 > iou["naive"], iou


def test_tta_refuses_what_has_no_inverse():
    images, _ = object_batch(seed=1, n=2, h=32, w=32)
    with pytest.raises(ValueError, match="without mixing ops"):
        A.tta(_Oracle(), images, A.shared(["mixup"], [MASK]))
    with pytest.raises(ValueError, match="combine must be"):
        A.tta(_Oracle(), images, A.shared([], [MASK]), combine="mean")
    with pytest.raises(ValueError, match=r"non-empty \(N, H, W, C\) batch"):
        A.tta(_Oracle(), images[:0], A.shared([], [MASK]))


ZOOM = Task("zoom", "scalar", value_range=(0.5, 1.5))
FLIPPED = Task("flipped", "class", num_classes=2)
TURN = Task("turn", "angle")


def test_auxiliary_labels_equal_the_drawn_parameters():
    images, labels = disc_batch(16, 32, 32, 3, seed=3)
    inner = A.shared([A.HFlip(), A.Rotate(40), A.Zoom(0.3, isotropic=True)], [POSITION])
    policy = A.with_auxiliary(inner, {ZOOM: "scale", FLIPPED: "flip", TURN: "rotation"})
    assert policy.emits == ("zoom", "flipped", "turn")
    x, y = policy(images, pick(labels, [POSITION]), SEED)
    x0, y0 = inner(images, pick(labels, [POSITION]), SEED)
    np.testing.assert_array_equal(x, x0)  # the same view, labels moved the same way
    np.testing.assert_array_equal(y["position"], y0["position"])
    drawn = inner.run(images, pick(labels, [POSITION]), SEED).transform
    m, hflip = drawn.matrices, drawn.hflip
    det = np.linalg.det(m.numpy()[:, :2, :2])
    np.testing.assert_allclose(y["zoom"][:, 0], (np.sqrt(np.abs(det)) - 0.5) / 1.0, atol=1e-6)
    np.testing.assert_array_equal(y["flipped"], hflip.numpy().astype(int))
    # the drawn rotation, read back: the labels' turn is the rotation the op drew
    turned = np.degrees(y["turn"].numpy()[:, 0])
    signed = np.where(turned > 180, turned - 360, turned)
    unflipped = ~hflip.numpy()
    assert np.all(np.abs(signed[unflipped]) <= 40 + 1e-3)
    evaluation = policy.for_evaluation()
    _, ye = evaluation(images, pick(labels, [POSITION]), SEED)
    np.testing.assert_allclose(ye["zoom"], 0.5)  # an untransformed image: scale 1
    assert not ye["flipped"].numpy().any() and not ye["turn"].numpy().any()


def test_auxiliary_tasks_are_checked_against_what_they_learn():
    inner = A.shared(["hflip"], [POSITION])
    with pytest.raises(ValueError, match="unknown auxiliary quantity 'shear'"):
        A.with_auxiliary(inner, {ZOOM: "shear"})
    with pytest.raises(ValueError, match="learns 'flip', a class label with 2 classes"):
        A.with_auxiliary(inner, {ZOOM: "flip"})
    with pytest.raises(ValueError, match="also a main task"):
        A.with_auxiliary(inner, {Task("position", "scalar"): "scale"})


def test_an_auxiliary_task_trains_with_the_others(shapes):
    from mtl_utils import experiments as ex

    aux = Task("zoom", "scalar", value_range=(0.6, 1.5))
    config = ex.Config("aux", tasks=["shape", "position"], epochs=1,
                       model_kwargs={"filters": (4, 4)},
                       augment=lambda ts: A.with_auxiliary(
                           A.shared([A.Zoom(0.3, isotropic=True)], ts), {aux: "scale"}))
    rows = ex.run_config(shapes, config, [0], progress=False)
    assert {"shape", "position", "zoom"} <= set(rows["task"])
    zoom_error = rows[(rows.task == "zoom") & (rows.metric == "error")]["value"].iloc[0]
    assert math.isfinite(zoom_error)
