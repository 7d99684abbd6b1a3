"""Example-based tests of mtl_utils.augment: errors, mixing, photometric ops, reproducibility,
tf.data use, and agreement with the legacy ImageDataGenerator."""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from keras.src.legacy.preprocessing.image import ImageDataGenerator  # noqa: E402
from toys import ALL, ANGLE, COLOR, COUNT, MASK, POSITION, SHAPE, SIDE, pick  # noqa: E402
from toys import SIZE_TASK as SIZE  # noqa: E402
from toys import disc_batch as batch  # noqa: E402

from mtl_utils import augment as A  # noqa: E402
from mtl_utils.tasks import Task  # noqa: E402

# The legacy generator calls a deprecated SciPy namespace; that is not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Please import `affine_transform`:DeprecationWarning")

SEED = tf.constant([3, 4], tf.int64)


# ------------------------------------------------------------------- vocabulary, errors
def test_op_vocabulary_is_complete_and_names_match_classes():
    assert set(A.OP_NAMES) == set(A.OP_CLASSES)
    # the built-in ops (ops of other modules, such as notebook 11's scale_crop, join them)
    builtin = {n for n in A.OP_NAMES if A.OP_CLASSES[n].__module__.startswith("mtl_utils.augment")}
    assert builtin & set(A.GEOMETRIC_OPS) == {"hflip", "vflip", "rotate", "quarter_turn",
                                              "translate", "zoom", "shear"}
    assert set(A.MIXING_OPS) == {"mixup", "cutmix"}
    for name, cls in A.OP_CLASSES.items():
        assert A.make_op(name).name == name and isinstance(A.make_op(name), cls)


def test_unknown_op_name_raises_listing_known_names():
    with pytest.raises(ValueError, match="unknown augmentation op 'rotation'.*rotate"):
        A.shared(["rotation"], [SHAPE])
    with pytest.raises(TypeError, match="op name"):
        A.shared([42], [SHAPE])


def test_unknown_op_in_task_not_invariant_to_raises_listing_known_names():
    bad = Task("c", "class", num_classes=2, not_invariant_to=frozenset({"colour"}))
    with pytest.raises(ValueError, match="'c' not_invariant_to.*'colour'.*hue"):
        A.shared(["hflip"], [bad])


def test_label_breaking_policy_raises_naming_task_op_and_fix():
    with pytest.raises(ValueError, match=r"'hue'.*'color'.*drop 'hue'.*per_task.*naive=True"):
        A.shared(["hflip", "hue"], [SHAPE, COLOR])
    digits = Task("left", "class", num_classes=10, not_invariant_to=frozenset({"hflip"}))
    with pytest.raises(ValueError, match="'hflip'.*'left'"):
        A.article_preset([digits])
    with pytest.raises(ValueError, match="'grayscale'.*'color'"):
        A.per_task({"color": ["grayscale"]}, [SHAPE, COLOR])


def test_per_task_lets_each_task_take_only_the_ops_it_tolerates():
    images, labels = batch()
    policy = A.per_task({"shape": ["hue", "hflip"], "color": ["hflip"]}, [SHAPE, COLOR])
    xs, ys = policy(images, pick(labels, [SHAPE, COLOR]), SEED)
    assert set(xs) == {"shape", "color"}
    assert not np.allclose(xs["shape"].numpy(), xs["color"].numpy())


def test_naive_policy_moves_the_image_but_leaves_labels_untouched():
    images, labels = batch()
    tasks = [SHAPE, COLOR, SIDE, POSITION, MASK, SIZE, ANGLE]
    labels = pick(labels, tasks)
    policy = A.shared([A.HFlip(p=1.0), A.Zoom(0.2), "hue", "mixup"], tasks, naive=True)
    x, y = policy(images, labels, SEED)
    assert not np.allclose(x.numpy(), images)
    for k, v in labels.items():
        np.testing.assert_array_equal(y[k].numpy(), v)


