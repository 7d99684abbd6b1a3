"""Keras 3 model builders: encoders, one head per :class:`~mtl_utils.tasks.Task`, and the
single-task and hard-parameter-sharing models ``f_t(x) = head_t(g(x))``. Heads, losses and
metrics come from the tasks; outputs are named after their tasks.

Introduced in notebook 01 (single-task) and notebook 02 (shared encoder).
"""

from __future__ import annotations

import contextlib
import random
import threading
import warnings
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import keras
from keras import KerasTensor, layers

from .fast_layers import (  # noqa: F401 - public here too (notebooks 01, 08)
    BN_MOMENTUM,
    FusedBatchNormalization,
    rebuild_batch_norm,
    rebuild_fast_conv,
)
from .tasks import Task, task_dict
from .weighting import MultiTaskModel, WeightingStrategy

try:  # where Keras 3 draws the seeds of unseeded initializers and layers (private)
    from keras.src.random import seed_generator as _keras_seeds
except ImportError:  # pragma: no cover - another Keras: its own seeding, untouched
    _keras_seeds = None


class _KerasSeedSource:
    """Stands in for Python's ``random`` as Keras' source of default seeds: the generator
    :func:`own_keras_seeds` gave the current thread, else Python's global ``random``."""

    def __init__(self, fallback: Any) -> None:
        self.fallback = fallback
        self.local = threading.local()

    def __getattr__(self, name: str) -> Any:
        return getattr(getattr(self.local, "generator", None) or self.fallback, name)


@contextlib.contextmanager
def own_keras_seeds(seed: int):
    """Within the block, and in this thread only, Keras draws default seeds from a generator
    seeded like ``random.seed(seed)`` instead of Python's global ``random``, which other
    threads draw from too (a Dask worker's event loop does while a task runs, so a model
    built there got initial weights other than its seed's). The same draws when nothing
    interferes; overlapping runs in several threads each keep their own.

    Introduced in notebook 01 (every run of :func:`mtl_utils.experiments.run_config`).
    """
    source = getattr(_keras_seeds, "python_random", None)
    if source is None:
        yield
        return
    if not isinstance(source, _KerasSeedSource):
        source = _keras_seeds.python_random = _KerasSeedSource(source)
    saved = getattr(source.local, "generator", None)
    source.local.generator = random.Random(int(seed))
    try:
        yield
    finally:
        source.local.generator = saved

ENCODERS: tuple[str, ...] = ("small_cnn", "resnet", "resnet50", "text_cnn", "encoder_decoder")
SCHEDULES: tuple[str, ...] = ("constant", "cosine")


def _check_input_shape(input_shape: Sequence[int], ranks: Sequence[int] = (1, 3)
                       ) -> tuple[int, ...]:
    shape = tuple(int(s) for s in input_shape)
    if len(shape) not in ranks or min(shape) < 1:
        want = " or ".join({1: "(length,) of token ids", 3: "(height, width, channels)"}[r]
                           for r in ranks)
        raise ValueError(
            f"input_shape must be {want}, got {tuple(input_shape)}; use data.image_shape "
            "(the shape of one example).")
    return shape


