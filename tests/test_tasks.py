"""The Task spec: one source of truth for each task's label, loss, metric and direction."""

import numpy as np
import pytest

from mtl_utils.kinds import (
    LABEL_KINDS,
    angle_error_deg,
    class_accuracy,
    class_crossentropy,
    mask_iou,
    position_distance,
)
from mtl_utils.tasks import Task, select_tasks, task_dict, validate_labels


def test_every_kind_has_shape_direction_and_metric():
    for kind in LABEL_KINDS:
        t = Task("t", kind, num_classes=3 if kind in ("class", "segmentation") else None)
        assert isinstance(t.label_shape((8, 8, 3)), tuple)
        assert isinstance(t.higher_is_better, bool)
        assert t.metric_key == f"t_{t.metric}"
        assert t.metrics()[0].name == t.metric
        assert t.output_units >= 1


def test_label_shapes_follow_image_size():
    assert Task("m", "mask").label_shape((20, 24, 1)) == (20, 24, 1)
    assert Task("p", "position").label_shape((20, 24, 1)) == (2,)
    assert Task("c", "class", num_classes=4).label_shape((20, 24, 1)) == ()


@pytest.mark.parametrize("kwargs, message", [
    (dict(name="x", kind="keypoint"), "unknown label kind 'keypoint'"),
    (dict(name="bad name", kind="class", num_classes=2), "not a Python identifier"),
    (dict(name="c", kind="class"), "num_classes >= 2"),
    (dict(name="c", kind="class", num_classes=3, class_names=("a", "b")), "one name per class"),
    (dict(name="c", kind="class", num_classes=3, flip_class_map=(0, 0, 1)), "permutation"),
    (dict(name="p", kind="position", num_classes=3), "num_classes is only for class"),
    (dict(name="p", kind="position", scale_equivariant=True), "only for scalar"),
    (dict(name="s", kind="scalar", value_range=(1.0, 1.0)), "hi > lo"),
    (dict(name="s", kind="scalar", head_pool="mean"), "unknown head_pool"),
])
def test_bad_task_specs_raise_clear_errors(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Task(**kwargs)


def test_task_names_must_be_unique_and_known():
    a, b = Task("a", "mask"), Task("b", "position")
    with pytest.raises(ValueError, match="two tasks are named 'a'"):
        task_dict([a, a])
    with pytest.raises(KeyError, match="unknown task 'c'.*\\['a', 'b'\\]"):
        select_tasks([a, b], ["c"])
    assert list(select_tasks([a, b], ["b", "a"])) == ["b", "a"]


def test_class_loss_and_accuracy_accept_integer_and_soft_labels():
    pred = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], np.float32)
    hard = np.array([0, 1])
    soft = np.eye(3, dtype=np.float32)[hard]
    np.testing.assert_allclose(class_crossentropy(hard, pred), class_crossentropy(soft, pred),
                               rtol=1e-6)
    np.testing.assert_allclose(class_crossentropy(hard, pred), -np.log([0.7, 0.1]), rtol=1e-5)
    np.testing.assert_array_equal(class_accuracy(hard, pred), [1.0, 0.0])
    np.testing.assert_array_equal(class_accuracy(soft, pred), [1.0, 0.0])


def test_metric_functions_on_hand_computed_cases():
    t = np.zeros((1, 4, 4, 1), np.float32)
    t[0, :2, :2] = 1
    p = np.zeros_like(t)
    p[0, :2, :] = 0.9
    assert float(mask_iou(t, p)[0]) == pytest.approx(4 / 8)
    assert float(mask_iou(np.zeros_like(t), np.zeros_like(t))[0]) == 1.0
    d = position_distance(np.array([[0.0, 0.0]]), np.array([[0.3, 0.4]], np.float32))
    assert float(d[0]) == pytest.approx(0.5, abs=1e-5)
    err = angle_error_deg(np.array([[0.1]]), np.array([[np.cos(-0.1), np.sin(-0.1)]],
                                                      np.float32))
    assert float(err[0]) == pytest.approx(np.degrees(0.2), abs=1e-3)
    wrapped = angle_error_deg(np.array([[0.05]]), np.array([[np.cos(2 * np.pi - 0.05),
                                                            np.sin(2 * np.pi - 0.05)]],
                                                          np.float32))
    assert float(wrapped[0]) == pytest.approx(np.degrees(0.1), abs=1e-3)


def test_scaled_error_metric_reads_in_units():
    t = Task("position", "position", metric_scale=32.0, unit="px")
    m = t.metrics()[0]
    m.update_state(np.array([[0.5, 0.5]]), np.array([[0.5, 0.5 + 1 / 32]], np.float32))
    assert float(m.result()) == pytest.approx(1.0, abs=1e-4)


def test_validate_labels_names_the_problem():
    tasks = [Task("c", "class", num_classes=2), Task("m", "mask")]
    images = np.zeros((3, 8, 8, 1), np.float32)
    good = {"c": np.zeros(3, np.int32), "m": np.zeros((3, 8, 8, 1), np.float32)}
    validate_labels(tasks, images, good)
    with pytest.raises(ValueError, match="missing task 'm'"):
        validate_labels(tasks, images, {"c": good["c"]})
    with pytest.raises(ValueError, match="label 'm' \\(mask\\) has shape \\(3, 8, 8\\)"):
        validate_labels(tasks, images, {**good, "m": np.zeros((3, 8, 8))})
    with pytest.raises(ValueError, match="4-D batch"):
        validate_labels(tasks, images[0], good)


def test_a_task_serialises_every_field():
    import json

    task = Task("side", "class", num_classes=2, class_names=("l", "r"), flip_class_map=(1, 0),
                not_invariant_to=frozenset({"vflip", "hue"}), metric_scale=2.0, unit="u",
                head_pool="avg")
    again = Task.from_config(json.loads(json.dumps(task.get_config())))
    assert again == task and again.head_pool == "avg"
    size = Task("size", "scalar", scale_equivariant=True, value_range=(2.0, 12.0))
    assert Task.from_config(size.get_config()) == size