def test_bad_inputs_raise_clear_errors():
    images, labels = batch()
    policy = A.shared(["hflip"], [SHAPE, POSITION])
    good = pick(labels, [SHAPE, POSITION])
    with pytest.raises(ValueError, match="4-D batch"):
        policy(images[0], good, SEED)
    with pytest.raises(ValueError, match="missing task 'position'"):
        policy(images, {"shape": labels["shape"]}, SEED)
    with pytest.raises(ValueError, match="label 'mask' has no Task"):
        policy(images, dict(good, mask=labels["mask"]), SEED)
    with pytest.raises(TypeError, match="float32"):
        policy((images * 255).astype(np.uint8), good, SEED)
    with pytest.raises(ValueError, match=r"shape \[2\]"):
        policy(images, good, tf.constant([1, 2, 3]))
    with pytest.raises(ValueError, match="label 'position'.*expected"):
        policy(images, dict(good, position=labels["position"][:, :1]), SEED)
    with pytest.raises(TypeError, match="dict"):
        policy(images, [labels["shape"]], SEED)
    with pytest.raises(ValueError, match="fill_mode"):
        A.shared(["hflip"], [SHAPE], fill_mode="mirror")
    with pytest.raises(ValueError, match="p must be in"):
        A.HFlip(p=2.0)


def test_colour_ops_on_single_channel_images_raise_unless_random_policy_skips_them():
    images, labels = batch(c=1)
    with pytest.raises(ValueError, match="'hue' needs RGB"):
        A.shared(["hue"], [SHAPE], channels=1)
    with pytest.raises(ValueError, match="'saturation' needs RGB.*C=1"):
        A.shared(["saturation"], [SHAPE])(images, pick(labels, [SHAPE]), SEED)
    x, _ = A.shared(["grayscale"], [SHAPE])(images, pick(labels, [SHAPE]), SEED)
    np.testing.assert_array_equal(x.numpy(), images)
    policy = A.rand_augment([SHAPE], num_ops=3, pool=["hue", "saturation", "rotate",
                                                       "brightness", "identity"])
    x, _ = policy(images, pick(labels, [SHAPE]), SEED)
    assert x.shape == images.shape


# ------------------------------------------------------------------- label kinds
def test_hflip_applies_flip_class_map_to_index_and_soft_labels():
    images, labels = batch(n=4)
    policy = A.shared([A.HFlip(p=1.0)], [SIDE])
    _, y = policy(images, {"side": labels["side"]}, SEED)
    np.testing.assert_array_equal(y["side"].numpy(), 1 - labels["side"])
    soft = np.array([[0.7, 0.3]] * 4, np.float32)
    _, y = policy(images, {"side": soft}, SEED)
    np.testing.assert_allclose(y["side"].numpy(), soft[:, ::-1])
    _, y = A.shared([A.VFlip(p=1.0)], [SIDE])(images, {"side": labels["side"]}, SEED)
    np.testing.assert_array_equal(y["side"].numpy(), labels["side"])


def test_position_leaving_the_frame_gets_zero_weight_and_is_not_clipped():
    images, labels = batch(n=2)
    labels["position"] = np.array([[0.9, 0.5], [0.5, 0.5]], np.float32)
    m = A.affine_matrix(32, 32, tx=[8.0, 0.0])
    x, y, w = A.apply_affine(images, pick(labels, [SHAPE, POSITION]), m, [SHAPE, POSITION],
                             with_visibility=True)
    np.testing.assert_allclose(y["position"].numpy(), [[1.15, 0.5], [0.5, 0.5]], atol=1e-6)
    np.testing.assert_array_equal(w["position"].numpy(), [0.0, 1.0])
    np.testing.assert_array_equal(w["shape"].numpy(), [1.0, 1.0])


def test_scalar_scales_with_zoom_in_physical_units_without_clipping():
    images, labels = batch(n=2)
    labels["size"] = np.array([[1.0], [0.0]], np.float32)  # radius 12 and 2
    m = A.affine_matrix(32, 32, zx=0.8, zy=0.8)  # content 1.25x larger
    _, y = A.apply_affine(images, pick(labels, [SIZE, COUNT]), m, [SIZE, COUNT])
    np.testing.assert_allclose(y["size"].numpy()[:, 0], [(15 - 2) / 10, (2.5 - 2) / 10], rtol=1e-5)
    np.testing.assert_array_equal(y["count"].numpy(), labels["count"])


def test_angle_turns_with_the_linear_part_and_is_wrapped():
    images, labels = batch(n=3)
    labels["angle"] = np.array([[0.0], [math.pi / 2], [6.0]], np.float32)
    m = A.affine_matrix(32, 32, rotation_deg=90.0)
    _, y = A.apply_affine(images, {"angle": labels["angle"]}, m, [ANGLE])
    want = np.mod(labels["angle"][:, 0] - math.pi / 2, 2 * math.pi)
    np.testing.assert_allclose(y["angle"].numpy()[:, 0], want, atol=1e-5)