def _conv_bn(x, filters: int, name: str, relu: bool = True, strides: int = 1):
    x = layers.Conv2D(filters, 3, strides=strides, padding="same", use_bias=False,
                      name=f"{name}_conv")(x)
    x = FusedBatchNormalization(momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def build_encoder(input_shape: Sequence[int], kind: str = "small_cnn",
                  filters: Sequence[int] = (32, 64, 64), name: str = "encoder",
                  vocab_size: int | None = None, embed_dim: int = 64) -> keras.Model:
    """The shared trunk ``g(x)``: a Keras model from inputs to a feature map, ``(B, H, W, C)``
    to ``(B, h, w, F)`` (or ``(B, L)`` to ``(B, L, F)``).

    Args:
        input_shape: ``(H, W, C)`` of the images, or ``(L,)`` token ids for ``text_cnn``.
        kind: ``"small_cnn"`` (conv-BN-ReLU blocks: the first convolution strided, a
            max-pooling after the second; the map is halved twice either way),
            ``"resnet"`` (a small residual network with the same widths),
            ``"resnet50"`` (``keras.applications.ResNet50``, ``weights=None``; inputs
            of at least 32x32), ``"text_cnn"`` (an embedding, then a 1-D convolution per
            width in ``filters``), or ``"encoder_decoder"`` (for dense tasks, notebook 11: a
            U-Net-style trunk, conv-BN-ReLU blocks down to an eighth of the image and back
            up to half of it with skip connections; three widths, a map of ``filters[0]``
            channels at half resolution).
        name: layer name; multi-task training strategies find the shared variables by it.
        vocab_size, embed_dim: the token vocabulary (padding id 0 included) and the
            embedding width (``text_cnn`` only).

    Raises:
        ValueError: unknown ``kind``, a bad ``input_shape`` for the kind, or ``text_cnn``
            without ``vocab_size``.

    Introduced in notebook 01 (text in notebook 09).
    """
    if kind not in ENCODERS:
        raise ValueError(f"unknown encoder {kind!r}; choose one of {', '.join(ENCODERS)}.")
    shape = _check_input_shape(input_shape, (1,) if kind == "text_cnn" else (3,))
    inputs = keras.Input(shape=shape, name=f"{name}_input")
    if kind == "text_cnn":
        if not vocab_size or int(vocab_size) < 2:
            raise ValueError("the text_cnn encoder needs vocab_size >= 2 (the token ids' "
                             f"range, padding 0 included), got {vocab_size!r}.")
        x = layers.Embedding(int(vocab_size), int(embed_dim), name=f"{name}_embed")(inputs)
        for i, f in enumerate(filters):
            x = layers.Conv1D(f, 3, padding="same", activation="relu", name=f"block{i}_conv")(x)
        return keras.Model(inputs, x, name=name)
    if kind == "resnet50":
        if min(shape[:2]) < 32:
            raise ValueError(f"resnet50 needs images of at least 32x32, got {shape[:2]}.")
        base = keras.applications.ResNet50(include_top=False, weights=None, input_shape=shape)
        base = rebuild_fast_conv(rebuild_batch_norm(base, BN_MOMENTUM))
        return keras.Model(inputs, base(inputs), name=name)
    if kind == "encoder_decoder":
        return _encoder_decoder(inputs, filters, name)
    x = inputs
    halvings = min(2, len(filters) - 1)
    for i, f in enumerate(filters):
        if kind == "small_cnn":
            # A strided stem halves the map before batch norm, ReLU and pooling touch it:
            # the full-resolution block cost as much as the rest of the encoder (1.4x faster
            # steps, the same single-task shape accuracy as pooling after it).
            stem = i == 0 and halvings > 0
            x = _conv_bn(x, f, f"block{i}", strides=2 if stem else 1)
            if 0 < i < halvings:
                x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
            continue
        shortcut = x  # "resnet": two conv-BN blocks and a skip connection per width
        x = _conv_bn(x, f, f"block{i}a")
        x = _conv_bn(x, f, f"block{i}b", relu=False)
        if shortcut.shape[-1] != f:
            shortcut = layers.Conv2D(f, 1, use_bias=False, name=f"block{i}_proj")(shortcut)
        x = layers.Activation("relu", name=f"block{i}_out")(layers.Add()([x, shortcut]))
        if i < halvings:
            x = layers.MaxPooling2D(2, name=f"block{i}_pool")(x)
    return keras.Model(inputs, x, name=name)


def _encoder_decoder(inputs, filters: Sequence[int], name: str) -> keras.Model:
    """Down to 1/8 of the image and up to 1/2 with skip connections (notebook 11)."""
    if len(filters) != 3:
        raise ValueError(f"the encoder_decoder takes three widths (filters), got {filters}.")
    if min(inputs.shape[1:3]) % 8:
        raise ValueError(f"the encoder_decoder needs an image size divisible by 8, got "
                         f"{tuple(inputs.shape[1:3])}.")
    f0, f1, f2 = (int(f) for f in filters)
    half = _conv_bn(inputs, f0, "down0", strides=2)  # 1/2
    quarter = _conv_bn(layers.MaxPooling2D(2, name="down1_pool")(half), f1, "down1")  # 1/4
    x = _conv_bn(layers.MaxPooling2D(2, name="down2_pool")(quarter), f2, "down2")  # 1/8
    x = _conv_bn(x, f2, "bottom")
    x = layers.Concatenate(name="up1_skip")([layers.UpSampling2D(2, name="up1")(x), quarter])
    x = _conv_bn(x, f1, "up1")
    x = layers.Concatenate(name="up0_skip")([layers.UpSampling2D(2, name="up0")(x), half])
    return keras.Model(inputs, _conv_bn(x, f0, "up0"), name=name)


def build_head(task: Task, features, image_shape: Sequence[int], pool: str | None = None,
               hidden: int = 64, dropout: float = 0.0):
    """Attach ``head_t`` for one task to a 4-D feature tensor; returns the output tensor.

    The task's label kind builds it (:meth:`mtl_utils.kinds.LabelKind.head`), pooling with
    ``pool`` (default ``task.pool``); the output layer is named after the task.

    Raises:
        ValueError: unknown ``pool``.

    Introduced in notebook 01.
    """
    return task.label_kind.head(task, features, image_shape, pool or task.pool, hidden, dropout)


def learning_rate_schedule(peak: float, total_steps: int, schedule: str = "cosine",
                           warmup: float = 0.1):
    """The learning rate for ``total_steps`` optimizer steps: a float or a Keras schedule.

    ``"cosine"`` rises linearly from 0 to ``peak`` over the first ``warmup`` fraction of
    the steps, then decays to 0 along a cosine (Loshchilov & Hutter 2017; Goyal et al.
    2017); ``"constant"`` is ``peak`` throughout.

    Raises:
        ValueError: unknown schedule, ``peak <= 0``, ``total_steps < 1`` or ``warmup``
            outside ``[0, 1)``.

    Introduced in notebook 01.
    """
    if schedule not in SCHEDULES:
        raise ValueError(f"unknown learning-rate schedule {schedule!r}; choose one of "
                         f"{', '.join(SCHEDULES)}.")
    if not peak > 0 or int(total_steps) < 1 or not 0.0 <= warmup < 1.0:
        raise ValueError(f"learning_rate_schedule needs peak > 0, total_steps >= 1 and warmup "
                         f"in [0, 1); got {peak}, {total_steps}, {warmup}.")
    if schedule == "constant":
        return float(peak)
    steps, peak = int(total_steps), float(peak)
    warm = int(round(warmup * steps))
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0 if warm else peak, decay_steps=max(1, steps - warm),
        warmup_target=peak if warm else None, warmup_steps=warm)


