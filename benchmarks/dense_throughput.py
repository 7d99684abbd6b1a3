"""Dense multi-task throughput: the training step, and augmentation against albumentations.

Two tables from one run on this machine (figures only, nothing asserted):

1. **Steady training images per second** of the dense model of notebook 11
   (``build_shared_model(..., encoder="encoder_decoder")``, a head per dense task,
   compiled by ``compile_model`` with each kind's loss and metrics) against a *plain Keras
   model of the same layers* (a hand-written functional model: the same convolutions,
   batch norms, poolings, upsamplings and heads, compiled with plain masked losses and no
   metrics), and the single-task twins (three encoder-decoders side by side), on
   ``make_scenes`` data without augmentation. Epochs after the first (tracing) are timed.
2. **Dense augmentation throughput** (image + segmentation + depth + normals): the course's
   policy ``shared([ScaleCrop(0.5), "hflip", Rotate(10)])``, which warps all four and turns
   the normals, in a batched ``tf.data`` map, against an albumentations pipeline doing the
   same geometric work (``Affine`` zoom 1-1.5 and rotation +-10 deg, a horizontal flip;
   segmentation and depth as masks, nearest; normals as an image, bilinear) in a Python
   loop, one sample at a time, as a ``Dataset.__getitem__`` would call it. albumentations
   only warps: it neither negates nor turns the normals, nor divides depth by a zoom.
   It is optional (not a dependency of the course); without it the course's figure is
   printed alone, with the command that installs the version this script was written for.

Run ``python benchmarks/dense_throughput.py --help``; ``--quick`` for a short smoke run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import mtl_utils  # noqa: E402, F401  (first: TensorFlow without its start-up chatter)

# isort: split
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from _timing import row, steady  # noqa: E402  (benchmarks/, the script's folder)
from keras import layers  # noqa: E402

from mtl_utils import augment  # noqa: E402
from mtl_utils.data import to_dataset  # noqa: E402
from mtl_utils.dense import depth_loss, normals_loss, segmentation_loss  # noqa: E402
from mtl_utils.dense_views import ScaleCrop  # noqa: E402
from mtl_utils.models import (  # noqa: E402
    BN_MOMENTUM,
    FusedBatchNormalization,
    build_shared_model,
    build_single_task_models,
)
from mtl_utils.scenes import make_scenes  # noqa: E402

#: The albumentations release this comparison was written against (optional extra
#: ``pip install -e ".[compare]"`` installs it).
ALBUMENTATIONS = "albumentations==2.0.8"


def plain_model(tasks, shape, filters, hidden):
    """The course's encoder-decoder and dense heads written out as a plain Keras model."""

    def conv_bn(x, f, strides=1):
        x = layers.Conv2D(f, 3, strides=strides, padding="same", use_bias=False)(x)
        x = FusedBatchNormalization(momentum=BN_MOMENTUM)(x)
        return layers.Activation("relu")(x)

    f0, f1, f2 = filters
    inputs = keras.Input(shape)
    half = conv_bn(inputs, f0, 2)
    quarter = conv_bn(layers.MaxPooling2D(2)(half), f1)
    x = conv_bn(conv_bn(layers.MaxPooling2D(2)(quarter), f2), f2)
    x = conv_bn(layers.Concatenate()([layers.UpSampling2D(2)(x), quarter]), f1)
    x = conv_bn(layers.Concatenate()([layers.UpSampling2D(2)(x), half]), f0)
    outputs = {}
    for n, t in tasks.items():
        h = layers.Conv2D(hidden // 2, 1, activation="relu")(x)
        h = layers.Resizing(shape[0], shape[1])(layers.Conv2D(t.output_units, 1)(h))
        last = (layers.UnitNormalization(axis=-1, name=n) if t.kind == "normals"
                else layers.Activation(t.label_kind.activation, name=n))
        outputs[n] = last(h)
    model = keras.Model(inputs, outputs)
    losses = {"segmentation": segmentation_loss, "depth": depth_loss, "normals": normals_loss}
    model.compile(keras.optimizers.Adam(1e-3), loss={n: losses[t.kind] for n, t in tasks.items()})
    return model


def training(args) -> None:
    data = make_scenes(args.n, args.image_size, seed=0, n_val=16, n_test=16)
    tasks, shape = data.tasks, data.image_shape
    kw = dict(encoder="encoder_decoder", filters=tuple(args.filters), hidden=args.hidden)
    print(f"\n1. Steady training throughput, {args.n} scenes at {args.image_size}px, batch "
          f"{args.batch_size}, filters {tuple(args.filters)}, hidden {args.hidden}, "
          f"{args.epochs} timed epochs")

    def ds():
        return to_dataset(data.train, tasks, args.batch_size, seed=0)

    n = len(data.train)
    keras.utils.set_random_seed(0)
    plain = row("plain Keras, same layers (losses only)", n,
                steady(plain_model(tasks, shape, args.filters, args.hidden), ds(), args.epochs))
    keras.utils.set_random_seed(0)
    row("course: build_shared_model + compile_model (all metrics)", n,
        steady(build_shared_model(tasks, shape, **kw), ds(), args.epochs), plain)
    keras.utils.set_random_seed(0)
    row("course: single-task twins (three encoder-decoders)", n,
        steady(build_single_task_models(tasks, shape, **kw), ds(), args.epochs), plain)
    print("  ratio: images per second over the plain twin's (target, reported: >= 0.9x for "
          "the shared model; it also computes 10 metrics per step)")


# ------------------------------------------------------------------ augmentation
def ours_pipeline(images, labels, tasks, batch_size):
    policy = augment.shared([ScaleCrop(0.5), "hflip", augment.Rotate(10)], tasks)
    src = tf.data.Dataset.from_tensor_slices((images, labels)).batch(
        batch_size, drop_remainder=True).repeat()
    seeds = tf.data.Dataset.random(seed=0, rerandomize_each_iteration=True).batch(2)
    ds = tf.data.Dataset.zip(src, seeds).map(lambda xy, s: policy(xy[0], xy[1], s),
                                              num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


def albumentations_pipeline(albumentations):
    import cv2

    return albumentations.Compose(
        [albumentations.Affine(scale=(1.0, 1.5), rotate=(-10, 10),
                               interpolation=cv2.INTER_LINEAR,
                               mask_interpolation=cv2.INTER_NEAREST,
                               border_mode=cv2.BORDER_REFLECT_101, p=1.0),
         albumentations.HorizontalFlip(p=0.5)],
        additional_targets={"depth": "mask", "normals": "image"}, seed=0)


def best_rate(step, images_per_call: int, calls: int, rounds: int) -> float:
    best = 0.0
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            step()
        best = max(best, calls * images_per_call / (time.perf_counter() - start))
    return best


def augmentation(args) -> None:
    data = make_scenes(args.pool, 64, seed=0, n_val=16, n_test=16)
    images, labels, tasks = data.train.images, data.train.labels, data.tasks
    print(f"\n2. Dense augmentation throughput, 64x64 image + segmentation + depth + normals "
          f"(scale-crop x1-1.5, rotation +-10 deg, hflip), best of {args.rounds} rounds")
    it = iter(ours_pipeline(images, dict(labels), tasks, args.aug_batch))
    for _ in range(3):  # warm-up: tracing, thread pools
        next(it)
    ours = best_rate(lambda: next(it), args.aug_batch, args.aug_batches, args.rounds)
    print(f"  {'course: shared policy, batched tf.data map':<52} {ours:>8,.0f} img/s")
    try:
        import albumentations
    except ImportError:
        print(f"  albumentations is not installed: to compare, `pip install {ALBUMENTATIONS}` "
              "(or the optional extra: pip install -e '.[compare]'); it is not a dependency "
              "of the course.")
        return
    pipe = albumentations_pipeline(albumentations)
    seg = labels["segmentation"][..., 0].astype(np.int32)
    depth, normals = labels["depth"], labels["normals"]
    k = [0]

    def one():
        i = k[0] % len(images)
        k[0] += 1
        pipe(image=images[i], mask=seg[i], depth=depth[i], normals=normals[i])

    for _ in range(20):
        one()
    rate = best_rate(one, 1, args.aug_batch * args.aug_batches // 4, args.rounds)
    print(f"  {'albumentations ' + albumentations.__version__ + ', per sample in Python':<52} "
          f"{rate:>8,.0f} img/s   course / albumentations: {ours / rate:.2f}x")
    print("  albumentations ran in one process (a DataLoader with w workers multiplies it by at "
          "most w); it warps the normals as an image: their x sign and in-plane turn are wrong "
          "after a flip or rotation, which the course's policy corrects.")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=1024, help="training scenes (table 1)")
    ap.add_argument("--image-size", type=int, default=64)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--filters", type=int, nargs=3, default=[16, 24, 32])
    ap.add_argument("--hidden", type=int, default=32)
    ap.add_argument("--epochs", type=int, default=3, help="timed epochs after the first")
    ap.add_argument("--pool", type=int, default=512, help="distinct scenes for table 2")
    ap.add_argument("--aug-batch", type=int, default=128)
    ap.add_argument("--aug-batches", type=int, default=8, help="timed batches per round")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--skip-training", action="store_true")
    ap.add_argument("--quick", action="store_true", help="a short smoke run")
    args = ap.parse_args(argv)
    if args.quick:
        args.n, args.epochs, args.pool, args.aug_batches, args.rounds = 128, 1, 128, 2, 1
    print(f"TensorFlow {tf.__version__}, Keras {keras.__version__}, {os.cpu_count()} CPU cores")
    if not args.skip_training:
        training(args)
    augmentation(args)


if __name__ == "__main__":
    main()