def test_mask_keeps_its_dtype_and_stays_binary():
    images, labels = batch()
    for dtype in (np.float32, np.int32, np.uint8):
        mask = labels["mask"].astype(dtype)
        _, y = A.shared(A.article_ops(), [MASK])(images, {"mask": mask}, SEED)
        assert y["mask"].dtype == tf.as_dtype(dtype)
        assert set(np.unique(y["mask"].numpy())) <= {0, 1}


# ------------------------------------------------------------------- reproducibility
def test_same_seed_gives_same_batch_and_different_seeds_differ():
    images, labels = batch()
    for policy in (A.article_preset(ALL[:1] + ALL[3:]),
                   A.rand_augment([SHAPE, POSITION, MASK]),
                   A.per_task({"shape": ["rotate", "noise"]}, [SHAPE, POSITION],
                              default=["hflip", "translate"])):
        labs = pick(labels, policy.tasks.values())
        a = policy(images, labs, tf.constant([1, 2]))
        b = policy(images, labs, tf.constant([1, 2], tf.int32))
        c = policy(images, labs, tf.constant([1, 3]))
        tf.nest.map_structure(lambda u, v: np.testing.assert_array_equal(u, v), a, b)
        xa = tf.nest.flatten(a[0])[0].numpy()
        assert not np.array_equal(xa, tf.nest.flatten(c[0])[0].numpy())


def test_per_task_views_differ_between_tasks_and_shared_view_is_one_tensor():
    images, labels = batch()
    tasks = [SHAPE, POSITION, MASK]
    xs, _ = A.article_preset(tasks, per_task=True)(images, pick(labels, tasks), SEED)
    assert set(xs) == {"shape", "position", "mask"}
    assert not np.allclose(xs["shape"].numpy(), xs["position"].numpy())
    assert not np.allclose(xs["position"].numpy(), xs["mask"].numpy())
    x, _ = A.article_preset(tasks)(images, pick(labels, tasks), SEED)
    assert isinstance(x, tf.Tensor) and x.shape == images.shape


def pipeline(images, labels, policy, seed=0):
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).batch(4)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    return tf.data.Dataset.zip(ds, seeds).map(lambda xy, s: policy(xy[0], xy[1], s),
                                              num_parallel_calls=tf.data.AUTOTUNE)


def test_tf_data_pipeline_is_reproducible_and_epochs_differ():
    images, labels = batch(n=8)
    tasks = [SHAPE, POSITION, MASK, SIZE, ANGLE]
    policy = A.article_preset(tasks)
    ds = pipeline(images, pick(labels, tasks), policy)
    epoch1 = [x.numpy() for x, _ in ds]
    epoch2 = [x.numpy() for x, _ in ds]
    again = [x.numpy() for x, _ in pipeline(images, pick(labels, tasks), policy)]
    for u, v in zip(epoch1, again):
        np.testing.assert_array_equal(u, v)
    assert not np.array_equal(epoch1[0], epoch2[0])


def test_policies_trace_to_pure_tf_graphs_with_static_shapes():
    images, labels = batch()
    tasks = [SHAPE, POSITION, MASK, SIZE, ANGLE]
    labs = pick(labels, tasks)
    policies = [A.article_preset(tasks, with_visibility=True), A.rand_augment(tasks),
                A.trivial_augment(tasks, per_task=True),
                A.shared(["hflip", "blur", "cutout", "noise", "hue", "saturation", "contrast",
                          "brightness", "grayscale"], tasks),
                A.shared(["rotate", "mixup", "cutmix"], [SHAPE, MASK])]
    for policy in policies:
        lab = pick(labs, policy.tasks.values())
        spec_x = tf.TensorSpec([None, 32, 32, 3], tf.float32)
        spec_y = {k: tf.TensorSpec([None, *np.shape(v)[1:]], tf.as_dtype(v.dtype))
                  for k, v in lab.items()}
        fn = tf.function(policy).get_concrete_function(spec_x, spec_y,
                                                       tf.TensorSpec([2], tf.int64))
        types = {op.type for op in fn.graph.get_operations()}
        assert not types & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}, policy
        views = getattr(policy, "views", {"all": policy}).values()
        ops = [o for v in views for o in getattr(v, "ops", None) or v.pool]
        warps = "ImageProjectiveTransformV3" in types
        assert warps == any(o.stage == "geometric" for o in ops), policy
        for x in tf.nest.flatten(fn.structured_outputs[0]):
            assert x.shape.as_list() == [None, 32, 32, 3]
        y = fn.structured_outputs[1]
        if "mask" in y:
            assert y["mask"].shape.as_list() == [None, 32, 32, 1]


