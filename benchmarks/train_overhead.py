"""Training-time overhead of label-consistent augmentation on the course's default model.

Epoch time of the default shared model (``build_shared_model``) on ``make_shapes`` data fed
by ``to_dataset(..., augment=article_preset(tasks))`` divided by the epoch time of the same
pipeline without augmentation (target, reported and not asserted: <= 1.15x). The two models
are warmed up (tracing, dataset cache) for one epoch each, then timed in alternating
single-epoch rounds so that machine noise hits both alike. The ratio uses the fastest epoch
of each (the least disturbed by other processes); medians are shown too.

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


def epoch_seconds(model: keras.Model, ds: tf.data.Dataset) -> float:
    start = time.perf_counter()
    model.fit(ds, epochs=1, verbose=0, shuffle=False)  # the dataset shuffles itself
    return time.perf_counter() - start


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
    ap.add_argument("--rounds", type=int, default=5, help="timed epochs per pipeline")
    ap.add_argument("--corrected", action="store_true", help="use the corrected preset")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)

    data = make_shapes(args.n, image_size=args.image_size, seed=args.seed, n_val=16,
                       n_test=16)
    tasks = data.tasks
    policy = augment.article_preset(tasks, corrected=args.corrected)
    shape = data.train.images.shape[1:]
    runs = {}
    for name, aug in (("no augmentation", None), ("article preset", policy)):
        keras.utils.set_random_seed(args.seed)
        model = build_shared_model(tasks, shape)
        ds = to_dataset(data.train, tasks, batch_size=args.batch_size, seed=args.seed,
                        augment=aug)
        epoch_seconds(model, ds)  # warm-up: tracing and the dataset cache
        runs[name] = (model, ds, [])
    for _ in range(args.rounds):
        for model, ds, times in runs.values():
            times.append(epoch_seconds(model, ds))

    steps = -(-args.n // args.batch_size)
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU "
          f"cores; make_shapes n={args.n} at {args.image_size}px, batch {args.batch_size} "
          f"({steps} steps/epoch), tasks {list(tasks)}")
    print(f"policy: {policy!r}")
    header = (f"{'pipeline':<18} {'fastest s':>10} {'median s':>9} {'ratio (fastest)':>16} "
              f"{'ratio (median)':>15}")
    print(header)
    print("-" * len(header))
    base = runs["no augmentation"][2]
    for name, (_, _, times) in runs.items():
        print(f"{name:<18} {min(times):>10.2f} {statistics.median(times):>9.2f} "
              f"{min(times) / min(base):>15.2f}x "
              f"{statistics.median(times) / statistics.median(base):>14.2f}x")
    pipe = {name: min(iterate_seconds(ds) for _ in range(args.rounds))
            for name, (_, ds, _) in runs.items()}
    extra = pipe["article preset"] - pipe["no augmentation"]
    print(f"input pipeline alone, fastest epoch: {pipe['no augmentation']:.3f} s plain, "
          f"{pipe['article preset']:.3f} s augmented: augmentation costs {extra:.3f} s of "
          f"work per epoch = {100 * extra / min(base):.1f}% of the fastest plain training "
          "epoch (an upper bound on the overhead if it ran serially with training).")
    print("Target (reported, not asserted): augmented / plain <= 1.15x. On a shared machine "
          "the epoch ratios are noisy; the pipeline-alone figure is the stable one.")


if __name__ == "__main__":
    main()
