"""Toy tasks and batches shared by the tests (and the benchmarks): one definition each.

* Task constants of every label kind (``SHAPE``, ``COLOR``, ``SIDE``, ``POSITION``,
  ``MASK``, ``SIZE``, ``COUNT``, ``ANGLE``).
* :func:`disc_batch`: smooth noise images with a disc, and a label of every task.
* :func:`object_batch`: white discs and squares fully inside the frame (image = mask), for
  checks that a moved label still describes the warped object.
* :func:`make_data` / :func:`make_dataset`: a tiny learnable two-task dataset (the
  weighting tests and the subprocess of the distributed test import it from this folder).
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf
from scipy.ndimage import gaussian_filter

from mtl_utils.augment.contract import object_batch  # noqa: F401  (one definition: the op contract's)
from mtl_utils.data import mask_centroids
from mtl_utils.tasks import Task

SHAPE = Task("shape", "class", num_classes=4)
COLOR = Task("color", "class", num_classes=3,
             not_invariant_to=frozenset({"hue", "saturation", "grayscale"}))
SIDE = Task("side", "class", num_classes=2, flip_class_map=(1, 0))
POSITION = Task("position", "position")
MASK = Task("mask", "mask")
SIZE_TASK = Task("size", "scalar", scale_equivariant=True, value_range=(2.0, 12.0))
COUNT = Task("count", "scalar")
ANGLE = Task("angle", "angle")
ALL = (SHAPE, COLOR, SIDE, POSITION, MASK, SIZE_TASK, COUNT, ANGLE)


def pick(labels, tasks):
    """The labels of ``tasks`` only."""
    return {t.name: labels[t.name] for t in tasks}


def disc_batch(n: int = 8, h: int = 32, w: int = 32, c: int = 3, seed: int = 0):
    """Smooth noise images and a label for every task of :data:`ALL` (a disc of radius 3-6
    px near the centre gives the position, mask and size)."""
    rng = np.random.default_rng(seed)
    images = gaussian_filter(rng.random((n, h, w, c)), (0, 1.5, 1.5, 0)).astype(np.float32)
    yy, xx = np.mgrid[:h, :w] + 0.5
    cx, cy = rng.uniform(0.35, 0.65, (2, n))
    r = rng.uniform(3, 6, n)
    masks = ((xx - cx[:, None, None] * w) ** 2 + (yy - cy[:, None, None] * h) ** 2
             <= r[:, None, None] ** 2)[..., None].astype(np.float32)
    labels = {
        "shape": (np.arange(n) % 4).astype(np.int32),
        "color": (np.arange(n) % 3).astype(np.int32),
        "side": (np.arange(n) % 2).astype(np.int32),
        "position": np.stack([cx, cy], 1).astype(np.float32),
        "mask": masks,
        "size": ((r - 2) / 10).astype(np.float32)[:, None],
        "count": rng.random((n, 1)).astype(np.float32),
        "angle": rng.uniform(0, 2 * math.pi, (n, 1)).astype(np.float32),
    }
    return images, labels


def centroids(masks: np.ndarray) -> np.ndarray:
    """Mask centroids as (x, y) in [0, 1], pixel-centre convention (float32)."""
    return mask_centroids(masks)[0].astype(np.float32)


SIZE = 12  # the blob images' side


def make_data(n: int = 96, seed: int = 0):
    """Noisy images with one bright 3x3 blob: its colour channel is the class, its centre
    the position. Learnable in a few epochs by a tiny CNN."""
    rng = np.random.default_rng(seed)
    x = (0.1 * rng.random((n, SIZE, SIZE, 3))).astype("float32")
    cls = rng.integers(0, 3, n).astype("int32")
    cx, cy = rng.integers(1, SIZE - 1, n), rng.integers(1, SIZE - 1, n)
    for i in range(n):
        x[i, cy[i] - 1:cy[i] + 2, cx[i] - 1:cx[i] + 2, cls[i]] = 1.0
    pos = np.stack([(cx + 0.5) / SIZE, (cy + 0.5) / SIZE], axis=1).astype("float32")
    return x, {"shape": cls, "position": pos}


def make_dataset(n: int = 96, batch: int = 32, sample_weight: bool = False):
    """``make_data`` batched; with ``sample_weight``, every fourth position label weighs 0."""
    x, y = make_data(n)
    if sample_weight:
        sw = {"position": (np.arange(n) % 4 != 0).astype("float32")}
        return tf.data.Dataset.from_tensor_slices((x, y, sw)).batch(batch)
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch)
