"""The offline datasets: deterministic, labels that match their images, clear errors."""

import numpy as np
import pytest

from mtl_utils.data import (
    COLORS,
    SHAPES,
    Split,
    load_dataset,
    make_multi_digits,
    make_shapes,
    object_color,
    to_dataset,
)


def test_shapes_are_deterministic_per_seed_and_differ_across_seeds():
    a = make_shapes(40, seed=3, n_val=8, n_test=8)
    b = make_shapes(40, seed=3, n_val=8, n_test=8)
    c = make_shapes(40, seed=4, n_val=8, n_test=8)
    np.testing.assert_array_equal(a.train.images, b.train.images)
    for k in a.tasks:
        np.testing.assert_array_equal(a.train.labels[k], b.train.labels[k])
    assert not np.allclose(a.train.images, c.train.images)
    assert not np.array_equal(a.train.labels["shape"], c.train.labels["shape"])


def test_splits_are_independent_streams(shapes):
    assert not np.allclose(shapes.train.images[:8], shapes.test.images[:8])
    assert len(shapes.train) == 96 and len(shapes.val) == 32 and len(shapes.test) == 48


def test_shapes_images_and_label_ranges(shapes):
    x = shapes.train.images
    assert x.shape == (96, 32, 32, 3) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    labels = shapes.train.labels
    assert set(labels) == {"shape", "color", "position", "size", "mask"}
    assert set(np.unique(labels["shape"])) <= set(range(len(SHAPES)))
    assert set(np.unique(labels["color"])) <= set(range(len(COLORS)))
    assert set(np.unique(labels["mask"])) == {0.0, 1.0}
    assert 0.0 < labels["size"].min() and labels["size"].max() < 1.0
    assert 0.0 <= labels["position"].min() and labels["position"].max() <= 1.0


def _centroid(mask):
    h, w = mask.shape
    ys, xs = np.nonzero(mask)
    return np.array([(xs + 0.5).mean() / w, (ys + 0.5).mean() / h])


def test_position_is_the_mask_centroid(shapes):
    for m, p in zip(shapes.train.labels["mask"][..., 0], shapes.train.labels["position"]):
        np.testing.assert_allclose(p, _centroid(m), atol=1e-5)


def test_size_matches_the_mask_extent(shapes):
    # every shape has a vertex (or arm end) at its circumradius, so the farthest mask pixel
    # centre from the centroid sits at the radius: a little inside it at sharp tips (a pixel
    # there is less than half covered), a little outside for round ends (pixel centres)
    task = shapes.tasks["size"]
    lo, hi = task.value_range
    size = shapes.image_shape[0]
    for m, p, s in zip(shapes.train.labels["mask"][..., 0], shapes.train.labels["position"],
                       shapes.train.labels["size"][:, 0]):
        ys, xs = np.nonzero(m)
        if xs.min() == 0 or ys.min() == 0 or xs.max() == size - 1 or ys.max() == size - 1:
            continue  # clipped by the frame
        reach = np.hypot(xs + 0.5 - p[0] * size, ys + 0.5 - p[1] * size).max()
        assert -1.25 <= reach - (lo + s * (hi - lo)) <= 0.75


def test_mask_covers_pixels_in_the_object_colour(shapes):
    palette = np.array(list(COLORS.values()))
    for img, m, c in zip(shapes.train.images, shapes.train.labels["mask"][..., 0],
                         shapes.train.labels["color"]):
        inside = img[m > 0]
        dist_own = np.linalg.norm(inside - palette[c], axis=1)
        # drawn with jitter (sigma 0.1 per channel) and noise; the mask's pixels are the
        # object's colour, except where it is anti-aliased at the edge
        assert np.median(dist_own) < 0.35


def test_angle_label_is_optional_and_in_range():
    d = make_shapes(16, seed=0, n_val=4, n_test=4, with_angle=True)
    a = d.train.labels["angle"]
    assert a.shape == (16, 1) and a.min() >= 0 and a.max() < 2 * np.pi
    assert "angle" in d.tasks and "angle" not in make_shapes(4, n_val=4, n_test=4).tasks