def compile_model(model: keras.Model, tasks: Iterable[Task] | Mapping[str, Task],
                  learning_rate: float | keras.optimizers.schedules.LearningRateSchedule = 1e-3,
                  loss_weights: Mapping[str, float] | None = None,
                  weighting: WeightingStrategy | None = None,
                  optimizer: keras.optimizers.Optimizer | None = None) -> keras.Model:
    """Compile with each task's loss and metrics (from its ``Task``) and Adam.

    Args:
        learning_rate: Adam's rate, a float or a schedule (ignored with ``optimizer``).
        loss_weights: static ``{task: lambda_t}``; default 1 for every task.
        weighting: a strategy from :mod:`mtl_utils.weighting`, for models built with
            ``weighting=...``.

    Introduced in notebook 01.
    """
    tasks = task_dict(tasks)
    if loss_weights is not None:
        unknown = sorted(set(loss_weights) - set(tasks))
        if unknown:
            raise ValueError(f"loss_weights name unknown task(s) {unknown}; tasks: {list(tasks)}.")
    if weighting is not None and not isinstance(model, MultiTaskModel):
        raise ValueError(
            f"weighting={weighting!r} needs a MultiTaskModel, but model "
            f"{model.name!r} is a {type(model).__name__}; build it with "
            "build_shared_model(..., weighting=...) (compile=False to compile later).")
    kwargs = {} if weighting is None else {"weighting": weighting}
    model.compile(optimizer=optimizer or keras.optimizers.Adam(learning_rate),
                  loss={n: t.loss() for n, t in tasks.items()},
                  metrics={n: t.metrics() for n, t in tasks.items()},
                  loss_weights=None if loss_weights is None else
                  {n: float(loss_weights.get(n, 1.0)) for n in tasks}, **kwargs)
    build_training_state(model, tasks)
    return model


