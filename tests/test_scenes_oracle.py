"""The oracle: a dense label moved with its image agrees with the scene re-rendered by the
camera that sees that view (notebook 11).

A flip mirrors the camera, an in-plane rotation about the principal point rolls it, a crop
and a zoom change its focal length and principal point (:func:`scenes.view_cameras`); the
renderer then draws the truth, and the labels the kinds moved must match it: segmentation
exactly and depth within the one-pixel reach of a nearest-neighbour warp, away from edges;
normals within a stated number of degrees. Flips and quarter turns permute pixels, so
there everything matches exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from mtl_utils import augment as A
from mtl_utils import scenes
from mtl_utils.dense_views import ScaleCrop, move_labels

H = 48
# degrees a renormalised bilinear normal may differ from the re-render away from edges
# (curvature of the spheres between neighbouring pixels)
NORMALS_TOLERANCE = 1.0


def _views(m: np.ndarray, content, cameras, rendered, tasks, rule="focal reading (ours)"):
    labels = {k: rendered[k] for k in tasks}
    moved = move_labels(labels, tasks, m, rule)
    truth = scenes.render(content, scenes.view_cameras(cameras, m))
    keep = scenes.interior(truth["surface"], 2) & (moved["segmentation"][..., 0] >= 0)
    return moved, truth, keep


def _matrix(n, **kwargs) -> np.ndarray:
    return np.repeat(A.affine_matrix(H, H, **kwargs).numpy(), n, axis=0)


def _local_step(depth: np.ndarray) -> np.ndarray:
    """Per pixel, the largest depth change to a neighbour (3x3) on the same surface."""
    d = np.pad(depth, ((0, 0), (1, 1), (1, 1)), mode="edge")
    steps = [np.abs(d[:, 1 + dy:H + 1 + dy, 1 + dx:H + 1 + dx] - depth)
             for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    return np.max(steps, axis=0)


@pytest.mark.parametrize("view", [dict(hflip=True), dict(vflip=True),
                                  dict(rotation_deg=90), dict(rotation_deg=-90),
                                  dict(rotation_deg=180), dict(rotation_deg=90, hflip=True)],
                         ids=["hflip", "vflip", "quarter turn left", "quarter turn right",
                              "half turn", "quarter turn and flip"])
def test_flips_and_quarter_turns_match_the_re_render_exactly(scene_set, view):
    content, cameras, rendered, tasks = scene_set
    m = _matrix(len(content), **view)
    moved, truth, _ = _views(m, content, cameras, rendered, tasks)
    np.testing.assert_array_equal(moved["segmentation"], truth["segmentation"])
    np.testing.assert_allclose(moved["depth"], truth["depth"], rtol=1e-4)  # float32 rays
    valid = truth["depth"][..., 0] > 0
    assert scenes.angle_between(moved["normals"], truth["normals"])[valid].max() < 0.05
    np.testing.assert_array_equal(np.linalg.norm(moved["normals"], axis=-1) > 0,
                                  truth["depth"][..., 0] > 0)


@pytest.mark.parametrize("view", [dict(rotation_deg=7), dict(rotation_deg=-12),
                                  dict(rotation_deg=-12, hflip=True),
                                  dict(zx=1 / 1.3, zy=1 / 1.3),
                                  dict(zx=1 / 1.5, zy=1 / 1.5, tx=5, ty=-3),
                                  dict(zx=1.25, zy=1.25), dict(rotation_deg=20, tx=-4, vflip=True)],
                         ids=["rotate 7", "rotate -12", "rotate -12 and flip", "zoom in 1.3",
                              "crop 1.5 off centre", "zoom out 1.25", "turn, shift and flip"])
def test_rotations_crops_and_zooms_match_the_re_render(scene_set, view):
    content, cameras, rendered, tasks = scene_set
    m = _matrix(len(content), **view)
    moved, truth, keep = _views(m, content, cameras, rendered, tasks)
    assert keep.mean() > 0.3  # most of the view is compared
    np.testing.assert_array_equal(moved["segmentation"][..., 0][keep],
                                  truth["segmentation"][..., 0][keep])
    valid = keep & (truth["depth"][..., 0] > 0)
    d, dt = moved["depth"][..., 0], truth["depth"][..., 0]
    # a nearest-neighbour warp reads the depth of a ray at most ~1 px (times the zoom) away
    scale = np.sqrt(abs(np.linalg.det(m[0, :2, :2])))
    reach = 1.2 * max(1.0, scale) * _local_step(dt) + 1e-4
    assert np.all(np.abs(d - dt)[valid] <= reach[valid])
    assert np.median(np.abs(d - dt)[valid] / dt[valid]) < 0.01
    angle = scenes.angle_between(moved["normals"], truth["normals"])[valid]
    assert angle.max() < NORMALS_TOLERANCE, angle.max()
    np.testing.assert_allclose(np.linalg.norm(moved["normals"], axis=-1)[valid], 1, atol=1e-5)


def test_a_policy_run_matches_the_re_render_of_what_it_drew(scene_set):
    # flips, rotations and scale-crops composed by a policy; the run hands back the matrices
    content, cameras, rendered, tasks = scene_set
    policy = A.shared([ScaleCrop(0.5), A.HFlip(), A.Rotate(15)], tasks)
    run = policy.run(rendered["image"], {k: rendered[k] for k in tasks}, tf.constant([4, 2]))
    m = run.transform.matrices.numpy()
    assert len({round(float(np.linalg.det(x[:2, :2])), 3) for x in m}) > 3  # varied draws
    truth = scenes.render(content, scenes.view_cameras(cameras, m))
    seg = run.labels["segmentation"].numpy()[..., 0]
    keep = scenes.interior(truth["surface"], 2) & (seg >= 0) & (truth["depth"][..., 0] > 0)
    np.testing.assert_array_equal(seg[keep], truth["segmentation"][..., 0][keep])
    rel = np.abs(run.labels["depth"].numpy()[..., 0] - truth["depth"][..., 0])[keep] / truth[
        "depth"][..., 0][keep]
    assert np.median(rel) < 0.01 and rel.max() < 0.1
    angle = scenes.angle_between(run.labels["normals"].numpy(), truth["normals"])[keep]
    assert angle.max() < NORMALS_TOLERANCE
    # the image itself is the re-render too (bilinear warp: close, not exact)
    img = run.inputs.numpy()
    assert np.mean(np.abs(img - truth["image"])[keep]) < 0.05


@pytest.mark.parametrize("degrees", [10.0, -10.0])
def test_turning_normals_needs_the_right_convention_both_ways(scene_set, degrees):
    # the same labels in the y-up frame, turned by the y-up rule, agree; the y-down rule
    # applied to them is off by twice the angle
    content, cameras, rendered, tasks = scene_set
    m = _matrix(len(content), rotation_deg=degrees)
    up = {**{k: rendered[k] for k in tasks}, "normals": rendered["normals"] * [1, -1, -1]}
    gl = scenes.dense_tasks(scenes.FOCAL_FRACTION * H, convention="opengl")
    truth = scenes.render(content, scenes.view_cameras(cameras, m))
    keep = scenes.interior(truth["surface"], 2) & (truth["depth"][..., 0] > 0)
    right = move_labels(up, gl, m)["normals"] * [1, -1, -1]
    wrong = move_labels(up, tasks, m)["normals"] * [1, -1, -1]  # opencv rule on y-up data
    keep &= np.linalg.norm(right, axis=-1) > 0  # not from outside the frame
    assert scenes.angle_between(right, truth["normals"])[keep].max() < NORMALS_TOLERANCE
    off = scenes.angle_between(wrong, truth["normals"])[keep]
    in_plane = np.linalg.norm(truth["normals"][..., :2], axis=-1)[keep] > 0.5
    assert np.median(off[in_plane]) > abs(degrees)  # 2 x 10 deg in-plane, less in 3-D


def test_the_readings_keep_normals_consistent_with_depth_and_research_does_not(scene_set):
    # The normals a rule gives against those its depth implies, back-projected with the
    # intrinsics its reading assumes (the view's for the focal reading, the camera's own for
    # a move closer). The depth is the re-rendered one times the rule's depth factor (what
    # it does to a depth of 1), leaving the nearest-neighbour sampling out.
    content, cameras, rendered, tasks = scene_set
    m = _matrix(len(content), zx=1 / 1.5, zy=1 / 1.5, tx=3, ty=-2)
    labels = {k: rendered[k] for k in tasks}
    seen = scenes.view_cameras(cameras, m)
    truth = scenes.render(content, seen)
    surface = truth["surface"]
    gaps = {}
    for rule, intrinsics in (("focal reading (ours)", seen.intrinsics),
                             ("closer reading (ours)", cameras.intrinsics),
                             ("research code", cameras.intrinsics)):
        moved = move_labels(labels, tasks, m, rule)
        ones = move_labels({**labels, "depth": np.ones_like(labels["depth"])}, tasks, m, rule)
        factor = ones["depth"].max(axis=(1, 2, 3))[:, None, None, None]
        implied = scenes.normals_from_depth(truth["depth"] * factor, intrinsics, surface)
        flat = np.isin(surface, [0, 1]) & scenes.interior(surface, 2)  # planes, off edges
        flat &= np.linalg.norm(implied, axis=-1) > 0
        flat &= moved["segmentation"][..., 0] >= 0
        gaps[rule] = scenes.angle_between(moved["normals"], implied)[flat]
    assert gaps["focal reading (ours)"].max() < 0.05
    assert gaps["closer reading (ours)"].max() < 0.05
    assert gaps["research code"].mean() > 2.0  # the issue measured 4.8 deg at s = 1.5


def test_view_cameras_refuses_what_is_not_a_camera_motion(scene_set):
    content, cameras, _, _ = scene_set
    with pytest.raises(ValueError, match="similarity views only"):
        scenes.view_cameras(cameras, _matrix(len(content), shear_deg=10))
    with pytest.raises(ValueError, match="one \\(3, 3\\) matrix per camera"):
        scenes.view_cameras(cameras, np.eye(3)[None])


def test_scenes_are_made_fast_deterministic_and_labelled_exactly():
    import time

    start = time.perf_counter()
    data = scenes.make_scenes(400, 64, seed=3, n_val=8, n_test=8)
    assert time.perf_counter() - start < 20  # 2,000 take a few seconds on a free 2-core CPU
    again = scenes.make_scenes(400, 64, seed=3, n_val=8, n_test=8)
    np.testing.assert_array_equal(data.train.images, again.train.images)
    lab = data.train.labels
    assert data.train.images.shape == (400, 64, 64, 3) and lab["normals"].shape == (400, 64, 64, 3)
    length = np.linalg.norm(lab["normals"], axis=-1)
    sky = lab["segmentation"][..., 0] == 0
    np.testing.assert_array_equal(sky, lab["depth"][..., 0] == 0)  # depth invalid on the sky
    np.testing.assert_allclose(length[~sky], 1.0, atol=1e-5)
    assert np.all(length[sky] == 0)
    assert set(np.unique(lab["segmentation"])) == set(range(len(scenes.SCENE_CLASSES)))
    # the stored normals face their rays: n . (K^-1 p) < 0 in the camera frame
    k_inv = np.linalg.inv(scenes.intrinsics(64)[0])
    v, u = np.mgrid[0:64, 0:64]
    rays = np.stack([u, v, np.ones_like(u)], -1) @ k_inv.T
    assert np.all((lab["normals"] * rays).sum(-1)[~sky] < 1e-4)  # float32 at grazing rays
    # each split's geometry re-renders its labels
    content, cameras = data.geometry["val"]
    np.testing.assert_array_equal(scenes.render(content, cameras)["segmentation"],
                                  data.val.labels["segmentation"])
    assert data.with_train_size(100).geometry["train"][1].intrinsics.shape == (100, 3, 3)