def test_digit_labels_match_the_digits_placed(digits):
    from sklearn.datasets import load_digits

    src = load_digits()
    x = digits.train.images[..., 0]
    assert x.shape == (96, 20, 20)
    # The top-left 4x4 corner only holds the left digit, the bottom-right corner the right one.
    # A nearest-neighbour classifier on those corners' source digits must agree with labels:
    # instead, check directly that each image equals its two digits' composition.
    from mtl_utils.data import _smooth_upsample

    templates = _smooth_upsample((src.images / 16.0)[..., None], 16)[..., 0]
    for img, left, right in zip(x[:20], digits.train.labels["left"][:20],
                                digits.train.labels["right"][:20]):
        corner_l = img[:4, :4]
        corner_r = img[16:, 16:]
        cand_l = templates[src.target == left][:, :4, :4]
        cand_r = templates[src.target == right][:, 12:, 12:]
        assert np.abs(cand_l - corner_l).max(axis=(1, 2)).min() < 1e-5
        assert np.abs(cand_r - corner_r).max(axis=(1, 2)).min() < 1e-5


def test_digit_test_images_use_unseen_source_digits():
    from mtl_utils.data import _load_digit_source

    xtr, _, xte, _ = _load_digit_source("sklearn")
    flat_tr = {a.tobytes() for a in xtr}
    assert not any(a.tobytes() in flat_tr for a in xte)
    assert abs(len(xtr) - 1200) < 10


def test_mnist_offline_fails_with_a_message_naming_the_offline_default(monkeypatch):
    import keras

    def offline(*args, **kwargs):
        raise OSError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(keras.datasets.mnist, "load_data", offline)
    with pytest.raises(RuntimeError, match="offline.*source='sklearn'"):
        make_multi_digits(10, source="mnist")


@pytest.mark.parametrize("call, message", [
    (lambda: make_shapes(0), "n must be an integer >= 1"),
    (lambda: make_shapes(10, image_size=8), "image_size must be an integer >= 16"),
    (lambda: make_multi_digits(10, source="emnist"), "unknown digit source 'emnist'"),
    (lambda: load_dataset("cifar", 10), "unknown dataset 'cifar'"),
    (lambda: make_shapes(10, shortcut=1.5), "shortcut must be a probability in \\[0, 1\\]"),
    (lambda: make_shapes(10, shortcut="yes"), "shortcut must be a probability"),
    (lambda: make_shapes(10, shortcut=0.5, shortcut_splits=["test"]), "never tied"),
    (lambda: make_shapes(10, shortcut=0.5, shortcut_splits="train"), "must name"),
])
def test_bad_dataset_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_to_dataset_yields_image_and_label_dict_batches(shapes):
    ds = to_dataset(shapes.train, shapes.tasks, batch_size=32, shuffle=False)
    x, y = next(iter(ds))
    assert x.shape == (32, 32, 32, 3)
    assert set(y) == set(shapes.tasks)
    assert y["mask"].shape == (32, 32, 32, 1) and y["shape"].shape == (32,)
    np.testing.assert_array_equal(x.numpy(), shapes.train.images[:32])
    assert sum(int(b[0].shape[0]) for b in ds) == len(shapes.train)


def test_to_dataset_shuffle_is_seeded_and_reshuffles_each_epoch(shapes):
    def first_labels(ds):
        return [next(iter(ds))[1]["shape"].numpy() for _ in range(2)]

    a = first_labels(to_dataset(shapes.train, shapes.tasks, 32, shuffle=True, seed=1))
    b = first_labels(to_dataset(shapes.train, shapes.tasks, 32, shuffle=True, seed=1))
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert not np.array_equal(a[0], a[1])


def test_to_dataset_selects_tasks_and_replicates_inputs(shapes):
    ds = to_dataset(shapes.train, {k: shapes.tasks[k] for k in ("shape", "mask")}, 8,
                    shuffle=False, per_task_inputs=True)
    x, y = next(iter(ds))
    assert set(y) == {"shape", "mask"} and set(x) == {"shape", "mask"}
    np.testing.assert_array_equal(x["shape"].numpy(), x["mask"].numpy())