def build_training_state(model: keras.Model, tasks: Iterable[Task] | Mapping[str, Task]) -> None:
    """Create the optimizer's and the metrics' variables of a compiled model now, so that
    ``fit`` traces its train step once, not twice (Keras creates them in the first trace).

    :func:`compile_model` calls this; call it after your own ``compile``. The optimizer is
    built for the variables trainable now: freeze or unfreeze layers *before* compiling.

    Raises:
        ValueError: the model is not compiled.
    """
    if getattr(model, "optimizer", None) is None:
        raise ValueError(f"model {model.name!r} is not compiled; call compile() first.")
    build = getattr(model, "_symbolic_build", None)  # Keras' own pre-build (private API)
    if build is not None and model.inputs:
        tasks = task_dict(tasks)
        image_shape = model.inputs[0].shape[1:]
        x = keras.tree.map_structure(lambda t: KerasTensor(t.shape, t.dtype), model.input)
        y = {n: KerasTensor((None, *t.label_shape(image_shape)), t.label_dtype())
             for n, t in tasks.items()}
        build(data_batch=(x, y))
    if not model.optimizer.built:  # public API: at least the optimizer's slots exist now
        model.optimizer.build(model.trainable_variables)


def build_shared_model(tasks: Iterable[Task] | Mapping[str, Task], input_shape: Sequence[int],
                       encoder: str = "small_cnn", filters: Sequence[int] = (32, 64, 64),
                       encoder_options: Mapping[str, Any] | None = None,
                       head_pool: str | Mapping[str, str] | None = None, hidden: int = 64,
                       per_task_inputs: bool = False, share_encoder: bool = True,
                       weighting: WeightingStrategy | None = None,
                       learning_rate: float = 1e-3,
                       loss_weights: Mapping[str, float] | None = None, compile: bool = True,
                       name: str = "shared") -> keras.Model:
    """Hard parameter sharing: one encoder ``g`` and a head per task, ``f_t = head_t(g(x))``;
    the model's outputs are ``{task: prediction}``.

    Args:
        encoder, filters: see :func:`build_encoder`.
        encoder_options: the encoder's other arguments (``vocab_size``, ``embed_dim`` for
            ``text_cnn``).
        head_pool: pooling before dense heads, one value or ``{task: pool}``; ``None``
            uses each task's ``pool``.
        per_task_inputs: one input per task (named after it) with the encoder shared
            across them, for per-task augmented views; costs one encoder pass per task.
        share_encoder: ``False`` gives every task its own encoder (``encoder_<task>``):
            independent single-task models trained side by side in one Keras graph, equal
            to separate runs with the same seed and batch order (each task's model draws
            the initial weights it would draw alone).
        weighting: a strategy from :mod:`mtl_utils.weighting` (the model is then a
            ``MultiTaskModel``); ``None`` uses Keras' ``train_step`` with ``loss_weights``.
        learning_rate, loss_weights: passed to :func:`compile_model`.

    Raises:
        ValueError: no tasks, a bad input shape, unknown encoder or pool.

    Introduced in notebook 02.
    """
    tasks = task_dict(tasks)
    if not tasks:
        raise ValueError("build_shared_model needs at least one task.")
    shape = _check_input_shape(input_shape)
    if isinstance(head_pool, Mapping):
        unknown = sorted(set(head_pool) - set(tasks))
        if unknown:
            raise ValueError(f"head_pool names unknown task(s) {unknown}; tasks: {list(tasks)}.")
        pools = {n: head_pool.get(n) for n in tasks}
    else:
        pools = dict.fromkeys(tasks, head_pool)
    if weighting is not None and not share_encoder:
        raise ValueError("weighting strategies balance tasks on a shared encoder; "
                         "use share_encoder=True (or weighting=None for separate models).")
    kind = "tokens" if len(shape) == 1 else "image"
    # Per-task inputs are keyed by task (what to_dataset feeds) but named otherwise: the
    # output layers carry the task names and Keras wants unique operation names.
    inputs = ({n: keras.Input(shape=shape, name=f"{n}_{kind}") for n in tasks}
              if per_task_inputs else keras.Input(shape=shape, name=kind))
    options = dict(encoder_options or {})
    if share_encoder:
        # One encoder, called once per distinct input: once per step for a shared view,
        # once per view with per-task inputs. Every head reads the same feature tensor.
        trunk = build_encoder(shape, encoder, filters, **options)
        feats = ({n: trunk(inputs[n]) for n in tasks} if per_task_inputs
                 else dict.fromkeys(tasks, trunk(inputs)))
        outputs = {n: build_head(t, feats[n], shape, pools[n], hidden) for n, t in tasks.items()}
    else:
        # Each task's model (its encoder, then its head) starts from the same state of the
        # generator Keras draws initial seeds from, so it gets the initial weights it would
        # get alone after the same seed: equal to separate runs, not only in distribution.
        source = getattr(_keras_seeds, "python_random", None)
        start = source.getstate() if source is not None else None
        outputs = {}
        for n, t in tasks.items():
            if start is not None:
                source.setstate(start)
            feats = build_encoder(shape, encoder, filters, name=f"encoder_{n}", **options)(
                inputs[n] if per_task_inputs else inputs)
            outputs[n] = build_head(t, feats, shape, pools[n], hidden)
    with warnings.catch_warnings():
        # Keras matches a dict of inputs by key and warns when keys and names differ.
        warnings.filterwarnings("ignore", message="When providing `inputs` as a dict")
        model = (keras.Model(inputs, outputs, name=name) if weighting is None
                 else MultiTaskModel(inputs, outputs, tasks=tasks, name=name))
    if compile:
        compile_model(model, tasks, learning_rate, loss_weights, weighting)
    return model


