"""Views of dense scenes: the research code's scale-and-crop as an op, the label-damage table
against re-rendered scenes, test-time augmentation by kind for dense predictions, every
dense metric at once, and figures.

Introduced in notebook 11.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import tensorflow as tf

from . import geometry
from .augment import GeometricOp, HFlip, Rotate, shared, signed_unit, split_seed, tta, unit
from .dense import ANGLE_THRESHOLDS, IGNORE, normalize, normals_rgb, within_name
from .policy import Policy, PolicyRun, Transformation
from .scenes import (
    SCENE_CLASSES,
    Cameras,
    Scenes,
    angle_between,
    interior,
    normals_from_depth,
    render,
    view_cameras,
    with_zoom_reading,
)
from .stats import DELTA_M_CONVENTIONS, delta_m_by_seed, mean_interval
from .tasks import Task, task_dict

FIG_DPI = 80


# ------------------------------------------------------------------------------ the op
@dataclass(frozen=True)
class ScaleCrop(GeometricOp):
    """The research code's ``RandomScaleCrop``: zoom in by ``s ~ U[1, 1 + zoom]`` about a
    random point chosen so that the view stays inside the image (a crop of ``(H/s, W/s)``
    resized back; nothing comes from outside the frame). MTAN, CAGrad, Nash-MTL and
    LibMTL draw ``s`` from ``{1.0, 1.2, 1.5}``.

    Introduced in notebook 11.
    """

    zoom: float = 0.5
    p: float = 1.0
    name: ClassVar[str] = "scale_crop"
    magnitude_fields: ClassVar[tuple[str, ...]] = ("zoom",)
    limits: ClassVar[dict] = {"zoom": (0.0, None)}
    changes_scale: ClassVar[bool] = True
    changes_orientation: ClassVar[bool] = False

    def matrices(self, seed, n, height, width, strength):
        s_zoom, s_x, s_y = split_seed(seed, 3)
        s = 1.0 + self.zoom * unit(s_zoom, n, strength)
        room = 1.0 - 1.0 / s  # how far the crop's centre may move, as a fraction of half
        dx = signed_unit(s_x, n, None) * room * (tf.cast(width, tf.float32) - 1.0) / 2.0
        dy = signed_unit(s_y, n, None) * room * (tf.cast(height, tf.float32) - 1.0) / 2.0
        return geometry.zoom(1.0 / s, 1.0 / s) @ geometry.translation(-dx, -dy)


# ------------------------------------------------------- labels warped as images
def warp_as_images(labels: Mapping[str, Any], tasks: Mapping[str, Task],
                   matrices: Any) -> dict[str, tf.Tensor]:
    """Dense labels warped by forward ``matrices`` as if they were images: segmentation and
    depth nearest (fills :data:`~mtl_utils.dense.IGNORE` and 0), normals bilinear, not
    renormalised, not turned or mirrored: what a pipeline that knows masks but not normals
    does (Keras' preprocessing layers, albumentations, ttach).

    Introduced in notebook 11.
    """
    tasks = task_dict(tasks)
    m = tf.cast(tf.convert_to_tensor(matrices), tf.float32)
    out = {}
    for k, y in labels.items():
        kind = tasks[k].kind
        fill = float(IGNORE) if kind == "segmentation" else 0.0
        warped = geometry.warp_images(tf.cast(y, tf.float32), m, fill_mode="constant",
                                      fill_value=fill, interpolation="bilinear"
                                      if kind == "normals" else "nearest")
        out[k] = tf.cast(warped, tf.convert_to_tensor(y).dtype)
    return out


class ImageWarpedLabels(Policy):
    """A policy's views with every label warped as an image (:func:`warp_as_images`): the
    same images and matrices as ``policy``; the normals keep their sign and direction
    after a flip or a rotation. The "naive" training of notebook 11.

    Introduced in notebook 11.
    """

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy.tasks)
        self.policy = policy

    def __repr__(self) -> str:
        return f"ImageWarpedLabels({self.policy!r})"

    def check_batch(self, inputs, labels):
        return self.policy.check_batch(inputs, labels)

    def call(self, inputs, labels, seed) -> PolicyRun:
        run = self.policy.call(inputs, labels, seed)
        moved = warp_as_images(labels, self.tasks, run.transform.matrices)
        return run._replace(labels=moved)


#: Label rules of notebook 11's training comparison: name -> what the labels go through.
TRAINING_RULES: dict[str, str] = {
    "none": "no augmentation",
    "consistent": "labels moved by their kinds, a zoom read as a focal-length change",
    "research": "the research code's convention: depth divided by the zoom, normals "
                "interpolated and left as they are (not renormalised)",
    "naive": "labels warped as images: the normals keep their sign and direction",
}


def dense_ops(zoom: float = 0.5, degrees: float = 10.0) -> list:
    """The geometric ops of notebook 11's training: the research code's scale-crop
    (``zoom``), a horizontal flip and a rotation by up to ``degrees``.

    Introduced in notebook 11.
    """
    return [ScaleCrop(zoom), HFlip(), Rotate(degrees)]


def training_policies(ops: Sequence[Any]) -> dict[str, Any]:
    """``{rule: factory(tasks) -> policy or None}`` for every rule of
    :data:`TRAINING_RULES`, the same ``ops`` (the same images) in each.

    Introduced in notebook 11.
    """
    ops = list(ops)
    return {
        "none": None,
        "consistent": lambda ts: shared(ops, with_zoom_reading(ts, "focal")),
        "research": lambda ts: shared(ops, with_zoom_reading(ts, "research",
                                                             renormalize=False)),
        "naive": lambda ts: ImageWarpedLabels(shared(ops, with_zoom_reading(ts, "focal"))),
    }


def delta_m_table(rows: pd.DataFrame, reference_rows: pd.DataFrame,
                  tasks: Mapping[str, Task], split: str = "test",
                  confidence: float = 0.95) -> pd.DataFrame:
    """Delta_m (%) of every config in ``rows`` against ``reference_rows`` (the single-task
    models), every metric of every task, per seed, in both conventions: ``"per_metric"``
    (mean over all K metrics, as CAGrad and Nash-MTL report it) and ``"per_task"`` (mean
    over each task's metrics first, then over tasks, as LibMTL). Columns ``config,
    convention, delta_m, low, high, seeds`` (mean over seeds and its t-interval; positive
    is better).

    Introduced in notebook 11.
    """
    out = []
    for convention in ("per_metric", "per_task"):
        assert convention in DELTA_M_CONVENTIONS
        dm = delta_m_by_seed(rows, reference_rows, tasks, split, all_metrics=True,
                             convention=convention)
        for config, g in dm.groupby("config", sort=False):
            mean, low, high = mean_interval(g["delta_m"], confidence)
            out.append({"config": config, "convention": convention, "delta_m": mean,
                        "low": low, "high": high, "seeds": len(g)})
    return pd.DataFrame(out)


# ------------------------------------------------------------------ label damage
#: The label rules of :func:`label_damage`: a rule name -> what it does.
LABEL_RULES: dict[str, str] = {
    "focal reading (ours)": "labels moved by the kinds, a zoom read as a focal-length change",
    "closer reading (ours)": "depth divided by the zoom, normals made consistent with it",
    "research code": "depth divided by the zoom, normals interpolated and left as they are",
    "normals' sign forgotten": "every label warped as an image (ttach, Keras layers)",
    "y-up turn on y-down normals": "normals turned with the formula of the other convention",
    "not renormalised": "normals interpolated bilinearly and not renormalised",
}


def _rule_tasks(tasks: Mapping[str, Task], rule: str) -> dict[str, Task]:
    if rule == "closer reading (ours)":
        return with_zoom_reading(tasks, "closer")
    if rule == "research code":
        return with_zoom_reading(tasks, "research", renormalize=False)
    if rule == "not renormalised":
        return with_zoom_reading(tasks, "focal", renormalize=False)
    if rule == "y-up turn on y-down normals":
        return {n: Task.from_config({**t.get_config(), "convention": "opengl"})
                if t.kind == "normals" else t for n, t in tasks.items()}
    return with_zoom_reading(tasks, "focal")


def move_labels(labels: Mapping[str, np.ndarray], tasks: Mapping[str, Task],
                matrices: Any, rule: str = "focal reading (ours)") -> dict[str, np.ndarray]:
    """Labels moved by forward ``matrices`` (``(N, 3, 3)``, pixel-index coordinates) under
    one of :data:`LABEL_RULES`.

    Raises:
        ValueError: an unknown rule.

    Introduced in notebook 11.
    """
    if rule not in LABEL_RULES:
        raise ValueError(f"unknown label rule {rule!r}; choose one of {list(LABEL_RULES)}.")
    tasks = task_dict(tasks)
    m = tf.constant(np.asarray(matrices, np.float32))
    h, w = np.shape(next(iter(labels.values())))[1:3]
    if rule == "normals' sign forgotten":
        return {k: v.numpy() for k, v in warp_as_images(labels, tasks, m).items()}
    flips = tf.constant(np.linalg.det(np.asarray(matrices)[:, :2, :2]) < 0)
    moved, _ = Transformation(m, flips, h, w).move(
        {k: tf.constant(v) for k, v in labels.items()}, _rule_tasks(tasks, rule))
    return {k: v.numpy() for k, v in moved.items()}


def label_damage(scenes: Scenes, cameras: Cameras, tasks: Mapping[str, Task],
                 cases: Sequence[tuple[str, Any, str]]) -> pd.DataFrame:
    """How far moved labels are from the re-rendered scene, per ``(view, matrices, rule)``.

    Each case moves the rendered labels with ``matrices`` by a rule of
    :data:`LABEL_RULES` and compares them with :func:`~mtl_utils.scenes.render` of the
    cameras that see that view (:func:`~mtl_utils.scenes.view_cameras`), on the pixels
    away from edges (a 5x5 neighbourhood on one surface) that both have a label for:

    - ``depth error (%)``: mean ``|d - d*| / d*``;
    - ``normals error (deg)`` and ``> 11.25 deg (%)``: angle to the re-rendered normals;
    - ``normals vs own depth (deg)``: angle to the normals the rule's depth implies when
      back-projected with the intrinsics its reading assumes (the view's for the focal
      reading, the original camera's for the others): do the labels describe one scene?
      The depth is the re-rendered one times the rule's depth factor, so that the
      nearest-neighbour sampling of the moved depth does not count here.
    - ``shorter than 0.99 (%)``: moved normal vectors (all valid pixels, edges included)
      shorter than 0.99, the papers' metric reading them as larger errors.

    Introduced in notebook 11.
    """
    tasks = task_dict(tasks)
    truth0 = render(scenes, cameras)
    labels = {k: truth0[k] for k in ("segmentation", "depth", "normals")}
    rows = []
    for view, matrices, rule in cases:
        m = np.broadcast_to(np.asarray(matrices, np.float64), (len(scenes), 3, 3))
        moved = move_labels(labels, tasks, m, rule)
        seen = view_cameras(cameras, m)
        truth = render(scenes, seen)
        keep = interior(truth["surface"], 2) & (truth["depth"][..., 0] > 0)
        keep &= (moved["depth"][..., 0] > 0) & (moved["segmentation"][..., 0] >= 0)
        d, dt = moved["depth"][..., 0][keep], truth["depth"][..., 0][keep]
        angle = angle_between(moved["normals"], truth["normals"])[keep]
        focal = rule in ("focal reading (ours)", "normals' sign forgotten",
                         "y-up turn on y-down normals", "not renormalised")
        ones = move_labels({**labels, "depth": np.ones_like(labels["depth"])}, tasks, m, rule)
        factor = ones["depth"].max(axis=(1, 2, 3))[:, None, None, None]  # the depth rule
        implied = normals_from_depth(truth["depth"] * factor,
                                     (seen if focal else cameras).intrinsics, truth["surface"])
        both = keep & (np.linalg.norm(implied, axis=-1) > 0)
        length = np.linalg.norm(moved["normals"], axis=-1)
        valid = length > 1e-6
        rows.append({"view": view, "label rule": rule,
                     "depth error (%)": 100 * float(np.mean(np.abs(d - dt) / dt)),
                     "normals error (deg)": float(angle.mean()),
                     "> 11.25 deg (%)": 100 * float(np.mean(angle > 11.25)),
                     "normals vs own depth (deg)": float(angle_between(
                         moved["normals"], implied)[both].mean()),
                     "shorter than 0.99 (%)": 100 * float(np.mean(length[valid] < 0.99)),
                     "shortest": float(length[valid].min())})
    return pd.DataFrame(rows).set_index(["view", "label rule"])


def damage_cases(image_size: int, degrees: float = 10.0, zoom: float = 1.5,
                 offset: float = 0.5) -> list[tuple[str, Any, str]]:
    """The cases of notebook 11's damage table: a horizontal flip, a rotation by
    ``degrees`` and a crop zoomed by ``zoom`` (its centre ``offset`` of the way to the
    edge it may reach), each under the rules that matter for it.

    Introduced in notebook 11.
    """
    h = w = int(image_size)
    flip = geometry.centered(geometry.flip(tf.constant([True]), tf.constant([False])), h, w)
    turn = geometry.centered(geometry.rotation(tf.constant([np.radians(degrees)], tf.float32)),
                             h, w)
    room = (1 - 1 / zoom) * (w - 1) / 2 * offset
    crop = geometry.centered(geometry.zoom(tf.constant([1 / zoom]), tf.constant([1 / zoom]))
                             @ geometry.translation(tf.constant([-room]), tf.constant([room])),
                             h, w)
    flip, turn, crop = flip.numpy(), turn.numpy(), crop.numpy()
    rot, sc = f"rotation {degrees:g} deg", f"scale-crop x{zoom:g}"
    return [("hflip", flip, "focal reading (ours)"),
            ("hflip", flip, "normals' sign forgotten"),
            (rot, turn, "focal reading (ours)"),
            (rot, turn, "y-up turn on y-down normals"),
            (rot, turn, "not renormalised"),
            (sc, crop, "focal reading (ours)"),
            (sc, crop, "closer reading (ours)"),
            (sc, crop, "research code")]


# ------------------------------------------------------------------ scoring and TTA
def score_all(tasks: Mapping[str, Task], labels: Mapping[str, np.ndarray],
              predictions: Mapping[str, np.ndarray], batch: int = 256
              ) -> dict[str, dict[str, float]]:
    """Every metric of every task (``{task: {metric: value}}``), as training logs them.

    Introduced in notebook 11.
    """
    out = {}
    for name, task in task_dict(tasks).items():
        metrics = task.metrics()
        y, p = np.asarray(labels[name]), np.asarray(predictions[name])
        for i in range(0, len(y), batch):
            for metric in metrics:
                metric.update_state(y[i:i + batch], p[i:i + batch])
        out[name] = {m.name: float(m.result()) for m in metrics}
    return out


def _predict(model: Any, images: np.ndarray, batch: int) -> dict[str, np.ndarray]:
    parts = [model.predict_on_batch(images[i:i + batch]) for i in range(0, len(images), batch)]
    return {k: np.concatenate([np.asarray(p[k]) for p in parts]) for k in parts[0]}


def flip_tta(model: Any, images: np.ndarray, tasks: Mapping[str, Task], mode: str = "kind",
             batch: int = 256) -> dict[str, np.ndarray]:
    """Dense predictions averaged over an image and its mirror image.

    ``mode="kind"`` maps the mirrored view's predictions back by each task's kind
    (:func:`mtl_utils.augment.tta`: the maps flipped back, the normals' x negated, the
    average renormalised); ``"spatial"`` flips the maps back and averages them as they are
    (what ttach and a plain spatial flip do: the normals keep the mirrored x); ``"none"``
    predicts once.

    Raises:
        ValueError: an unknown mode.

    Introduced in notebook 11.
    """
    tasks = task_dict(tasks)
    images = np.asarray(images, np.float32)
    if mode == "kind":
        return tta(model, images, shared([HFlip(p=1.0)], tasks), views=1, batch_size=batch)
    if mode not in ("spatial", "none"):
        raise ValueError(f"flip_tta: unknown mode {mode!r}; choose 'kind', 'spatial' or "
                         "'none'.")
    plain = _predict(model, images, batch)
    if mode == "none":
        return {t: plain[t] for t in tasks}
    mirrored = _predict(model, images[:, :, ::-1], batch)
    out = {}
    for t, task in tasks.items():
        mean = (plain[t] + mirrored[t][:, :, ::-1]) / 2.0
        out[t] = normalize(tf.constant(mean)).numpy() if task.kind == "normals" else mean
    return out


def results_table(scores: Mapping[str, Mapping[str, Mapping[str, float]]],
                  tasks: Mapping[str, Task]) -> pd.DataFrame:
    """``{row: score_all(...)}`` as a table of the papers' metrics (mIoU and pixel accuracy
    in %, depth errors, normal angles and shares within thresholds in %).

    Introduced in notebook 11.
    """
    rows = {}
    for name, per_task in scores.items():
        row = {}
        for t, metrics in per_task.items():
            for m, v in metrics.items():
                percent = m in ("miou", "pixel_accuracy", "rel_error") or m.startswith("within")
                row[f"{t} {m}{' (%)' if percent else ''}"] = 100 * v if percent else v
        rows[name] = row
    return pd.DataFrame(rows).T


# --------------------------------------------------------------------------- figures
def plot_scenes(images: np.ndarray, labels: Mapping[str, np.ndarray], n: int = 6,
                title: str | None = None, convention: str = "opencv"):
    """Images with their segmentation, depth (metres) and normals, one column each.

    Introduced in notebook 11.
    """
    n = min(int(n), len(images))
    rows = ["image", *[k for k in ("segmentation", "depth", "normals") if k in labels]]
    fig, axes = plt.subplots(len(rows), n, figsize=(1.3 * n, 1.3 * len(rows)), dpi=FIG_DPI,
                             squeeze=False)
    for j in range(n):
        for i, what in enumerate(rows):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            if what == "image":
                ax.imshow(np.clip(images[j], 0, 1))
            elif what == "segmentation":
                ax.imshow(np.ma.masked_less(labels[what][j, ..., 0], 0), cmap="tab10", vmin=0,
                          vmax=9, interpolation="nearest")
            elif what == "depth":
                ax.imshow(np.ma.masked_less_equal(labels[what][j, ..., 0], 0), cmap="viridis_r",
                          vmin=0, vmax=10, interpolation="nearest")
            else:
                ax.imshow(normals_rgb(labels[what][j], convention), interpolation="nearest")
            if j == 0:
                ax.set_ylabel(what + (" (m)" if what == "depth" else ""), fontsize=8)
    handles = [plt.Rectangle((0, 0), 1, 1, color=plt.get_cmap("tab10")(k / 9))
               for k in range(len(SCENE_CLASSES))]
    fig.legend(handles, SCENE_CLASSES, loc="lower center", ncol=len(SCENE_CLASSES),
               fontsize=7, frameon=False)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout(rect=(0, 0.05, 1, 1))
    return fig


def plot_normal_errors(truth: np.ndarray, predictions: Mapping[str, np.ndarray], i: int = 0,
                       vmax: float = 45.0):
    """One example's angle error (degrees) of each normals prediction against ``truth``.

    Introduced in notebook 11.
    """
    fig, axes = plt.subplots(1, len(predictions) + 1, figsize=(1.6 * (len(predictions) + 1), 1.9),
                             dpi=FIG_DPI)
    axes[0].imshow(normals_rgb(truth[i]))
    axes[0].set_title("true normals", fontsize=8)
    valid = np.linalg.norm(truth[i], axis=-1) > 0
    for ax, (name, p) in zip(axes[1:], predictions.items()):
        err = np.ma.masked_where(~valid, angle_between(p[i], truth[i]))
        im = ax.imshow(err, cmap="magma", vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(f"{name}: {err.mean():.1f} deg", fontsize=8)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])
    fig.colorbar(im, ax=axes[1:], shrink=0.8, label="angle error (deg)")
    return fig


def threshold_names() -> list[str]:
    """The metric names of the normal-angle thresholds (``within_11_25``, ...).

    Introduced in notebook 11.
    """
    return [within_name(t) for t in ANGLE_THRESHOLDS]


def describe_damage(damage: pd.DataFrame) -> list[str]:
    """Sentences on :func:`label_damage`'s table of :func:`damage_cases`, every number
    read from the table: what a forgotten normals' sign, the other convention's turn,
    unrenormalised normals and the research code's zoom cost, against the kinds' rules.

    Introduced in notebook 11.
    """
    views = list(dict.fromkeys(damage.index.get_level_values(0)))
    flip, turn, crop = views[0], views[1], views[2]
    ours = "focal reading (ours)"

    def cell(view, rule, col):
        return float(damage.loc[(view, rule), col])

    lines = [
        f"{flip}: forgetting the normals' sign leaves them "
        f"{cell(flip, RULE_FORGOTTEN, 'normals error (deg)'):.1f} deg off the re-render on "
        f"average ({cell(flip, RULE_FORGOTTEN, '> 11.25 deg (%)'):.0f}% of pixels beyond 11.25 "
        f"deg); the kinds' flip: {cell(flip, ours, 'normals error (deg)'):.2f} deg.",
        f"{turn}: the turn written for y-up normals is "
        f"{cell(turn, 'y-up turn on y-down normals', 'normals error (deg)'):.1f} deg off "
        f"(the kinds': {cell(turn, ours, 'normals error (deg)'):.2f} deg); bilinear normals "
        f"not renormalised: {cell(turn, 'not renormalised', 'shorter than 0.99 (%)'):.1f}% "
        f"shorter than 0.99, down to {cell(turn, 'not renormalised', 'shortest'):.2f}.",
    ]
    r = damage.loc[(crop, "research code")]
    lines.append(
        f"{crop}, the research code: depth {r['depth error (%)']:.1f}% off the re-render, "
        f"normals {r['normals vs own depth (deg)']:.1f} deg from what that depth implies "
        f"({r['normals error (deg)']:.2f} deg from the re-render: they read the zoom as a "
        f"focal-length change), {r['shorter than 0.99 (%)']:.1f}% of vectors shorter than "
        f"0.99 (down to {r['shortest']:.2f}).")
    lines.append(
        f"{crop}, one reading for both: focal {cell(crop, ours, 'depth error (%)'):.2f}% depth "
        f"error and {cell(crop, ours, 'normals vs own depth (deg)'):.2f} deg; closer (depth "
        f"divided by the zoom, normals made consistent) "
        f"{cell(crop, 'closer reading (ours)', 'normals vs own depth (deg)'):.2f} deg from its "
        "own depth.")
    return lines


RULE_FORGOTTEN = "normals' sign forgotten"


def describe_tta(table: pd.DataFrame, task: str = "normals",
                 metric: str = "normals mean_angle") -> str:
    """One sentence comparing the rows of a test-time augmentation table (``none``,
    ``spatial``, ``kind``) on one column, lower is better; the numbers read from it.

    Introduced in notebook 11.
    """
    v = table[metric]
    best = v.idxmin()
    return (f"{metric}: one view {v['none']:.2f}, flip-averaged as a plain spatial average "
            f"{v['spatial']:.2f}, flip-averaged with the normals' sign restored {v['kind']:.2f} "
            f"(lowest: {best}).")


def mean_table(rows: pd.DataFrame, tasks: Mapping[str, Task], split: str = "test"
               ) -> pd.DataFrame:
    """Every config's metrics (not losses) averaged over seeds, as :func:`results_table`
    shows them (a row per config, in the rows' order).

    Introduced in notebook 11.
    """
    keep = rows[(rows["split"] == split) & (rows["metric"] != "loss")]
    means = keep.groupby(["config", "task", "metric"], sort=False)["value"].mean()
    scores: dict[str, dict[str, dict[str, float]]] = {}
    for (config, task, metric), value in means.items():
        scores.setdefault(config, {}).setdefault(task, {})[metric] = float(value)
    return results_table({c: {t: s[t] for t in task_dict(tasks) if t in s}
                          for c, s in scores.items()}, tasks)
