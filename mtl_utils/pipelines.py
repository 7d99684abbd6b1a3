"""Variants of the augmenting ``tf.data`` pipeline, and how to time them.

Introduced in notebook 04.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import tensorflow as tf

from .data import Split


def pipeline_variant(split: Split, policy: Callable, batch_size: int, seed: int, *,
                     per_example: bool = False, parallel: bool = True, prefetch: bool = True,
                     rewrites: bool = True) -> tf.data.Dataset:
    """``to_dataset``'s augmenting pipeline with each of its choices as a switch.

    Args:
        policy: a policy with ``.tasks`` (:mod:`mtl_utils.augment`).
        per_example: run the policy on single examples (a batch of one), then batch.
        parallel: map with ``num_parallel_calls=AUTOTUNE`` (else sequentially).
        rewrites: ``False`` stops tf.data from parallelizing the map and injecting a
            prefetch by itself, so the pipeline only starts a batch when asked for one.

    With the defaults it gives exactly ``to_dataset``'s batches (checked in notebook 04):
    ``range(n) -> shuffle -> batch -> map(gather, policy) -> prefetch``.
    """
    images = tf.convert_to_tensor(split.images)
    labels = {t: tf.convert_to_tensor(split.labels[t]) for t in policy.tasks}
    ds = tf.data.Dataset.range(len(split)).shuffle(len(split), seed=seed,
                                                   reshuffle_each_iteration=True)
    seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
    calls = tf.data.AUTOTUNE if parallel else None
    if per_example:
        def one(i, s):
            x, y = policy(images[i][None], {k: v[i][None] for k, v in labels.items()}, s)
            return x[0], {k: v[0] for k, v in y.items()}
        ds = tf.data.Dataset.zip(ds, seeds).map(one, num_parallel_calls=calls).batch(batch_size)
    else:
        ds = tf.data.Dataset.zip(ds.batch(batch_size), seeds).map(
            lambda i, s: policy(tf.gather(images, i), {k: tf.gather(v, i)
                                                       for k, v in labels.items()}, s),
            num_parallel_calls=calls)
    ds = ds.prefetch(tf.data.AUTOTUNE) if prefetch else ds
    options = tf.data.Options()
    options.autotune.enabled = False  # as to_dataset
    if not rewrites:
        options.experimental_optimization.map_parallelization = False
        options.experimental_optimization.inject_prefetch = False
    return ds.with_options(options)


def measure(ds: tf.data.Dataset, batches: int, step_ms: float = 0.0, warmup: int = 3
            ) -> tuple[float, float]:
    """``(images per second, median wait per batch in ms)`` over ``batches`` batches after
    ``warmup``, the consumer sleeping ``step_ms`` after each batch (a stand-in for a
    training step): the wait is how long a training step would sit idle."""
    it = iter(ds.repeat())
    for _ in range(warmup):
        next(it)
    count, waits, start = 0, [], time.perf_counter()
    for _ in range(batches):
        t = time.perf_counter()
        count += int(next(it)[0].shape[0])
        waits.append(time.perf_counter() - t)
        time.sleep(step_ms / 1000)
    return count / (time.perf_counter() - start), 1000 * float(np.median(waits))


def epochs_seconds(ds: tf.data.Dataset, epochs: int, steps: int | None = None) -> float:
    """Seconds to pull ``epochs`` epochs: a new iterator per epoch (``steps=None``, as Keras
    does for a finite dataset), or one iterator of a repeated dataset for all of them."""
    start = time.perf_counter()
    if steps is None:
        for _ in range(epochs):
            for _ in ds:
                pass
    else:
        it = iter(ds)
        for _ in range(epochs * steps):
            next(it)
    return time.perf_counter() - start
