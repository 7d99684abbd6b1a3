"""Property tests of mtl_utils.augment: labels follow the image under any affine composition.

Test objects are drawn with NumPy (filled discs and squares, thin bars); a position label is
the mask centroid with the pixel-centre convention ``(i + 0.5) / W``.
"""

from __future__ import annotations

import math
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from toys import ANGLE, MASK, POSITION, centroids, object_batch  # noqa: E402
from toys import SIZE_TASK as SIZE  # noqa: E402

from mtl_utils import augment as A  # noqa: E402
from mtl_utils.tasks import Task  # noqa: E402

PROPS = settings(max_examples=40, deadline=None, derandomize=True,
                 suppress_health_check=[HealthCheck.too_slow])

SHAPE = Task("shape", "class", num_classes=3, flip_class_map=(0, 2, 1))
TASKS = (SHAPE, POSITION, MASK, SIZE, ANGLE)


def inside(masks: np.ndarray) -> np.ndarray:
    """Examples whose (warped) mask is non-empty and touches no border."""
    m = masks[..., 0] > 0.5
    border = m[:, 0].any(1) | m[:, -1].any(1) | m[:, :, 0].any(1) | m[:, :, -1].any(1)
    return m.any(axis=(1, 2)) & ~border


def check_position_follows_mask(pos: np.ndarray, mask: np.ndarray, weights=None) -> int:
    n, h, w, _ = mask.shape
    ok = inside(mask)
    err = np.hypot((pos[:, 0] - centroids(mask)[:, 0]) * w, (pos[:, 1] - centroids(mask)[:, 1]) * h)
    assert np.all(err[ok] <= 1.0), f"position off the mask centroid by {err[ok].max():.2f} px"
    if weights is not None:
        assert np.all(weights[ok] == 1.0)
    return int(ok.sum())


# ------------------------------------------------------------------------ strategies
sizes = st.sampled_from([20, 24, 32, 40])
affine_params = st.fixed_dictionaries({
    "rotation_deg": st.floats(-180, 180),
    "tx": st.floats(-0.25, 0.25),
    "ty": st.floats(-0.25, 0.25),
    "shear_deg": st.floats(-25, 25),
    "zx": st.floats(0.75, 1.3),
    "zy": st.floats(0.75, 1.3),
    "hflip": st.booleans(),
    "vflip": st.booleans(),
})
geometric_ops = st.lists(st.one_of(
    st.builds(A.HFlip, p=st.floats(0, 1)),
    st.builds(A.VFlip, p=st.floats(0, 1)),
    st.builds(A.Rotate, degrees=st.floats(0, 180)),
    st.builds(A.Translate, x=st.floats(0, 0.25), y=st.floats(0, 0.25)),
    st.builds(A.Zoom, range=st.floats(0, 0.3), isotropic=st.booleans()),
    st.builds(A.Shear, degrees=st.floats(0, 25)),
), min_size=1, max_size=6)
seeds = st.integers(0, 2**31 - 1)


# ------------------------------------------------------------------------------ tests
@PROPS
@given(h=sizes, w=sizes, params=affine_params, seed=seeds)
def test_position_follows_mask_centroid_under_any_affine(h, w, params, seed):
    images, labels = object_batch(seed, 6, h, w)
    p = dict(params, tx=params["tx"] * w, ty=params["ty"] * h)
    m = A.affine_matrix(h, w, **p)
    _, out, weights = A.apply_affine(images, labels, m, TASKS, fill_mode="constant",
                                     with_visibility=True)
    check_position_follows_mask(out["position"].numpy(), out["mask"].numpy(),
                                weights["position"].numpy())


@PROPS
@given(h=sizes, w=sizes, ops=geometric_ops, seed=seeds,
       fill=st.sampled_from(["reflect", "nearest", "constant", "wrap"]))
def test_position_follows_mask_centroid_for_any_random_geometric_policy(h, w, ops, seed, fill):
    images, labels = object_batch(seed, 8, h, w)
    policy = A.shared(ops, TASKS, fill_mode=fill, with_visibility=True)
    _, out, weights = policy(images, labels, tf.constant([seed, 7], tf.int64))
    check_position_follows_mask(out["position"].numpy(), out["mask"].numpy(),
                                weights["position"].numpy())


