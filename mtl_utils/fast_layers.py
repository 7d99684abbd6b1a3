"""Keras layers with the same maths as Keras' own, computed by faster kernels on CPU, and a
rebuild that swaps them into a functional model (``keras.applications`` ones included).

- :class:`FusedBatchNormalization`: batch norm by TensorFlow's fused kernel in training.
- :class:`FastGradConv2D`: a ``Conv2D`` whose gradients are matrix products and forward
  convolutions instead of TensorFlow's ``Conv2DBackpropInput`` kernel, which on some
  CPUs (seen on an AVX2 AMD EPYC, TF 2.21) takes 30-100x a matrix product of the same size
  when the feature map is small and the channels many: ResNet50's last stages at 32 px
  (a 1x1 map of 512-2048 channels). There it made a training step 29x the forward pass;
  with this layer the step is about 5x (``benchmarks/host_probe.py`` measures both).

Introduced in notebook 08.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import tensorflow as tf
from keras import layers

BN_MOMENTUM = 0.9  # Keras' default 0.99 leaves moving statistics stale in short runs.


@keras.saving.register_keras_serializable(package="mtl_utils")
class FusedBatchNormalization(layers.BatchNormalization):
    """``keras.layers.BatchNormalization`` computed by TensorFlow's fused kernel in training.

    Same layer, weights, maths and config; one kernel per pass instead of Keras' separate
    ops makes a small-CNN training step about 1.3x faster on a 2-core CPU
    (``benchmarks/train_throughput.py``). Falls back to Keras' computation where the fused
    kernel does not apply (not TensorFlow, not 4-D channels-last, a mask, renorm, or
    ``synchronized=True``).

    Introduced in notebook 01.
    """

    def _fusable(self, inputs, mask) -> bool:
        # Keras before 3.14 has no renorm option (getattr: never on there).
        return (keras.backend.backend() == "tensorflow" and mask is None
                and not getattr(self, "renorm", False) and not self.synchronized
                and len(inputs.shape) == 4 and self.axis in (-1, 3))

    def call(self, inputs, training=None, mask=None):
        if not (training and self.trainable and self._fusable(inputs, mask)):
            return super().call(inputs, training=training, mask=mask)
        x = tf.cast(inputs, "float32")
        channels = x.shape[-1]
        gamma = self.gamma if self.scale else tf.ones([channels])
        beta = self.beta if self.center else tf.zeros([channels])
        y, mean, variance = tf.compat.v1.nn.fused_batch_norm(
            x, tf.convert_to_tensor(gamma), tf.convert_to_tensor(beta),
            epsilon=self.epsilon, is_training=True)
        # The kernel returns the unbiased variance; Keras' moving variance uses the biased one.
        n = tf.cast(tf.size(x) // channels, "float32")
        variance = variance * (n - 1.0) / tf.maximum(n, 1.0)
        m = self.momentum
        self.moving_mean.assign(self.moving_mean * m + mean * (1.0 - m))
        self.moving_variance.assign(self.moving_variance * m + variance * (1.0 - m))
        return tf.cast(y, self.compute_dtype)


def _strided_zeros_between(dx, stride: int, height, width):
    """``dx`` of shape (B, h, w, C) placed at every ``stride``-th pixel of a (B, height,
    width, C) map of zeros: the input gradient of a strided 1x1 convolution."""
    b, h, w, c = tf.unstack(tf.shape(dx))
    s = stride - 1
    dx = tf.pad(dx[:, :, None, :, None, :], [[0, 0], [0, 0], [0, s], [0, 0], [0, s], [0, 0]])
    dx = tf.reshape(dx, [b, h * stride, w * stride, c])[:, :height, :width, :]
    return tf.pad(dx, [[0, 0], [0, height - tf.shape(dx)[1]], [0, width - tf.shape(dx)[2]],
                       [0, 0]])


def conv2d_fast_gradients(x, kernel, stride: int, padding: str):
    """``tf.nn.conv2d(x, kernel, stride, padding)`` (NHWC, no dilation) with gradients as
    matrix products and forward convolutions:

    - kernel gradient: a matmul of the (strided) input with the output gradient for a 1x1
      kernel, of the input's patches (``tf.image.extract_patches``) with it otherwise;
    - input gradient: a matmul with the kernel for a 1x1 kernel (placed back at every
      ``stride``-th pixel), a forward convolution of the output gradient with the flipped,
      transposed kernel for stride 1; TensorFlow's own kernel for a strided k x k (larger
      maps: ResNet50's stem, whose input needs no gradient).

    Equal to TensorFlow's gradients up to float rounding (``tests/test_models.py``).
    """
    padding = padding.upper()

    @tf.custom_gradient
    def conv(x, kernel):
        y = tf.nn.conv2d(x, kernel, stride, padding)

        def grad(dy):
            kh, kw, cin, cout = kernel.shape
            if (kh, kw) == (1, 1):
                xs = x[:, ::stride, ::stride, :][:, :tf.shape(dy)[1], :tf.shape(dy)[2], :]
                dk = tf.reshape(tf.einsum("bhwi,bhwo->io", xs, dy), tf.shape(kernel))
                dx = tf.einsum("bhwo,io->bhwi", dy, kernel[0, 0])
                if stride > 1:
                    dx = _strided_zeros_between(dx, stride, tf.shape(x)[1], tf.shape(x)[2])
                return dx, dk
            patches = tf.image.extract_patches(x, [1, kh, kw, 1], [1, stride, stride, 1],
                                               [1, 1, 1, 1], padding)
            dk = tf.reshape(tf.matmul(tf.reshape(patches, [-1, kh * kw * cin]),
                                      tf.reshape(dy, [-1, cout]), transpose_a=True),
                            tf.shape(kernel))
            if stride > 1 or (padding == "SAME" and (kh % 2 == 0 or kw % 2 == 0)):
                dx = tf.raw_ops.Conv2DBackpropInput(
                    input_sizes=tf.shape(x), filter=kernel, out_backprop=dy,
                    strides=[1, stride, stride, 1], padding=padding)
                return dx, dk
            flipped = tf.transpose(tf.reverse(kernel, [0, 1]), [0, 1, 3, 2])
            if padding == "VALID":
                dy = tf.pad(dy, [[0, 0], [kh - 1, kh - 1], [kw - 1, kw - 1], [0, 0]])
            return tf.nn.conv2d(dy, flipped, 1, padding), dk

        return y, grad

    # tensors, not variables: the variable read stays outside, so gradients reach it
    return conv(tf.convert_to_tensor(x), tf.convert_to_tensor(kernel))


@keras.saving.register_keras_serializable(package="mtl_utils")
class FastGradConv2D(layers.Conv2D):
    """``keras.layers.Conv2D`` whose gradients are computed by
    :func:`conv2d_fast_gradients`: same layer, weights, outputs and config; a ResNet50
    training step at 32 px about 5x faster on a CPU whose ``Conv2DBackpropInput`` is slow
    on small maps. Falls back to Keras' computation where it does not apply (not
    TensorFlow, channels-first, dilation, groups, or unequal strides).

    Introduced in notebook 08.
    """

    def convolution_op(self, inputs, kernel):
        if (keras.backend.backend() != "tensorflow" or self.data_format != "channels_last"
                or tuple(self.dilation_rate) != (1, 1) or self.groups != 1
                or self.strides[0] != self.strides[1]):
            return super().convolution_op(inputs, kernel)
        return conv2d_fast_gradients(inputs, kernel, int(self.strides[0]), self.padding)


def _rebuild(model: keras.Model, swap: Callable[[layers.Layer], layers.Layer | None]
             ) -> keras.Model:
    """A copy of a functional model with each layer ``swap`` returns in place of the old
    one (``None``: a copy of the old one), inside nested functional models too (the
    course's ``encoder`` is one); every weight is copied across."""

    def clone(layer):
        swapped = swap(layer)
        if swapped is not None:
            return swapped
        if isinstance(layer, keras.Model) and hasattr(layer, "_nodes_by_depth"):
            return _rebuild(layer, swap)  # a nested functional model: swap inside it
        return layer.__class__.from_config(layer.get_config())

    copy = keras.models.clone_model(model, clone_function=clone)
    copy.set_weights(model.get_weights())
    return copy


def rebuild_batch_norm(model: keras.Model, momentum: float = BN_MOMENTUM) -> keras.Model:
    """A copy of a functional model whose batch-norm layers use ``momentum`` (and the fused
    kernel, :class:`FusedBatchNormalization`); every weight is copied across.

    ``keras.applications`` models keep Keras' momentum 0.99, which leaves the moving
    statistics near their initial values after a short run (``0.99 ** 300`` is 5%): test
    predictions then use the wrong normalisation.

    Raises:
        ValueError: ``momentum`` outside ``[0, 1)``.

    Introduced in notebook 08.
    """
    if not 0.0 <= momentum < 1.0:
        raise ValueError(f"batch-norm momentum must be in [0, 1), got {momentum}.")
    return _rebuild(model, lambda layer: FusedBatchNormalization.from_config(
        {**layer.get_config(), "momentum": momentum})
        if isinstance(layer, layers.BatchNormalization) else None)


def rebuild_fast_conv(model: keras.Model) -> keras.Model:
    """A copy of a functional model whose ``Conv2D`` layers are :class:`FastGradConv2D`
    (same outputs and weights, faster gradients on small maps); every weight is copied.

    Introduced in notebook 08.
    """
    return _rebuild(model, lambda layer: FastGradConv2D.from_config(layer.get_config())
                    if type(layer) is layers.Conv2D else None)