def test_per_task_output_feeds_one_input_per_task_in_tf_data():
    images, labels = batch(n=8)
    tasks = [SHAPE, POSITION]
    policy = A.per_task({"shape": ["rotate"], "position": ["translate"]}, tasks,
                        with_visibility=True)
    ds = pipeline(images, pick(labels, tasks), policy)
    spec = ds.element_spec
    assert set(spec[0]) == {"shape", "position"} and spec[0]["shape"].shape[1:] == (32, 32, 3)
    assert set(spec[2]) == {"shape", "position"} and spec[2]["position"].dtype == tf.float32


# ------------------------------------------------------------------- photometric
@pytest.mark.parametrize("name", A.PHOTOMETRIC_OPS)
def test_photometric_ops_change_only_the_image_and_stay_in_unit_range(name):
    images, labels = batch()
    tasks = [SHAPE, POSITION, MASK, SIZE, ANGLE]
    op = A.OP_CLASSES[name](p=1.0)
    x, y = A.shared([op], tasks)(images, pick(labels, tasks), SEED)
    x = x.numpy()
    assert x.shape == images.shape and x.dtype == np.float32
    assert x.min() >= 0.0 and x.max() <= 1.0
    assert not np.allclose(x, images, atol=1e-4), f"{name} left the images unchanged"
    for k in y:
        np.testing.assert_array_equal(y[k].numpy(), labels[k])


def test_photometric_ops_respect_their_meaning():
    gray = np.full((4, 16, 16, 3), 0.4, np.float32)
    for op in (A.Hue(0.5), A.Saturation(0.9), A.Blur(2.0), A.Grayscale(p=1.0)):
        x, _ = A.shared([op], [SHAPE])(gray, {"shape": np.zeros(4, np.int32)}, SEED)
        np.testing.assert_allclose(x.numpy(), gray, atol=1e-5, err_msg=op.name)
    rgb = batch(n=4)[0]
    x, _ = A.shared([A.Grayscale(p=1.0)], [SHAPE])(rgb, {"shape": np.zeros(4, np.int32)}, SEED)
    np.testing.assert_allclose(x.numpy()[..., 0], x.numpy()[..., 2])
    x, _ = A.shared([A.Cutout(size=0.5, fill=0.0)], [SHAPE])(
        np.ones((4, 16, 16, 3), np.float32), {"shape": np.zeros(4, np.int32)}, SEED)
    erased = (x.numpy()[..., 0] == 0).mean(axis=(1, 2))
    assert np.all((erased > 0.05) & (erased <= 0.25 + 1e-6))


# ------------------------------------------------------------------- mixing
def test_mixup_soft_labels_sum_to_one_and_masks_mix_like_images():
    n = 8
    images, labels = batch(n=n)
    labels["shape"] = np.arange(n, dtype=np.int32)
    tasks = [Task("shape", "class", num_classes=n), MASK]
    images = np.repeat(labels["mask"], 3, -1)
    x, y = A.shared([A.MixUp(alpha=1.0)], tasks)(images, pick(labels, tasks), SEED)
    soft = y["shape"].numpy()
    assert soft.shape == (n, n) and soft.dtype == np.float32
    np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-6)
    np.testing.assert_allclose(y["mask"].numpy(), x.numpy()[..., :1], atol=1e-6)
    lam = soft[np.arange(n), np.arange(n)]
    partner = np.argmax(soft - np.eye(n) * lam[:, None], axis=1)
    partner = np.where(lam >= 1 - 1e-6, np.arange(n), partner)
    want = lam[:, None, None, None] * images + (1 - lam[:, None, None, None]) * images[partner]
    np.testing.assert_allclose(x.numpy(), want, atol=1e-5)