@PROPS
@given(h=sizes, w=sizes, ops=geometric_ops, seed=seeds)
def test_augmented_mask_covers_the_objects_pixels_in_the_augmented_image(h, w, ops, seed):
    # The image is the object's indicator; bilinear >= 0.76 means the nearest input pixel is
    # the object, and a mask pixel means the nearest input pixel (weight >= 1/4) is.
    images, labels = object_batch(seed, 8, h, w)
    policy = A.shared(ops, TASKS, fill_mode="constant")
    x, out = policy(images, labels, tf.constant([seed, 3]))
    img, mask = x.numpy()[..., 0], out["mask"].numpy()[..., 0]
    assert np.all(mask[img > 0.76] == 1.0), "object pixels outside the augmented mask"
    assert np.all(img[mask == 1.0] >= 0.24), "mask pixels where the image has no object"
    assert out["mask"].dtype == tf.float32


@PROPS
@given(h=sizes, w=sizes, params=affine_params, seed=seeds)
def test_flip_applied_twice_is_the_identity(h, w, params, seed):
    images, labels = object_batch(seed, 4, h, w)
    images = images * np.random.default_rng(seed).random(images.shape, dtype=np.float32)
    m = A.affine_matrix(h, w, hflip=params["hflip"], vflip=params["vflip"])
    hf = tf.constant([params["hflip"]] * 4)
    x, y = A.apply_affine(images, labels, m, TASKS, hflip=hf)
    x, y = A.apply_affine(x, y, m, TASKS, hflip=hf)
    np.testing.assert_allclose(x.numpy(), images, atol=1e-6)
    np.testing.assert_array_equal(y["mask"].numpy(), labels["mask"])
    np.testing.assert_array_equal(y["shape"].numpy(), labels["shape"])
    np.testing.assert_allclose(y["position"].numpy(), labels["position"], atol=1e-6)
    np.testing.assert_allclose(y["size"].numpy(), labels["size"], atol=1e-6)
    d = np.angle(np.exp(1j * (y["angle"].numpy() - labels["angle"])))
    np.testing.assert_allclose(d, 0.0, atol=1e-5)


def draw_bars(angles: np.ndarray, h: int, w: int, length: float = 16.0, width: float = 1.6):
    """Thin bars through the centre along direction (cos a, sin a), image coords."""
    yy, xx = np.mgrid[:h, :w] + 0.5
    dx, dy = xx - w / 2, yy - h / 2
    out = []
    for a in angles:
        along = dx * math.cos(a) + dy * math.sin(a)
        across = -dx * math.sin(a) + dy * math.cos(a)
        out.append((np.abs(along) <= length / 2) & (np.abs(across) <= width / 2))
    return np.stack(out)[..., None].astype(np.float32)


def orientation(masks: np.ndarray) -> np.ndarray:
    """Principal-axis orientation of masks in [0, pi), from second moments."""
    n, h, w, _ = masks.shape
    yy, xx = np.mgrid[:h, :w] + 0.5
    out = []
    for m in masks[..., 0]:
        a = m.sum()
        mx, my = (m * xx).sum() / a, (m * yy).sum() / a
        cxx = (m * (xx - mx) ** 2).sum()
        cyy = (m * (yy - my) ** 2).sum()
        cxy = (m * (xx - mx) * (yy - my)).sum()
        out.append(0.5 * math.atan2(2 * cxy, cxx - cyy) % math.pi)
    return np.array(out)


@PROPS
@given(theta=st.floats(-180, 180), zoom=st.floats(0.8, 1.25), hflip=st.booleans(),
       vflip=st.booleans(), seed=seeds)
