"""Model builders: outputs named after tasks, right shapes, sharing where promised."""

import keras
import numpy as np
import pytest

from mtl_utils.models import (
    build_encoder,
    build_shared_model,
    build_single_task_model,
    build_single_task_models,
    build_training_state,
    count_params,
    encoder_calls,
)
from mtl_utils.tasks import Task

TASKS = [Task("c", "class", num_classes=4), Task("p", "position"), Task("s", "scalar"),
         Task("m", "mask"), Task("a", "angle")]
SHAPE = (16, 16, 3)


def test_outputs_are_named_after_tasks_with_label_shapes():
    model = build_shared_model(TASKS, SHAPE, filters=(8, 8))
    out = model.predict(np.zeros((2, *SHAPE), np.float32), verbose=0)
    assert set(out) == {t.name for t in TASKS}
    assert out["c"].shape == (2, 4)
    np.testing.assert_allclose(out["c"].sum(axis=1), 1.0, rtol=1e-5)
    assert out["p"].shape == (2, 2) and out["s"].shape == (2, 1) and out["a"].shape == (2, 2)
    assert out["m"].shape == (2, 16, 16, 1)
    assert 0 <= out["m"].min() and out["m"].max() <= 1


def test_shared_model_has_one_encoder_and_single_models_have_their_own():
    shared = build_shared_model(TASKS[:2], SHAPE, filters=(8, 8))
    single = build_single_task_models(TASKS[:2], SHAPE, filters=(8, 8))
    assert [layer.name for layer in shared.layers if layer.name.startswith("encoder")] == [
        "encoder"]
    assert {layer.name for layer in single.layers if layer.name.startswith("encoder")} == {
        "encoder_c", "encoder_p"}
    enc = count_params(shared.get_layer("encoder"))
    # the single models hold one encoder per task: as many parameters as shared + one encoder
    assert count_params(single) == count_params(shared) + enc
    assert count_params(single, "c") == count_params(
        build_single_task_model(TASKS[0], SHAPE, filters=(8, 8)))


def test_single_task_models_side_by_side_start_as_each_task_alone():
    def own_weights(model, task):
        return [v.numpy() for layer in model.layers
                if layer.name in (task, f"encoder_{task}") or layer.name.startswith(f"{task}_")
                for v in layer.weights]

    keras.utils.set_random_seed(5)
    together = build_single_task_models(TASKS[:3], SHAPE, filters=(8, 8), compile=False)
    for task in TASKS[:3]:
        keras.utils.set_random_seed(5)
        alone = build_single_task_models([task], SHAPE, filters=(8, 8), compile=False)
        a, b = own_weights(together, task.name), own_weights(alone, task.name)
        assert len(a) == len(b) > 0
        for x, y in zip(a, b):
            np.testing.assert_array_equal(x, y)


def test_per_task_inputs_share_the_encoder():
    model = build_shared_model(TASKS[:2], SHAPE, filters=(8, 8), per_task_inputs=True)
    x = np.random.default_rng(0).random((2, *SHAPE)).astype(np.float32)
    out = model.predict({"c": x, "p": x}, verbose=0)
    ref = build_shared_model(TASKS[:2], SHAPE, filters=(8, 8))
    ref.set_weights(model.get_weights())
    np.testing.assert_allclose(out["c"], ref.predict(x, verbose=0)["c"], rtol=1e-5)
    assert count_params(model) == count_params(ref)


@pytest.mark.parametrize("kind", ["small_cnn", "resnet"])
def test_encoders_downsample_to_a_feature_map(kind):
    enc = build_encoder((32, 32, 3), kind, filters=(8, 16, 16))
    assert enc.output_shape == (None, 8, 8, 16)


def test_resnet50_builds_offline_without_weights():
    enc = build_encoder((32, 32, 3), "resnet50")
    assert enc.output_shape[-1] == 2048


