"""A tiny learnable two-task dataset shared by the weighting tests and the subprocess of
the distributed test (which imports it from this folder)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

SIZE = 12


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