def test_angle_and_size_follow_rotation_and_zoom(theta, zoom, hflip, vflip, seed):
    h = w = 40
    rng = np.random.default_rng(seed)
    angles = rng.uniform(0, 2 * math.pi, 4).astype(np.float32)
    bars = draw_bars(angles, h, w)
    r = rng.uniform(4, 8, 4)
    yy, xx = np.mgrid[:h, :w] + 0.5
    discs = ((xx - w / 2) ** 2 + (yy - h / 2) ** 2 <= r[:, None, None] ** 2)[..., None]
    discs = discs.astype(np.float32)
    m = A.affine_matrix(h, w, rotation_deg=theta, zx=zoom, zy=zoom, hflip=hflip, vflip=vflip)
    tasks = (ANGLE, MASK, SIZE)
    labels = {"angle": angles[:, None], "mask": bars, "size": ((r - 2) / 10).astype(np.float32)[:,
                                                                                              None]}
    _, out = A.apply_affine(np.repeat(bars, 3, -1), labels, m, tasks, fill_mode="constant")
    a_new = out["angle"].numpy()[:, 0]
    assert np.all((a_new >= 0) & (a_new < 2 * math.pi))
    # analytic: rotation by theta (counter-clockwise on screen) subtracts theta, flips reflect
    want = angles - math.radians(theta)
    if hflip:
        want = math.pi - want
    if vflip:
        want = -want
    d = np.angle(np.exp(1j * (a_new - want)))
    np.testing.assert_allclose(d, 0.0, atol=2e-4)
    # measured: the warped bar's principal axis is the new angle (mod pi)
    meas = orientation(out["mask"].numpy())
    d = np.angle(np.exp(2j * (meas - a_new))) / 2
    assert np.all(np.abs(np.degrees(d)) < 6.0), np.degrees(d)
    # size: physical radius scales by 1 / zoom, and matches the warped disc's area
    _, out = A.apply_affine(np.repeat(discs, 3, -1), {"mask": discs, "size": labels["size"]},
                            m, (MASK, SIZE), fill_mode="constant")
    phys = 2 + 10 * out["size"].numpy()[:, 0]
    np.testing.assert_allclose(phys, r / zoom, rtol=1e-5)
    measured = np.sqrt(out["mask"].numpy().sum(axis=(1, 2, 3)) / math.pi)
    np.testing.assert_allclose(measured, phys, atol=0.6)


@PROPS
@given(h=sizes, w=sizes, ops=geometric_ops, seed=seeds)
def test_per_task_labels_follow_their_own_view(h, w, ops, seed):
    images, labels = object_batch(seed, 6, h, w)
    tasks = (POSITION, MASK)
    labels = {k: labels[k] for k in ("position", "mask")}
    policy = A.per_task({"position": ops, "mask": ops}, tasks, fill_mode="constant")
    xs, out = policy(images, labels, tf.constant([seed, 11]))
    assert set(xs) == {"position", "mask"}
    seen_pos = (xs["position"].numpy()[..., :1] > 0.5).astype(np.float32)
    check_position_follows_mask(out["position"].numpy(), seen_pos)
    img_mask = xs["mask"].numpy()[..., 0]
    assert np.all(out["mask"].numpy()[..., 0][img_mask > 0.76] == 1.0)


@PROPS
@given(seed=seeds, magnitude=st.floats(0, 10), per_task=st.booleans(), trivial=st.booleans())
def test_random_policies_keep_every_label_consistent(seed, magnitude, per_task, trivial):
    h = w = 32
    images, labels = object_batch(seed, 8, h, w)
    tasks = (POSITION, MASK)
    labels = {k: labels[k] for k in ("position", "mask")}
    if trivial:
        policy = A.trivial_augment(tasks, per_task=per_task, fill_mode="constant")
    else:
        policy = A.rand_augment(tasks, 3, magnitude, per_task=per_task, fill_mode="constant")
    xs, out = policy(images, labels, tf.constant([seed, 5]))
    if per_task:
        assert set(xs) == {"position", "mask"}
    mask = out["mask"].numpy()
    if not per_task:
        check_position_follows_mask(out["position"].numpy(), mask)
    assert mask.shape == (8, h, w, 1)


@pytest.mark.parametrize("shape", [(3, 32, 32, 3), (5, 24, 40, 1)])
def test_identity_policy_returns_inputs_unchanged_bit_for_bit(shape):
    n, h, w, c = shape
    rng = np.random.default_rng(0)
    images = rng.random(shape, dtype=np.float32)
    labels = object_batch(1, n, h, w)[1]
    for policy in (A.shared([], TASKS), A.per_task({}, TASKS)):
        x, y = policy(images, labels, tf.constant([1, 2]))
        for xi in (x.values() if isinstance(x, dict) else [x]):
            np.testing.assert_array_equal(xi.numpy(), images)
        for k, v in labels.items():
            assert y[k].dtype == tf.as_dtype(v.dtype)
            np.testing.assert_array_equal(y[k].numpy(), v)


