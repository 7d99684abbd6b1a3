"""What this machine is, so that a timing in a note can be read against the machine that made
it (figures only, nothing asserted):

1. the CPU model, its core count and the vector extensions TensorFlow can use
   (SSE4, AVX, AVX2, FMA, AVX-512, AMX), with the TensorFlow and Keras versions;
2. convolution training throughput: a VGG-like stack of 3x3 stride-1 convolutions at 32 px
   (batch 32), in GFLOPS of a training step (forward + both gradients);
3. ResNet50 (``weights=None``, 32 px, batch 32, two softmax heads' worth of output ignored):
   a compiled forward pass and a compiled training step, with Keras' ``Conv2D`` and with the
   course's :class:`~mtl_utils.fast_layers.FastGradConv2D` (the encoder ``"resnet50"`` of
   :func:`mtl_utils.models.build_encoder`). On a CPU where TensorFlow's
   ``Conv2DBackpropInput`` is slow on small maps the first ratio is 20-35x, the second about 5x.

Run ``python benchmarks/host_probe.py`` (about a minute; ``--quick`` for fewer repeats).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
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

from mtl_utils.fast_layers import rebuild_fast_conv  # noqa: E402

EXTENSIONS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
              "amx_tile", "asimd", "sve")


def cpu_description() -> tuple[str, list[str]]:
    """The CPU's model name and which of :data:`EXTENSIONS` it has (Linux; elsewhere, what
    ``platform`` says and no extensions)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine(), []
    name = re.search(r"^(?:model name|Model|Hardware)\s*:\s*(.+)$", text, re.M)
    flags = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", text, re.M)
    have = set(flags.group(1).split()) if flags else set()
    return (name.group(1).strip() if name else platform.machine()), [
        e for e in EXTENSIONS if e in have]


def best_ms(fn, x, repeats: int) -> float:
    """The fastest of ``repeats`` calls after one warm-up (tracing) call, in ms."""
    np.asarray(fn(x))
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        np.asarray(fn(x))
        times.append(time.perf_counter() - start)
    return 1000 * min(times)


def compiled(model: keras.Model):
    """A compiled forward pass and a compiled SGD training step of ``model``."""
    optimizer = keras.optimizers.SGD(1e-3)

    @tf.function
    def forward(x):
        return tf.reduce_sum(model(x, training=False))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True)))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return loss

    return forward, step


def conv_stack_gflops(repeats: int) -> float:
    """Training GFLOPS of four 3x3 stride-1 convolutions, 64 channels, 32x32, batch 32."""
    inputs = keras.Input((32, 32, 64))
    x = inputs
    for _ in range(4):
        x = keras.layers.Conv2D(64, 3, padding="same", use_bias=False)(x)
    model = keras.Model(inputs, x)
    flops = 4 * 2 * 32 * 32 * 32 * 9 * 64 * 64 * 3  # forward + input + kernel gradients
    _, step = compiled(model)
    ms = best_ms(step, tf.random.uniform((32, 32, 32, 64)), repeats)
    return flops / ms / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats")
    args = parser.parse_args()
    repeats = 2 if args.quick else 5
    name, extensions = cpu_description()
    print(f"CPU: {name} | {os.cpu_count()} cores | {platform.machine()} | extensions: "
          f"{' '.join(extensions) or 'unknown'}")
    print(f"Python {platform.python_version()} | TensorFlow {tf.__version__} | "
          f"Keras {keras.__version__} | GPU: "
          f"{len(tf.config.list_physical_devices('GPU')) or 'none'}")
    print(f"3x3 convolution stack, training: {conv_stack_gflops(repeats):.1f} GFLOPS")
    images = tf.random.uniform((32, 32, 32, 3))
    keras.utils.set_random_seed(0)
    base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=(32, 32, 3))
    print("ResNet50, 32 px, batch 32 (weights=None):")
    print(f"  {'convolutions':<34}{'forward ms':>11}{'train step ms':>15}{'ratio':>7}")
    for label, model in (("Keras Conv2D", base),
                         ("FastGradConv2D (the course's)", rebuild_fast_conv(base))):
        forward, step = compiled(model)
        f_ms = best_ms(forward, images, repeats)
        s_ms = best_ms(step, images, max(2, repeats // 2))
        print(f"  {label:<34}{f_ms:>11.0f}{s_ms:>15.0f}{s_ms / f_ms:>6.1f}x")


if __name__ == "__main__":
    main()