def test_mixup_batch_with_explicit_lambda_mixes_every_mixable_label():
    images, labels = batch(n=4)
    lam = np.array([0.2, 0.5, 0.9, 1.0], np.float32)
    partner = np.array([1, 2, 3, 0])
    tasks = [SHAPE, MASK]
    x, y = A.mixup_batch(images, pick(labels, tasks), tasks, lam, partner)
    lam4 = lam[:, None, None, None]
    m = labels["mask"]
    np.testing.assert_allclose(y["mask"].numpy(), lam4 * m + (1 - lam4) * m[partner], atol=1e-6)
    np.testing.assert_allclose(x.numpy(), lam4 * images + (1 - lam4) * images[partner],
                               atol=1e-6)
    onehot = np.eye(4, dtype=np.float32)[labels["shape"]]
    np.testing.assert_allclose(y["shape"].numpy(),
                               lam[:, None] * onehot + (1 - lam[:, None]) * onehot[partner])


def test_cutmix_lambda_is_the_pasted_area_fraction_and_masks_are_pasted():
    n = 8
    images = np.broadcast_to((np.arange(n, dtype=np.float32) / n)[:, None, None, None],
                             (n, 32, 32, 3)).copy()
    _, labels = batch(n=n)
    labels["shape"] = np.arange(n, dtype=np.int32)
    tasks = [Task("shape", "class", num_classes=n), MASK]
    x, y = A.shared([A.CutMix(alpha=1.0)], tasks)(images, pick(labels, tasks), SEED)
    soft = y["shape"].numpy()
    np.testing.assert_allclose(soft.sum(1), 1.0, atol=1e-6)
    kept = (np.abs(x.numpy()[..., 0] - images[..., 0]) < 1e-7).mean(axis=(1, 2))
    lam = soft[np.arange(n), np.arange(n)]
    np.testing.assert_allclose(lam, kept, atol=1e-6)
    assert y["mask"].dtype == tf.float32 and set(np.unique(y["mask"].numpy())) <= {0.0, 1.0}
    boxes = np.array([[0, 0, 16, 16]] * n)
    partner = np.roll(np.arange(n), 1)
    x, y = A.cutmix_batch(images, pick(labels, tasks), tasks, boxes, partner)
    m = labels["mask"].copy()
    m[:, :16, :16] = labels["mask"][partner][:, :16, :16]
    np.testing.assert_array_equal(y["mask"].numpy(), m)
    np.testing.assert_allclose(y["shape"].numpy().max(1), 0.75)


@pytest.mark.parametrize("task", [POSITION, ANGLE, SIZE], ids=lambda t: t.kind)
@pytest.mark.parametrize("op", ["mixup", "cutmix"])
def test_mixing_refuses_position_angle_and_scalar_tasks(task, op):
    with pytest.raises(ValueError, match=f"{op} is not defined for task '{task.name}'"):
        A.shared([op], [SHAPE, task])
    images, labels = batch()
    x, y = A.shared([op], [SHAPE, task], naive=True)(images, pick(labels, [SHAPE, task]), SEED)
    np.testing.assert_array_equal(y[task.name].numpy(), labels[task.name])
    with pytest.raises(ValueError, match="not defined"):
        A.mixup_batch(images, pick(labels, [task]), [task], np.ones(8), np.arange(8))


# ------------------------------------------------------------------- random policies
def test_shared_random_policy_uses_only_ops_every_task_allows():
    policy = A.rand_augment([SHAPE, COLOR], num_ops=2, magnitude=5)
    names = {o.name for o in policy.pool}
    assert not names & COLOR.not_invariant_to and {"rotate", "identity"} <= names
    per = A.rand_augment([SHAPE, COLOR], per_task=True)
    assert "hue" in {o.name for o in per.views["shape"].pool}
    assert "hue" not in {o.name for o in per.views["color"].pool}
    with pytest.raises(ValueError, match="magnitude"):
        A.rand_augment([SHAPE], magnitude=11)
    with pytest.raises(ValueError, match="num_ops=5"):
        A.rand_augment([SHAPE], num_ops=5, pool=["rotate", "hflip"])
    with pytest.raises(ValueError, match="mixing"):
        A.rand_augment([SHAPE], pool=["mixup", "rotate"])