@PROPS
@given(h=sizes, w=sizes, quarter_turns=st.integers(0, 3), hflip=st.booleans(),
       vflip=st.booleans(), shift=st.tuples(st.integers(-4, 4), st.integers(-4, 4)),
       seed=seeds)
def test_pixel_centre_convention_is_exact_for_pixel_permutations(h, w, quarter_turns, hflip,
                                                                 vflip, shift, seed):
    # quarter turns, flips and whole-pixel shifts permute pixels: a one-pixel object must land
    # exactly where its (i + 0.5) / W position label says.
    if quarter_turns % 2:
        w = h
    rng = np.random.default_rng(seed)
    n = 6
    rows, cols = rng.integers(5, h - 5, n), rng.integers(5, w - 5, n)
    masks = np.zeros((n, h, w, 1), np.float32)
    masks[np.arange(n), rows, cols] = 1.0
    labels = {"position": np.stack([(cols + 0.5) / w, (rows + 0.5) / h], 1).astype(np.float32),
              "mask": masks}
    m = A.affine_matrix(h, w, rotation_deg=90.0 * quarter_turns, tx=shift[0], ty=shift[1],
                        hflip=hflip, vflip=vflip)
    _, out = A.apply_affine(masks, labels, m, (POSITION, MASK), fill_mode="constant")
    got = out["mask"].numpy()[..., 0]
    assert np.all(got.sum(axis=(1, 2)) == 1.0)
    r, c = np.nonzero(got)[1:]
    want = np.stack([(c + 0.5) / w, (r + 0.5) / h], 1)
    np.testing.assert_allclose(out["position"].numpy(), want, atol=1e-5)


@PROPS
@given(size=sizes, p=st.sampled_from([0.75, 1.0]), fill=st.sampled_from(A.FILL_MODES),
       seed=seeds)
def test_quarter_turn_permutes_pixels_exactly_and_labels_follow(size, p, fill, seed):
    # The op's matrices are exact: each image is np.rot90(image, k) bit for bit (any content,
    # any fill), a one-pixel object lands where its (i + 0.5) / W position says, the class is
    # kept and an angle turns by k quarter turns (counter-clockwise on screen, y down).
    rng = np.random.default_rng(seed)
    n = 8
    images = rng.random((n, size, size, 2)).astype(np.float32)
    rows, cols = rng.integers(0, size, n), rng.integers(0, size, n)
    masks = np.zeros((n, size, size, 1), np.float32)
    masks[np.arange(n), rows, cols] = 1.0
    angle = rng.uniform(0, 2 * np.pi, (n, 1)).astype(np.float32)
    labels = {"shape": rng.integers(0, 3, n).astype(np.int32), "angle": angle, "mask": masks,
              "position": np.stack([(cols + 0.5) / size, (rows + 0.5) / size], 1)
              .astype(np.float32)}
    tasks = (SHAPE, ANGLE, MASK, POSITION)
    run = A.shared([A.QuarterTurn(p=p)], tasks, fill_mode=fill).run(images, labels,
                                                                    tf.constant([seed, 1]))
    m = run.transform.matrices.numpy()
    k = np.round(np.arctan2(m[:, 0, 1], m[:, 0, 0]) / (np.pi / 2)).astype(int) % 4
    assert set(np.unique(m[:, :2, :2])) <= {-1.0, 0.0, 1.0}
    x = run.inputs.numpy()
    for i in range(n):
        np.testing.assert_array_equal(x[i], np.rot90(images[i], k[i]))
        np.testing.assert_array_equal(run.labels["mask"][i], np.rot90(masks[i], k[i]))
    r, c = np.nonzero(run.labels["mask"].numpy()[..., 0])[1:]
    np.testing.assert_allclose(run.labels["position"], np.stack(
        [(c + 0.5) / size, (r + 0.5) / size], 1), atol=1e-5)
    np.testing.assert_array_equal(run.labels["shape"], labels["shape"])
    turned = np.mod(angle[:, 0] - k * np.pi / 2, 2 * np.pi)
    gap = np.angle(np.exp(1j * (run.labels["angle"].numpy()[:, 0] - turned)))
    np.testing.assert_allclose(gap, 0.0, atol=1e-5)
    assert A.label_effect(ANGLE, "quarter_turn") == "turned"
    assert A.label_effect(SHAPE, "quarter_turn") == "kept"
    assert A.label_effect(POSITION, "quarter_turn") == "moved"
