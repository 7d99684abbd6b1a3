"""Training-time overhead of label-consistent augmentation on the course's default model.

Epoch time of the default shared model (``build_shared_model``) on ``make_shapes`` data fed
by ``to_dataset(..., augment=article_preset(tasks))`` divided by the epoch time of the same
pipeline without augmentation (target, reported and not asserted: <= 1.15x).

Training is timed the way the course trains (``run_config``): one repeated iterator for all
epochs (``to_dataset(..., repeat=True)`` and ``fit(..., steps_per_epoch=...)``), epoch times
from a callback. The two models are warmed up (tracing, dataset cache) first, then timed in
alternating rounds of several epochs so that machine noise hits both alike. The ratio uses
the fastest epoch of each (the least disturbed by other processes); medians are shown too.
A second table times one ``fit(epochs=1)`` per epoch, a new iterator each time as a bare
``model.fit(ds, epochs=...)`` loop would: tf.data restarts the pipeline every epoch, and
that start-up, not the augmentation, is most of that ratio.

Run ``python benchmarks/train_overhead.py --help``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mtl_utils  # noqa: E402, F401  (first: TensorFlow without its start-up chatter)

# isort: split
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from mtl_utils import augment  # noqa: E402
from mtl_utils.data import make_shapes, to_dataset  # noqa: E402
from mtl_utils.models import build_shared_model  # noqa: E402


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self.start)


def epoch_seconds(model: keras.Model, ds: tf.data.Dataset, epochs: int, steps: int | None
                  ) -> list[float]:
    """Seconds of each epoch of one ``fit`` (``steps`` per epoch on a repeated dataset)."""
    timer = EpochTimer()
    model.fit(ds, epochs=epochs, steps_per_epoch=steps, verbose=0, shuffle=False,
              callbacks=[timer])  # the dataset shuffles itself
    return timer.times


def iterate_seconds(ds: tf.data.Dataset) -> float:
    start = time.perf_counter()
    for _ in ds:
        pass
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=512, help="training images")
    ap.add_argument("--image-size", type=int, default=32)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=5, help="timed rounds per pipeline")
    ap.add_argument("--epochs", type=int, default=4, help="epochs per round (one iterator)")
    ap.add_argument("--corrected", action="store_true", help="use the corrected preset")
    ap.add_argument("--autotune", action="store_true", help="to_dataset(..., autotune=True)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    data = make_shapes(args.n, image_size=args.image_size, seed=args.seed, n_val=16,
                       n_test=16)
    tasks = data.tasks
    policy = augment.article_preset(tasks, corrected=args.corrected)
    shape = data.train.images.shape[1:]
    steps = -(-args.n // args.batch_size)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU "
          f"cores; make_shapes n={args.n} at {args.image_size}px, batch {args.batch_size} "
          f"({steps} steps/epoch), tasks {list(tasks)}")
    print(f"policy: {policy!r}; tf.data autotune {'on' if args.autotune else 'off'}")
    for mode, repeat in (("one iterator for all epochs (as the course trains)", True),
                         ("a new iterator every epoch (fit(epochs=1) in a loop)", False)):
        runs = {}
        for name, aug in (("no augmentation", None), ("article preset", policy)):
            keras.utils.set_random_seed(args.seed)
            model = build_shared_model(tasks, shape)
            ds = to_dataset(data.train, tasks, batch_size=args.batch_size, seed=args.seed,
                            augment=aug, repeat=repeat, autotune=args.autotune)
            fit_steps, epochs = (steps, args.epochs) if repeat else (None, 1)
            epoch_seconds(model, ds, 2, fit_steps)  # warm-up: tracing and the dataset cache
            runs[name] = (model, ds, fit_steps, epochs, [])
        for _ in range(args.rounds):
            for model, ds, fit_steps, epochs, times in runs.values():
                times.extend(epoch_seconds(model, ds, epochs, fit_steps))
        print(f"\n{mode}:")
        header = (f"{'pipeline':<18} {'fastest s':>10} {'median s':>9} {'ratio (fastest)':>16} "
                  f"{'ratio (median)':>15}")
        print(header)
        print("-" * len(header))
        plain = runs["no augmentation"][-1]
        for name, (*_, times) in runs.items():
            print(f"{name:<18} {min(times):>10.3f} {statistics.median(times):>9.3f} "
                  f"{min(times) / min(plain):>15.2f}x "
                  f"{statistics.median(times) / statistics.median(plain):>14.2f}x")
        if repeat:
            base = plain  # the pipeline-alone figure is put against the course's epochs
    pipe = {}
    for name, aug in (("no augmentation", None), ("article preset", policy)):
        ds = to_dataset(data.train, tasks, batch_size=args.batch_size, seed=args.seed,
                        augment=aug)
        pipe[name] = min(iterate_seconds(ds) for _ in range(args.rounds + 1))
    extra = pipe["article preset"] - pipe["no augmentation"]
    print(f"input pipeline alone, fastest epoch: {pipe['no augmentation']:.3f} s plain, "
          f"{pipe['article preset']:.3f} s augmented: augmentation costs {extra:.3f} s of "
          f"work per epoch = {100 * extra / min(base):.1f}% of the fastest plain training "
          "epoch (an upper bound on the overhead if it ran serially with training).")
    print("Target (reported, not asserted): augmented / plain <= 1.15x. On a shared machine "
          "the epoch ratios are noisy; the pipeline-alone figure is the stable one.")


if __name__ == "__main__":
    main()