def build_single_task_model(task: Task, input_shape: Sequence[int], **kwargs) -> keras.Model:
    """One model for one task, with the keyword arguments of :func:`build_shared_model`.

    Introduced in notebook 01.
    """
    if not isinstance(task, Task):
        raise TypeError(f"build_single_task_model takes one Task, got {type(task).__name__}.")
    kwargs.setdefault("name", f"single_{task.name}")
    return build_shared_model([task], input_shape, **kwargs)


def build_single_task_models(tasks: Iterable[Task] | Mapping[str, Task],
                             input_shape: Sequence[int], **kwargs) -> keras.Model:
    """Independent single-task models side by side in one Keras model:
    :func:`build_shared_model` with ``share_encoder=False``.

    Introduced in notebook 01.
    """
    kwargs.setdefault("name", "single_task")
    return build_shared_model(tasks, input_shape, share_encoder=False, **kwargs)


def encoder_calls(model: keras.Model, name: str = "encoder") -> int:
    """How many times the model's graph calls its layer ``name`` (the shared encoder): one
    for a shared view, one per task with per-task inputs.

    Raises:
        ValueError: the model has no layer ``name``.

    Introduced in notebook 02.
    """
    return len(model.get_layer(name)._inbound_nodes)


def count_params(model: keras.Model, task: str | None = None) -> int:
    """Trainable parameters of the model, or of one task's own layers: its head (layers
    named ``<task>`` or ``<task>_...``) and its own encoder ``encoder_<task>`` if any."""
    if task is None:
        variables = model.trainable_variables
    else:
        own = (task, f"encoder_{task}")
        variables = [v for layer in model.layers
                     if layer.name.startswith(f"{task}_") or layer.name in own
                     for v in layer.trainable_variables]
    return sum(int(keras.ops.size(v)) for v in variables)


