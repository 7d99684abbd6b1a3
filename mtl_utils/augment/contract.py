"""The op contract: what every augmentation op promises, checked on a toy batch whose labels
can be re-derived from its pixels (as Keras' ``run_layer_test`` does for layers).

Applied alone by a shared policy, an op keeps the batch's shape, dtype and value range;
gives the same output for the same seed and another for another seed; at strength 0 (its
magnitude fields zeroed) is the identity; photometric ops keep every label; geometric ops
move the labels so that they still describe the warped object; mixing ops mix the labels of
kinds that can mix. The tests run it over every registered op, and the exercises of
notebook 04 run it on a learner's op: one source of truth.

Introduced in notebook 04.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import tensorflow as tf

from mtl_utils.augment.core import Op
from mtl_utils.augment.geometric import HFlip, VFlip
from mtl_utils.augment.photometric import Grayscale
from mtl_utils.augment.policies import shared
from mtl_utils.data import mask_centroids
from mtl_utils.tasks import Task

#: The tasks a geometric or photometric op is checked on: a label of every moving kind.
CONTRACT_TASKS = (Task("shape", "class", num_classes=4), Task("position", "position"),
                  Task("mask", "mask"),
                  Task("size", "scalar", scale_equivariant=True, value_range=(2.0, 12.0)),
                  Task("angle", "angle"))
#: The tasks a mixing op is checked on (kinds that can mix).
MIXING_TASKS = CONTRACT_TASKS[:1] + CONTRACT_TASKS[2:3]


class OpContractError(AssertionError):
    """An op broke its contract: the message names the property, the value seen and the
    expected one.

    Introduced in notebook 04.
    """


def object_batch(seed: int, n: int, h: int, w: int):
    """Discs and squares fully inside the frame: images (= masks, RGB) and labels
    ``shape``, ``position`` (the mask's centroid), ``mask``, ``size``, ``angle``.

    Introduced in notebook 04.
    """
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:h, :w] + 0.5
    masks = np.zeros((n, h, w, 1), np.float32)
    r = rng.uniform(3.0, min(h, w) * 0.16, n)
    cx = rng.uniform(0.38, 0.62, n) * w
    cy = rng.uniform(0.38, 0.62, n) * h
    for i in range(n):
        if i % 2:
            m = (np.abs(xx - cx[i]) <= r[i]) & (np.abs(yy - cy[i]) <= r[i])
        else:
            m = (xx - cx[i]) ** 2 + (yy - cy[i]) ** 2 <= r[i] ** 2
        masks[i, ..., 0] = m
    images = np.repeat(masks, 3, axis=-1)
    labels = {
        "shape": (np.arange(n) % 3).astype(np.int32),
        "position": mask_centroids(masks)[0].astype(np.float32),
        "mask": masks,
        "size": ((r - 2.0) / 10.0).astype(np.float32)[:, None],
        "angle": rng.uniform(0, 2 * math.pi, (n, 1)).astype(np.float32),
    }
    return images, labels


def _always(op: Op) -> Op:
    """The op applied to every example (``p=1``; an op without a ``p`` field always is)."""
    fields = {f.name for f in dataclasses.fields(op)} if dataclasses.is_dataclass(op) else ()
    return dataclasses.replace(op, p=1.0) if "p" in fields else op


def _run(op: Op, images, labels, tasks, seed=(3, 4)):
    x, y = shared([op], tasks, fill_mode="constant")(images, labels, tf.constant(seed))
    return x.numpy(), {k: v.numpy() for k, v in y.items()}


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise OpContractError(message)


def _max_gap(a, b) -> float:
    return float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def check_op_contract(op: Op) -> None:
    """Check the contract for one op (at its default or full-strength parameters).

    Raises:
        OpContractError: the first property that failed, named, with the number that is off
            and by how much (an ``AssertionError``, so tests can call it directly).
        Any error the op itself raises while running.

    Introduced in notebook 04.
    """
    tasks = MIXING_TASKS if op.stage == "mixing" else CONTRACT_TASKS
    names = [t.name for t in tasks]
    images, labels = object_batch(seed=1, n=8, h=32, w=32)
    images = (0.2 + 0.6 * images + 0.1 * np.random.default_rng(0).random(images.shape))
    images = images.astype(np.float32)
    labels = {k: labels[k] for k in names}
    op = _always(op)
    x, y = _run(op, images, labels, tasks)
    _require(x.shape == images.shape,
             f"shape: the output batch has shape {x.shape}, the input {images.shape}")
    _require(x.dtype == np.float32, f"dtype: the output is {x.dtype}, not float32")
    _require(bool(np.isfinite(x).all()), "value range: the output has NaN or inf values")
    low, high = float(x.min()), float(x.max())
    _require(low >= -1e-6 and high <= 1 + 1e-6,
             f"value range: the output spans [{low:.3f}, {high:.3f}], outside [0, 1] by "
             f"{max(-low, high - 1):.3f} (clip it)")
    x2, y2 = _run(op, images, labels, tasks)
    _require(np.array_equal(x, x2), "same seed, same output: two runs with the same seed "
             f"differ by up to {_max_gap(x, x2):.4f} (draw with the seed you are given)")
    for k in y:
        _require(np.array_equal(y[k], y2[k]), f"same seed, same output: label {k!r} differs "
                 f"between two runs with the same seed by up to {_max_gap(y[k], y2[k]):.4f}")
    if op.stage != "identity" and not isinstance(op, (HFlip, VFlip, Grayscale)):
        x3, _ = _run(op, images, labels, tasks, seed=(5, 6))
        _require(not np.array_equal(x, x3), f"another seed, another output: {op!r} gives the "
                 "same batch for two seeds (draw its parameters from the seed)")
    if op.magnitude_fields:
        x0, y0 = _run(op.at_strength(0.0), images, labels, tasks)
        gap = _max_gap(x0, images)
        _require(gap <= 1e-5, f"strength 0 is the identity: at strength 0 "
                 f"({op.at_strength(0.0)!r}) pixels change by up to {gap:.4f}")
        for k in labels:
            gap = _max_gap(y0[k], labels[k])
            _require(gap <= 1e-5, f"strength 0 is the identity: at strength 0 label {k!r} "
                     f"changes by up to {gap:.4f}")
    if op.stage in ("photometric", "identity"):
        for k in labels:  # the label hook keeps every label
            _require(np.array_equal(y[k], labels[k]), f"a {op.stage} op keeps every label: "
                     f"{k!r} changed by up to {_max_gap(y[k], labels[k]):.4f}")
    elif op.stage == "geometric":
        # the moved position is the centroid of the moved mask (objects still in the frame)
        inside = y["mask"][..., 0].sum(axis=(1, 2)) > 4
        inside &= ~(y["mask"][:, [0, -1]].any(axis=(1, 2, 3)) | y["mask"][:, :, [0, -1]].any(
            axis=(1, 2, 3)))
        _require(inside.sum() >= 4, f"objects stay in the frame: {op!r} pushed "
                 f"{int((~inside).sum())} of {len(inside)} objects to the border or out")
        gap = np.abs(y["position"] - mask_centroids(y["mask"])[0])[inside] * 32
        _require(gap.max() < 1.0, f"labels move with the image: the moved position is "
                 f"{gap.max():.2f} px from the moved mask's centroid (at most 1 px)")
        moved = not np.allclose(y["position"], labels["position"], atol=1e-4)
        _require(moved, f"labels move with the image: {op!r} moved no position label")
        values = set(np.unique(y["mask"]).tolist())
        _require(values <= {0.0, 1.0}, f"masks stay binary: the warped mask has values "
                 f"{sorted(values - {0.0, 1.0})[:3]} besides 0 and 1")
    elif op.stage == "mixing":
        n_classes = tasks[0].num_classes
        _require(y["shape"].shape == (8, n_classes), f"mixed class labels are soft: shape "
                 f"{y['shape'].shape}, expected (8, {n_classes})")
        sums = y["shape"].sum(axis=1)
        _require(bool(np.allclose(sums, 1.0, rtol=1e-5)), f"mixed class labels sum to 1: "
                 f"they sum to {sums.min():.3f} to {sums.max():.3f}")