def test_to_dataset_rejects_mismatched_labels(shapes):
    bad = Split(shapes.train.images, {**shapes.train.labels, "position": np.zeros((96, 3))})
    with pytest.raises(ValueError, match="label 'position'"):
        to_dataset(bad, shapes.tasks)
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1"):
        to_dataset(shapes.train, shapes.tasks, batch_size=0)
    with pytest.raises(ValueError, match="per_task_inputs names unknown"):
        to_dataset(shapes.train, shapes.tasks, per_task_inputs=["nope"])


def test_with_train_size_takes_a_nested_subset_and_keeps_the_other_splits(shapes):
    small = shapes.with_train_size(40)
    assert len(small.train) == 40 and small.info["train_pool"] == len(shapes.train)
    np.testing.assert_array_equal(small.train.images, shapes.train.images[:40])
    for k in shapes.tasks:
        np.testing.assert_array_equal(small.train.labels[k], shapes.train.labels[k][:40])
    assert small.test is shapes.test and small.val is shapes.val
    assert small.with_train_size(10).info["train_pool"] == len(shapes.train)
    assert len(shapes.train) == 96  # the original is untouched
    with pytest.raises(ValueError, match="with_train_size\\(1000\\): n must be in 1..96"):
        shapes.with_train_size(1000)


def test_a_repeated_dataset_gives_the_batches_of_fresh_epochs(shapes):
    # fit(steps_per_epoch=...) on repeat=True must train on exactly the batches that a new
    # iterator per epoch would give: same shuffles, same augmentation draws.
    from mtl_utils import augment

    tasks = {k: shapes.tasks[k] for k in ("shape", "position")}
    policy = augment.shared(["hflip", augment.Rotate(30)], tasks)

    def make(**kw):
        return to_dataset(shapes.train, tasks, 32, seed=3, augment=policy, **kw)

    fresh = make()
    epochs = [b for _ in range(3) for b in fresh]
    repeated = list(make(repeat=True).take(len(epochs)))
    for (x, y), (xr, yr) in zip(epochs, repeated):
        np.testing.assert_array_equal(x.numpy(), xr.numpy())
        np.testing.assert_array_equal(y["position"].numpy(), yr["position"].numpy())
    assert not np.array_equal(epochs[0][0].numpy(), epochs[3][0].numpy())  # epochs differ


def test_index_batches_are_the_batches_of_shuffled_examples(shapes):
    # to_dataset shuffles and batches indices, then gathers: the same batches, epoch after
    # epoch, as shuffling and batching the examples themselves
    import tensorflow as tf

    arrays = (shapes.train.images, {"shape": shapes.train.labels["shape"]})
    classic = tf.data.Dataset.from_tensor_slices(arrays).shuffle(
        len(shapes.train), seed=7, reshuffle_each_iteration=True).batch(40)
    ours = to_dataset(shapes.train, {"shape": shapes.tasks["shape"]}, 40, seed=7)
    for _ in range(2):
        pairs = list(zip(classic, ours, strict=True))
        for (x, y), (xo, yo) in pairs:
            np.testing.assert_array_equal(x.numpy(), xo.numpy())
            np.testing.assert_array_equal(y["shape"].numpy(), yo["shape"].numpy())
    assert [len(x) for x, _ in ours] == [40, 40, 16]


