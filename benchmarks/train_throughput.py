"""Training throughput of the course's models, the levers tried on it, and per-run fixed cost.

Three tables, all from one run on this machine (figures only, nothing asserted):

1. **Steady training images per second** (epochs after the first, batch 32, 2,000 shapes,
   no augmentation) of the course's default shared models, built by
   :func:`mtl_utils.models.build_shared_model` and compiled by ``compile_model``:
   3 tasks (shape, color, position) and 5 tasks (plus size and mask), each against a
   *plain Keras model of the same layers* (a hand-written functional model with the same
   conv/batch-norm/pool/dense layers, compiled with Keras' string losses and no metrics).
   Also shown: the same plain model with Keras' stock ``BatchNormalization`` and the old
   course graph that called the shared encoder once per head. Target (reported): the
   course's model >= 0.9x its plain twin.
2. **Levers** on the 3-task model, each against the default (batch 32, tf.data autotuner
   off, one model per graph): the autotuner on, ``steps_per_execution``, larger batches
   (images per second only: a larger batch takes fewer optimizer steps), three seeds
   stacked as independent towers in one graph (model-images per second), XLA and
   ``mixed_bfloat16``. Each row shows the mean and the range of its steady epochs.
3. **Fixed cost per run**: consecutive ``experiments.run_config`` runs of one configuration
   (different seeds); a run's wall time minus its epochs at the steady epoch time is what it
   pays once (building the model, tracing on the first run, evaluating the test split).
   Target (reported): <= 2 s per run after the first.

Run ``python benchmarks/train_throughput.py --help``; ``--quick`` for a short smoke run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mtl_utils  # noqa: E402, F401  (first: TensorFlow without its start-up chatter)

# isort: split
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from _timing import row, steady  # noqa: E402  (benchmarks/, the script's folder)
from keras import layers  # noqa: E402

from mtl_utils import experiments as ex  # noqa: E402
from mtl_utils.data import make_shapes, to_dataset  # noqa: E402
from mtl_utils.models import (  # noqa: E402
    BN_MOMENTUM,
    FusedBatchNormalization,
    build_encoder,
    build_head,
    build_shared_model,
    compile_model,
)
from mtl_utils.tasks import select_tasks  # noqa: E402

THREE = ("shape", "color", "position")
FIVE = ("shape", "color", "position", "size", "mask")
PLAIN_LOSS = {"class": "sparse_categorical_crossentropy", "position": "mse", "scalar": "mse",
              "mask": "binary_crossentropy"}


def plain_model(tasks, shape, norm: Callable[..., layers.Layer], filters=(32, 64, 64)):
    """The course's encoder and heads written out as a plain Keras functional model."""
    inputs = keras.Input(shape)
    x = inputs
    for i, f in enumerate(filters):  # a strided stem, then pooling after the second block
        x = layers.Conv2D(f, 3, strides=2 if i == 0 else 1, padding="same", use_bias=False)(x)
        x = norm(momentum=BN_MOMENTUM)(x)
        x = layers.Activation("relu")(x)
        if i == 1:
            x = layers.MaxPooling2D(2)(x)
    outputs = {}
    for n, t in tasks.items():
        if t.kind == "mask":
            h = layers.Conv2D(32, 3, padding="same", activation="relu")(x)
            h = layers.Resizing(shape[0], shape[1])(layers.Conv2D(1, 1)(h))
            outputs[n] = layers.Activation("sigmoid", name=n)(h)
            continue
        pool = layers.Flatten() if t.pool == "flatten" else layers.GlobalMaxPooling2D()
        h = layers.Dense(64, activation="relu")(pool(x))
        outputs[n] = layers.Dense(t.output_units, activation=t.output_activation, name=n)(h)
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3), loss={n: PLAIN_LOSS[t.kind]
                                                     for n, t in tasks.items()})
    return model


def encoder_per_head_model(tasks, shape):
    """The graph the course had before: one encoder, called once per head."""
    inputs = keras.Input(shape)
    encoder = build_encoder(shape)
    outputs = {n: build_head(t, encoder(inputs), shape) for n, t in tasks.items()}
    return compile_model(keras.Model(inputs, outputs), tasks)