def test_compiled_model_trains_on_label_dicts():
    model = build_shared_model(TASKS[:4], SHAPE, filters=(8, 8))
    rng = np.random.default_rng(0)
    x = rng.random((16, *SHAPE)).astype(np.float32)
    y = {"c": rng.integers(0, 4, 16), "p": rng.random((16, 2)).astype(np.float32),
         "s": rng.random((16, 1)).astype(np.float32),
         "m": (rng.random((16, 16, 16, 1)) > 0.5).astype(np.float32)}
    hist = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    for key in ("c_accuracy", "p_error", "s_error", "m_iou", "loss"):
        assert key in hist.history


@pytest.mark.parametrize("kwargs", [{}, {"per_task_inputs": True}, {"share_encoder": False}])
def test_compiled_model_has_its_training_state_so_fit_traces_the_step_once(kwargs):
    # Keras would otherwise create optimizer and metric variables inside the first trace,
    # and TensorFlow traces a function that creates variables twice.
    model = build_shared_model(TASKS, SHAPE, filters=(8, 8), **kwargs)
    assert model.optimizer.built and model.optimizer.variables
    rng = np.random.default_rng(0)
    x = rng.random((10, *SHAPE)).astype(np.float32)
    y = {"c": rng.integers(0, 4, 10), "p": rng.random((10, 2)).astype(np.float32),
         "s": rng.random((10, 1)).astype(np.float32), "a": rng.random((10, 1)).astype(np.float32),
         "m": (rng.random((10, 16, 16, 1)) > 0.5).astype(np.float32)}
    traces = []
    step = model.train_step
    model.train_step = lambda data: traces.append(1) or step(data)
    inputs = {t.name: x for t in TASKS} if kwargs.get("per_task_inputs") else x
    hist = model.fit(inputs, y, epochs=2, batch_size=4, verbose=0)  # 4, 4, 2: two shapes
    assert len(traces) == 1
    assert np.isfinite(hist.history["loss"]).all()


def test_training_state_falls_back_to_the_public_optimizer_build(monkeypatch):
    model = build_shared_model(TASKS[:2], SHAPE, filters=(8, 8), compile=False)
    model.compile(optimizer="adam", loss={"c": TASKS[0].loss(), "p": TASKS[1].loss()})
    monkeypatch.setattr(type(model), "_symbolic_build", None, raising=False)
    build_training_state(model, TASKS[:2])  # a Keras without the private pre-build
    assert model.optimizer.built
    assert len(model.optimizer.variables) > 2 * len(model.trainable_variables)  # Adam slots
    with pytest.raises(ValueError, match="not compiled"):
        build_training_state(build_shared_model(TASKS[:1], SHAPE, compile=False), TASKS[:1])