def test_op_at_scales_the_pool_range_by_magnitude_and_refuses_bad_input():
    assert A.op_at("rotate", 5) == A.Rotate(15.0)
    assert A.op_at("translate", 10) == A.Translate(0.3, 0.3)
    assert A.op_at("zoom", 0) == A.Zoom(0.0, isotropic=True)
    assert A.op_at("hflip", 3) == A.HFlip()  # no magnitude
    pool = {op.name: op for op in A.DEFAULT_POOL}
    for name, fields in A.MAGNITUDE_FIELDS.items():
        if name not in pool:  # an op may scale with strength without joining the random
            continue          # pool (notebook 11's scale_crop, registered when imported)
        for f in fields:  # every scaled field is a real field at a tenth per magnitude step
            assert getattr(A.op_at(name, 1), f) == pytest.approx(getattr(pool[name], f) / 10)
    assert set(pool) - {"hflip", "vflip", "grayscale", "identity"} <= set(A.MAGNITUDE_FIELDS)
    with pytest.raises(ValueError, match="magnitude must be in"):
        A.op_at("rotate", 11)
    with pytest.raises(ValueError, match="mixing ops have no magnitude"):
        A.op_at("mixup", 5)
    with pytest.raises(ValueError, match="unknown"):
        A.op_at("rotat", 5)


def test_random_policy_with_magnitude_zero_and_no_flip_is_near_identity():
    images, labels = batch()
    pool = ["identity", "rotate", "translate", "shear", "zoom", "brightness", "contrast"]
    x, y = A.rand_augment([SHAPE, POSITION], 2, 0.0, pool=pool)(
        images, pick(labels, [SHAPE, POSITION]), SEED)
    np.testing.assert_allclose(x.numpy(), images, atol=1e-5)
    np.testing.assert_allclose(y["position"].numpy(), labels["position"], atol=1e-6)


# ------------------------------------------------------------------- the article preset
ARTICLE = dict(rotation_range=20, width_shift_range=0.2, height_shift_range=0.2,
               shear_range=0.2, zoom_range=0.2, horizontal_flip=True, fill_mode="nearest")


@pytest.mark.parametrize("h,w,extra", [(32, 32, {}), (64, 64, {}),
                                       (32, 32, {"shear_range": 25.0}),
                                       (24, 40, {"shear_range": 10.0, "vertical_flip": True})])
def test_preset_image_matches_legacy_image_data_generator_for_same_parameters(h, w, extra):
    gen = ImageDataGenerator(**dict(ARTICLE, **extra))
    images, _ = batch(n=6, h=h, w=w)
    params = [gen.get_random_transform(images[0].shape, seed=s) for s in range(6)]
    ref = np.stack([gen.apply_transform(x, p) for x, p in zip(images, params)])
    m = A.from_legacy_params(params, h, w)
    ours = A.warp_images(images, m, fill_mode="nearest").numpy()
    np.testing.assert_allclose(ours, ref, atol=1e-4)
    if h == w:  # the same matrices from explicit parameters (legacy tx/ty move content by -t)
        m2 = A.affine_matrix(h, w, rotation_deg=[p["theta"] for p in params],
                             tx=[-p["tx"] for p in params], ty=[-p["ty"] for p in params],
                             shear_deg=[p["shear"] for p in params],
                             zx=[p["zx"] for p in params], zy=[p["zy"] for p in params],
                             hflip=[bool(p["flip_horizontal"]) for p in params],
                             vflip=[bool(p["flip_vertical"]) for p in params])
        np.testing.assert_allclose(m2.numpy(), m.numpy(), atol=1e-4)


def test_preset_moves_labels_with_the_legacy_matrices():
    gen = ImageDataGenerator(**ARTICLE)
    images, labels = batch(n=6)
    params = [gen.get_random_transform(images[0].shape, seed=s) for s in range(6)]
    tasks = [SIDE, POSITION, MASK]
    ref = np.stack([gen.apply_transform(x, p) for x, p in zip(images, params)])
    x, y = A.apply_affine(images, pick(labels, tasks), A.from_legacy_params(params, 32, 32),
                          tasks, hflip=[bool(p["flip_horizontal"]) for p in params],
                          fill_mode="nearest")
    np.testing.assert_allclose(x.numpy(), ref, atol=1e-4)
    flipped = np.array([bool(p["flip_horizontal"]) for p in params])
    np.testing.assert_array_equal(y["side"].numpy(), np.where(flipped, 1 - labels["side"],
                                                              labels["side"]))
    mask = y["mask"].numpy()[..., 0]
    yy, xx = np.mgrid[:32, :32] + 0.5
    cx = (mask * xx).sum((1, 2)) / mask.sum((1, 2)) / 32
    np.testing.assert_allclose(y["position"].numpy()[:, 0], cx, atol=1.5 / 32)


