"""Epoch timing shared by the training benchmarks (train_throughput.py, dense_throughput.py)."""

from __future__ import annotations

import statistics
import time

import keras
import tensorflow as tf


class EpochTimes(keras.callbacks.Callback):
    """Seconds of each epoch of a ``fit``."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.times.append(time.perf_counter() - self._start)


def steady(model: keras.Model, ds: tf.data.Dataset, epochs: int) -> list[float]:
    """Seconds of each epoch after the first (which traces and fills the cache)."""
    timer = EpochTimes()
    model.fit(ds, epochs=epochs + 1, verbose=0, callbacks=[timer], shuffle=False)
    return timer.times[1:]


def row(name: str, images: int, times: list[float], ref: float | None = None) -> float:
    """Print one table row: images per second over ``times``, its ratio to ``ref``, and the
    range of the epochs; return the rate."""
    rate = images / statistics.mean(times)
    ratio = f"{rate / ref:>6.2f}x" if ref else " " * 7
    print(f"  {name:<58} {rate:>7,.0f} img/s {ratio}   epochs {min(times):.2f}-"
          f"{max(times):.2f} s")
    return rate