def test_pipeline_variants_give_to_datasets_batches_or_the_same_examples(shapes):
    from mtl_utils import augment
    from mtl_utils.pipelines import pipeline_variant

    tasks = {k: shapes.tasks[k] for k in ("shape", "position")}
    policy = augment.shared(["hflip"], tasks)
    ours = list(to_dataset(shapes.train, tasks, 32, seed=2, augment=policy))
    same = list(pipeline_variant(shapes.train, policy, 32, 2))
    for (x, y), (xv, yv) in zip(ours, same, strict=True):
        np.testing.assert_array_equal(x.numpy(), xv.numpy())
        np.testing.assert_array_equal(y["position"].numpy(), yv["position"].numpy())
    for kw in ({"per_example": True}, {"parallel": False, "prefetch": False, "rewrites": False}):
        shapes_seen = np.concatenate([y["shape"].numpy() for _, y in
                                      pipeline_variant(shapes.train, policy, 32, 2, **kw)])
        np.testing.assert_array_equal(np.sort(shapes_seen), np.sort(shapes.train.labels["shape"]))


def test_labels_of_another_length_are_refused_even_without_tasks(shapes):
    labels = {"shape": shapes.train.labels["shape"][:-3]}
    with pytest.raises(ValueError, match=r"one row per example \(96\); got \{'shape': 93\}"):
        to_dataset((shapes.train.images, labels), None, 32)


def test_to_datasets_cache_argument_warns_that_it_does_nothing(shapes):
    with pytest.warns(DeprecationWarning, match=r"cache=\.\.\.\) has no effect"):
        to_dataset(shapes.train, shapes.tasks, 32, cache=False)


def test_to_dataset_leaves_the_autotuner_off_unless_asked(shapes):
    ds = to_dataset(shapes.train, shapes.tasks, 32)
    assert ds.options().autotune.enabled is False
    assert to_dataset(shapes.train, shapes.tasks, 32, autotune=True).options().autotune.enabled


def test_object_color_reads_the_palette_colour_under_the_mask(shapes):
    from mtl_utils.data import COLORS, object_color

    derived = object_color(shapes.train.images, shapes.train.labels["mask"])
    assert np.mean(derived == shapes.train.labels["color"]) > 0.9  # colour jitter aside
    red = np.zeros((1, 4, 4, 3), np.float32)
    red[..., :] = COLORS["blue"]
    red[0, :2, :2] = COLORS["red"]
    mask = np.zeros((1, 4, 4, 1), np.float32)
    mask[0, :2, :2] = 1
    assert object_color(red, mask)[0] == list(COLORS).index("red")
    with pytest.raises(ValueError, match="RGB images"):
        object_color(red[..., :1], mask)


def test_a_shortcut_ties_colour_to_shape_in_train_and_val_but_not_in_test():
    data = make_shapes(600, seed=1, n_val=300, n_test=600, shortcut=0.9)

    def tied(split):  # the rule a shortcut model learns: colour // 2 is the shape
        return np.mean(split.labels["color"] // 2 == split.labels["shape"])

    # 0.9 tied on purpose, plus 1 in 5 of the rest by chance
    assert tied(data.train) == pytest.approx(0.92, abs=0.03)
    assert tied(data.val) == pytest.approx(0.92, abs=0.04)
    assert tied(data.test) == pytest.approx(0.2, abs=0.05)
    # the colour drawn is the colour labelled
    colours = object_color(data.train.images, data.train.labels["mask"])
    assert np.mean(colours == data.train.labels["color"]) > 0.9
    assert data.info["shortcut"] == 0.9


def test_no_shortcut_leaves_the_data_as_it_was():
    plain = make_shapes(64, seed=2, n_val=8, n_test=8)
    same = make_shapes(64, seed=2, n_val=8, n_test=8, shortcut=0.0)
    np.testing.assert_array_equal(plain.train.images, same.train.images)
    assert "shortcut" not in same.info
    # with a shortcut only train and val change; the test split is the same draw
    tied = make_shapes(64, seed=2, n_val=8, n_test=8, shortcut=0.5)
    np.testing.assert_array_equal(plain.test.images, tied.test.images)
    assert not np.array_equal(plain.train.images, tied.train.images)
    # validation drawn like test: tied in training only
    clean_val = make_shapes(64, seed=2, n_val=8, n_test=8, shortcut=0.5,
                            shortcut_splits=("train",))
    np.testing.assert_array_equal(plain.val.images, clean_val.val.images)
    np.testing.assert_array_equal(tied.train.images, clean_val.train.images)