def test_article_preset_reproduces_the_legacy_settings_and_units():
    policy = A.article_preset([SHAPE])
    assert policy.fill_mode == "nearest"
    assert policy.ops == (A.Rotate(20.0), A.Translate(0.2, 0.2), A.Shear(0.2),
                          A.Zoom(0.2, isotropic=False), A.HFlip(0.5))
    corrected = A.article_preset([SHAPE], corrected=True)
    assert corrected.ops[2].degrees == pytest.approx(11.459, abs=1e-3)
    drawn = policy.run(np.zeros((2000, 64, 64, 1), np.float32), None, SEED).transform
    m, hflip = drawn.matrices, drawn.hflip
    lin = m.numpy()[:, :2, :2]
    det = np.abs(np.linalg.det(lin))
    # |det| = 1 / (zx zy cos(shear)) with zx, zy ~ U[0.8, 1.2] drawn independently
    assert det.min() >= 1 / 1.44 - 1e-4 and det.max() <= 1 / 0.64 + 1e-3
    col_norms = np.linalg.norm(lin, axis=1)  # row scales differ when zx != zy
    assert np.std(col_norms[:, 0] / col_norms[:, 1]) > 0.05
    assert 0.45 < hflip.numpy().mean() < 0.55


def test_legacy_generator_facts_the_course_teaches():
    gen = ImageDataGenerator(**ARTICLE)
    assert gen.shear_range == 0.2  # read as degrees in apply_affine_transform
    images, labels = batch(n=4)
    with pytest.raises(ValueError, match="same length"):
        next(gen.flow(images, {"shape": labels["shape"], "position": labels["position"]}))
    flip = keras.layers.RandomFlip("horizontal", seed=0)
    out = flip({"images": images, "position": labels["position"]}, training=True)
    np.testing.assert_array_equal(np.asarray(out["position"]), labels["position"])


def test_compose_chains_random_policy_and_mixing_with_consistent_labels():
    images, labels = batch()
    tasks = [SHAPE, MASK]
    policy = A.compose(A.rand_augment(tasks, 2, 5), A.shared(["mixup"], tasks))
    x, y = policy(images, pick(labels, tasks), SEED)
    assert y["shape"].shape == (8, 4)
    np.testing.assert_allclose(y["shape"].numpy().sum(1), 1.0, atol=1e-6)
    again = policy(images, pick(labels, tasks), SEED)
    np.testing.assert_array_equal(x.numpy(), again[0].numpy())
    with pytest.raises(ValueError, match="share tasks"):
        A.compose(A.shared([], [SHAPE]), A.shared([], [MASK]))
    with pytest.raises(ValueError, match="shared-view"):
        A.compose(A.per_task({}, [SHAPE]))


def test_label_damage_counts_how_often_an_op_changes_a_derived_label():
    # The oracle reads the brightness of the top-left pixel: brightness changes it, a
    # flip of a symmetric image does not.
    images = np.full((64, 8, 8, 3), 0.5, np.float32)
    labels = {"shape": np.zeros(64, np.int32)}

    def oracle(x, y):
        return {"bright": (x[:, 0, 0, 0] > 0.55).astype(int)}

    damage = A.label_damage(images, labels, [SHAPE], oracle, ["brightness", "hflip"], [0, 10])
    assert damage.loc[("brightness", 0), "bright"] == 0.0
    assert 0.3 < damage.loc[("brightness", 10), "bright"] < 0.7  # +-0.3, half of them up
    assert damage.loc[("hflip", 10), "bright"] == 0.0


def test_shear_degrees_reads_the_angle_back_from_a_shear_matrix():
    m = A.affine_matrix(32, 32, shear_deg=[0.2, -11.0, 0.0])
    np.testing.assert_allclose(A.shear_degrees(m.numpy()), [0.2, 11.0, 0.0], atol=1e-4)


def test_the_pool_table_lists_every_pool_op_at_a_magnitude():
    table = A.pool_table(5)
    assert list(table.index) == [op.name for op in A.DEFAULT_POOL]
    assert table.loc["rotate", "at magnitude"] == repr(A.Rotate(15.0))
    assert table.loc["hflip", "stage"] == "geometric"