class OneHotWords(layers.Layer):
    """Token ids ``(B, L)`` to one-hot words in their places, flattened: ``(B, L * V)``.

    Introduced in notebook 12.
    """

    def __init__(self, vocab_size: int, name: str = "one_hot_words", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        self.vocab_size = int(vocab_size)

    def call(self, tokens):
        hot = keras.ops.one_hot(keras.ops.cast(tokens, "int32"), self.vocab_size)
        return keras.ops.reshape(hot, (-1, tokens.shape[1] * self.vocab_size))

    def compute_output_shape(self, input_shape):
        return (input_shape[0], int(input_shape[1]) * self.vocab_size)

    def get_config(self):
        return {**super().get_config(), "vocab_size": self.vocab_size}


class Glimpses(layers.Layer):
    """Text-guided glimpses at a feature map (stacked attention, Yang et al. 2016, reduced to
    where): each of ``glimpses`` queries, a linear function of the text vector, scores every
    cell of the map ``(B, h, w, F)``; a softmax over the cells weighs them, and the glimpse
    returns where it looked (the weighted mean of the cells' ``(x, y)`` in ``[0, 1]``). The
    output is every glimpse's ``(x, y)`` and the offset between each pair of glimpses:
    ``(B, 2 g + g (g - 1))``. Only where, not what: a relation between two named objects is
    a comparison of two places, which a head reads off the offsets in a few hundred steps
    (the glimpses' features as well let a short run memorise the questions instead).

    Introduced in notebook 12.
    """

    def __init__(self, glimpses: int = 2, name: str = "glimpses", **kwargs: Any) -> None:
        super().__init__(name=name, **kwargs)
        if int(glimpses) < 1:
            raise ValueError(f"glimpses must be >= 1, got {glimpses!r}.")
        self.glimpses = int(glimpses)

    def build(self, input_shape):
        map_shape, text_shape = input_shape
        self.queries = layers.Dense(int(map_shape[-1]) * self.glimpses, name="queries")
        self.queries.build(text_shape)

    def call(self, inputs):
        x, t = inputs
        shape = keras.ops.shape(x)
        h, w, f = shape[1], shape[2], shape[3]
        cells = keras.ops.reshape(x, (shape[0], h * w, f))
        ys, xs = keras.ops.meshgrid(keras.ops.arange(h), keras.ops.arange(w), indexing="ij")
        grid = keras.ops.stack([(keras.ops.cast(xs, x.dtype) + 0.5) / keras.ops.cast(w, x.dtype),
                                (keras.ops.cast(ys, x.dtype) + 0.5) / keras.ops.cast(h, x.dtype)],
                               axis=-1)
        grid = keras.ops.reshape(grid, (h * w, 2))
        q = keras.ops.reshape(self.queries(t), (shape[0], self.glimpses, f))
        weights = keras.ops.softmax(keras.ops.einsum("bnf,bgf->bgn", cells, q), axis=-1)
        where = keras.ops.einsum("bgn,nc->bgc", weights, grid)
        out = [keras.ops.reshape(where, (shape[0], 2 * self.glimpses))]
        out += [where[:, i] - where[:, j] for i in range(self.glimpses)
                for j in range(i + 1, self.glimpses)]
        return keras.ops.concatenate(out, axis=-1)

    def compute_output_shape(self, input_shape):
        map_shape, _ = input_shape
        g = self.glimpses
        return (map_shape[0], 2 * g + g * (g - 1))

    def get_config(self):
        return {**super().get_config(), "glimpses": self.glimpses}


def build_image_text_model(tasks: Iterable[Task] | Mapping[str, Task],
                           input_shape: Sequence[int], vocab_size: int, max_length: int,
                           filters: Sequence[int] = (16, 16), glimpses: int = 2,
                           hidden: int = 64,
                           name: str = "image_text") -> keras.Model:
    """Two inputs, a head per task: ``{"image": (B, H, W, C), "tokens": (B, L)}``. The image
    encoder is a few 3x3 convolutions at the image's full resolution (``filters``, then a
    1x1 layer as wide as the last): a map whose cells say what colour and shape is there.
    The text encoder puts each word one-hot in its place (:class:`OneHotWords`), so a
    glimpse's query is a linear function of the words ("red" after "is the" asks for red).
    :class:`Glimpses` looks at the map ``glimpses`` times; every task's head (built from its
    kind) reads where the glimpses looked, their offsets and the words. Uncompiled: a
    :class:`~mtl_utils.experiments.Config` ``builder`` (``functools.partial`` for the
    vocabulary).

    Raises:
        ValueError: no tasks, a bad image shape, no filters, ``vocab_size < 2`` or
            ``max_length < 1``.

    Introduced in notebook 12.
    """
    tasks = task_dict(tasks)
    if not tasks:
        raise ValueError("build_image_text_model needs at least one task.")
    shape = _check_input_shape(input_shape, (3,))
    if int(vocab_size) < 2 or int(max_length) < 1:
        raise ValueError(f"build_image_text_model needs vocab_size >= 2 and max_length >= 1 "
                         f"(the token ids' range and length); got {vocab_size}, {max_length}.")
    filters = [int(f) for f in filters]
    if not filters or min(filters) < 1:
        raise ValueError(f"build_image_text_model needs at least one positive filter count; "
                         f"got {filters}.")
    image = keras.Input(shape=shape, name="image")
    tokens = keras.Input(shape=(int(max_length),), dtype="int32", name="tokens")
    x = image
    for i, f in enumerate(filters):
        x = layers.Conv2D(f, 3, padding="same", activation="relu", name=f"map_conv{i}")(x)
    feats = layers.Conv2D(filters[-1], 1, name="map")(x)
    t = OneHotWords(int(vocab_size), name="text_one_hot")(tokens)
    fused = layers.Concatenate(name="fused")([Glimpses(glimpses)([feats, t]), t])
    outputs = {n: build_head(t_, fused, shape, "flatten", hidden) for n, t_ in tasks.items()}
    return keras.Model({"image": image, "tokens": tokens}, outputs, name=name)