@pytest.mark.parametrize("call, message", [
    (lambda: build_shared_model([], SHAPE), "at least one task"),
    (lambda: build_shared_model(TASKS, (16, 16)), "input_shape must be"),
    (lambda: build_shared_model(TASKS, SHAPE, encoder="vgg"), "unknown encoder 'vgg'"),
    (lambda: build_shared_model(TASKS, SHAPE, head_pool="median"), "unknown head pool"),
    (lambda: build_shared_model(TASKS, SHAPE, head_pool={"zz": "max"}), "unknown task"),
    (lambda: build_shared_model(TASKS, SHAPE, loss_weights={"zz": 1.0}), "unknown task"),
    (lambda: build_encoder((16, 16, 3), "resnet50"), "at least 32x32"),
])
def test_bad_model_arguments_raise(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def _conv_ops_per_forward(model, x) -> int:
    """Conv2D ops in the traced forward graph of ``model`` (training mode)."""
    import tensorflow as tf

    fn = tf.function(lambda inputs: model(inputs, training=True))
    graph = fn.get_concrete_function(x).graph
    return sum(op.type == "Conv2D" for op in graph.get_operations())


@pytest.mark.parametrize("per_task_inputs", [False, True])
def test_shared_encoder_runs_once_per_input(per_task_inputs):
    # Three tasks read one encoder: its convolutions must appear once per distinct input
    # (once for a shared view, once per task's view with per-task inputs), not once per head.
    import tensorflow as tf

    tasks = [TASKS[0], TASKS[1], TASKS[2]]  # class, position, scalar: dense heads, no convs
    model = build_shared_model(tasks, SHAPE, filters=(8, 8, 8), per_task_inputs=per_task_inputs)
    encoder_convs = sum(type(la).__name__ == "Conv2D" for la in model.get_layer("encoder").layers)
    assert encoder_convs == 3
    image = tf.zeros((2, *SHAPE))
    x = {t.name: image for t in tasks} if per_task_inputs else image
    views = len(tasks) if per_task_inputs else 1
    assert _conv_ops_per_forward(model, x) == encoder_convs * views
    # batch norm sees each view once per step: one moving-statistics update per view
    assert encoder_calls(model) == views


def test_fused_batch_norm_equals_keras_batch_norm():
    # Same outputs, moving statistics and gradients as Keras' own layer, in both modes.
    import keras
    import tensorflow as tf

    from mtl_utils.models import FusedBatchNormalization

    x = tf.random.stateless_normal((4, 5, 6, 3), seed=[1, 2]) * 3.0 + 1.0
    ours = FusedBatchNormalization(momentum=0.9)
    ref = keras.layers.BatchNormalization(momentum=0.9)
    ours.build(x.shape), ref.build(x.shape)
    ours.gamma.assign([0.5, 1.0, 2.0]), ref.gamma.assign([0.5, 1.0, 2.0])
    for layer in (ours, ref):
        layer.beta.assign([0.1, -0.2, 0.3])
    grads = []
    for layer in (ours, ref):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x, training=True)
            loss = tf.reduce_sum(tf.sin(y))
        grads.append([y, *tape.gradient(loss, [x, layer.gamma.value, layer.beta.value])])
    for a, b in zip(*grads):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(ours.moving_mean, ref.moving_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(ours.moving_variance, ref.moving_variance, rtol=1e-5)
    np.testing.assert_allclose(ours(x, training=False), ref(x, training=False), rtol=1e-5,
                               atol=1e-5)
    assert FusedBatchNormalization.from_config(ours.get_config()).momentum == 0.9


def test_learning_rate_schedule_warms_up_then_decays_to_zero():
    from mtl_utils.models import learning_rate_schedule

    lr = learning_rate_schedule(2e-3, 100, "cosine", warmup=0.1)
    values = [float(lr(step)) for step in (0, 5, 10, 55, 100)]
    assert values[0] == 0.0 and values[1] == pytest.approx(1e-3)
    assert values[2] == pytest.approx(2e-3) and values[3] == pytest.approx(1e-3, rel=1e-3)
    assert values[4] == pytest.approx(0.0, abs=1e-9)
    assert learning_rate_schedule(1e-3, 10, "constant") == 1e-3
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        learning_rate_schedule(1e-3, 10, "step")
    with pytest.raises(ValueError, match="warmup"):
        learning_rate_schedule(1e-3, 10, warmup=1.0)


def test_rebuild_batch_norm_sets_momentum_and_keeps_every_weight():
    import keras

    from mtl_utils.models import FusedBatchNormalization, rebuild_batch_norm

    x = keras.Input((8, 8, 3))
    h = keras.layers.BatchNormalization()(keras.layers.Conv2D(4, 3)(x))
    model = keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    model.layers[2].moving_variance.assign([2.0, 3.0, 4.0, 5.0])
    copy = rebuild_batch_norm(model, momentum=0.9)
    bn = [la for la in copy.layers if isinstance(la, keras.layers.BatchNormalization)]
    assert len(bn) == 1 and isinstance(bn[0], FusedBatchNormalization)
    assert bn[0].momentum == 0.9
    for a, b in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(model(images), copy(images), rtol=1e-5)
    with pytest.raises(ValueError, match="momentum must be in"):
        rebuild_batch_norm(model, momentum=1.0)


def test_rebuild_batch_norm_reaches_the_nested_encoder():
    # the course's shared model holds its encoder as one nested model; a rebuild that only
    # swapped top-level layers left its batch norm at the old momentum (08 trained the
    # "BN momentum 0.99" config identical to the corrected one, to the bit)
    from mtl_utils.data import make_shapes
    from mtl_utils.models import build_shared_model, rebuild_batch_norm

    data = make_shapes(8, seed=0)
    model = build_shared_model(data.tasks, data.image_shape, compile=False)
    copy = rebuild_batch_norm(model, momentum=0.5)

    def momenta(m):
        return [la.momentum for la in m._flatten_layers(include_self=False, recursive=True)
                if isinstance(la, keras.layers.BatchNormalization)]

    assert momenta(model) and set(momenta(copy)) == {0.5}
    images = data.test.images[:4]
    for a, b in zip(model.get_weights(), copy.get_weights()):
        np.testing.assert_array_equal(a, b)
    out, out_copy = model(images), copy(images)
    for name in out:
        np.testing.assert_allclose(out[name], out_copy[name], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("hw, cin, cout, k, stride, padding", [
    (1, 16, 32, 1, 1, "same"),    # ResNet50's last stage at 32 px: a 1x1 map
    (2, 12, 8, 1, 2, "same"),     # its strided 1x1 shortcuts
    (7, 6, 5, 1, 2, "valid"),     # odd map, strided 1x1
    (1, 8, 8, 3, 1, "same"),      # a 3x3 on a 1x1 map
    (5, 4, 6, 3, 1, "valid"),
    (6, 3, 4, 2, 1, "same"),      # even kernel, same padding: TensorFlow's kernel
    (9, 3, 4, 7, 2, "valid"),     # the stem: strided 7x7
])
def test_fast_gradient_conv_equals_keras_conv(hw, cin, cout, k, stride, padding):
    # Same outputs and the same input and kernel gradients as Keras' Conv2D, every case.
    import keras
    import tensorflow as tf

    from mtl_utils.fast_layers import FastGradConv2D

    x = tf.random.stateless_normal((3, hw, hw, cin), seed=[3, 4])
    ours = FastGradConv2D(cout, k, strides=stride, padding=padding)
    ref = keras.layers.Conv2D(cout, k, strides=stride, padding=padding)
    ours.build(x.shape), ref.build(x.shape)
    ref.set_weights([w + 0.1 for w in ours.get_weights()])
    ours.set_weights(ref.get_weights())
    results = []
    for layer in (ours, ref):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = layer(x)
            loss = tf.reduce_sum(tf.sin(y) * tf.range(1.0, 1.0 + y.shape[-1]))
        results.append([y, *tape.gradient(loss, [x, layer.kernel.value, layer.bias.value])])
    for a, b in zip(*results, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert FastGradConv2D.from_config(ours.get_config()).get_config() == ours.get_config()


def test_rebuild_fast_conv_swaps_every_conv_and_keeps_outputs():
    import keras

    from mtl_utils.fast_layers import FastGradConv2D, rebuild_fast_conv

    x = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(4, 1, strides=2)(keras.layers.Conv2D(4, 3, padding="same")(x))
    model = keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(h)))
    copy = rebuild_fast_conv(model)
    convs = [la for la in copy.layers if isinstance(la, keras.layers.Conv2D)]
    assert len(convs) == 2 and all(isinstance(la, FastGradConv2D) for la in convs)
    images = np.random.default_rng(0).random((2, 8, 8, 3)).astype(np.float32)
    np.testing.assert_allclose(model(images), copy(images), rtol=1e-5, atol=1e-6)