def stacked_seeds(tasks, shape, data, k: int, batch: int):
    """``k`` independent copies of the 3-task model side by side, each with its own data."""
    subs = [build_shared_model(tasks, shape, compile=False, name=f"seed{i}") for i in range(k)]
    inputs = {f"s{i}": keras.Input(shape, name=f"s{i}") for i in range(k)}
    outputs = {}
    for i, sub in enumerate(subs):
        out = sub(inputs[f"s{i}"])
        outputs.update({f"s{i}_{n}": layers.Identity(name=f"s{i}_{n}")(out[n]) for n in tasks})
    model = keras.Model(inputs, outputs)
    model.compile(keras.optimizers.Adam(1e-3),
                  loss={f"s{i}_{n}": t.loss() for i in range(k) for n, t in tasks.items()},
                  metrics={f"s{i}_{n}": t.metrics() for i in range(k) for n, t in tasks.items()})

    def merge(*parts):
        return ({f"s{i}": p[0] for i, p in enumerate(parts)},
                {f"s{i}_{n}": p[1][n] for i, p in enumerate(parts) for n in tasks})

    streams = tuple(to_dataset(data.train, tasks, batch, seed=i) for i in range(k))
    return model, tf.data.Dataset.zip(streams).map(merge)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="training images")
    ap.add_argument("--epochs", type=int, default=4, help="timed epochs per measurement")
    ap.add_argument("--runs", type=int, default=4, help="consecutive runs for the fixed cost")
    ap.add_argument("--quick", action="store_true", help="a short smoke run (n=256, 2 epochs)")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.runs = 256, 2, 2

    data = make_shapes(args.n, seed=0, n_val=64, n_test=1000 if not args.quick else 64)
    shape = data.image_shape
    three, five = select_tasks(data.tasks, THREE), select_tasks(data.tasks, FIVE)
    n, e = args.n, args.epochs
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores; "
          f"make_shapes n={n}, batch 32 unless noted; mean over {e} steady epochs")

    def ds(tasks, batch=32, autotune=False):
        return to_dataset(data.train, tasks, batch, seed=0, autotune=autotune)

    print("\n1. Steady training throughput, the course's model vs a plain Keras twin")
    for label, tasks in (("3 tasks", three), ("5 tasks with mask", five)):
        keras.utils.set_random_seed(0)
        plain = row(f"plain Keras, same layers ({label})", n,
                    steady(plain_model(tasks, shape, FusedBatchNormalization), ds(tasks), e))
        row(f"plain Keras, stock BatchNormalization ({label})", n,
            steady(plain_model(tasks, shape, layers.BatchNormalization), ds(tasks), e), plain)
        row(f"course build_shared_model ({label})", n,
            steady(build_shared_model(tasks, shape), ds(tasks), e), plain)
        row(f"old course graph, encoder once per head ({label})", n,
            steady(encoder_per_head_model(tasks, shape), ds(tasks), e), plain)

    print("\n2. Levers on the 3-task model (ratio against the default)")
    keras.utils.set_random_seed(0)
    base = row("default: batch 32, autotune off", n,
               steady(build_shared_model(three, shape), ds(three), e))
    row("tf.data autotune on", n,
        steady(build_shared_model(three, shape), ds(three, autotune=True), e), base)
    m = build_shared_model(three, shape, compile=False)
    m.compile(keras.optimizers.Adam(1e-3), loss={k: t.loss() for k, t in three.items()},
              metrics={k: t.metrics() for k, t in three.items()}, steps_per_execution=8)
    row("steps_per_execution=8", n, steady(m, ds(three), e), base)
    for batch in (64, 128):
        row(f"batch {batch} (fewer optimizer steps per epoch)", n,
            steady(build_shared_model(three, shape), ds(three, batch), e), base)
    model, stacked = stacked_seeds(three, shape, data, 3, 32)
    row("3 seeds stacked in one graph (model-images/s)", 3 * n, steady(model, stacked, e), base)
    m = build_shared_model(three, shape, compile=False)
    m.compile(keras.optimizers.Adam(1e-3), loss={k: t.loss() for k, t in three.items()},
              jit_compile=True)
    row("XLA (jit_compile=True)", n, steady(m, ds(three), e), base)
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        row("mixed_bfloat16", n, steady(build_shared_model(three, shape), ds(three), e), base)
    finally:
        keras.mixed_precision.set_global_policy("float32")

    print(f"\n3. Fixed cost per run: {args.runs} consecutive run_config runs of one "
          f"configuration ({e + 1} epochs, test split of {len(data.test)} images)")
    config = ex.Config("bench", tasks=list(THREE), epochs=e + 1, schedule="cosine")
    for seed in range(args.runs):
        start = time.perf_counter()
        rows = ex.run_config(data, config, [seed], progress=False)
        wall = time.perf_counter() - start
        epoch = float(rows["epoch_seconds"].iloc[0])
        fixed = wall - (e + 1) * epoch
        print(f"  run {seed + 1} (seed {seed}): {wall:5.2f} s in all, steady epoch {epoch:.2f} s, "
              f"fixed cost {fixed:5.2f} s")
    print("\nTargets (reported, not asserted): the course's model >= 0.9x its plain twin; "
          "<= 2 s fixed cost per run after the first.")


if __name__ == "__main__":
    main()
