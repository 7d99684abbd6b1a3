"""Tests of mtl_utils.weighting: each strategy's math on tiny problems, the validation
errors, and short fits of every strategy through MultiTaskModel's train_step."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays
from toys import SIZE, make_data, make_dataset

from mtl_utils import weighting as W
from mtl_utils.models import build_shared_model, compile_model
from mtl_utils.tasks import Task

# Keras warns that fit(shuffle=True) is ignored for a tf.data.Dataset; expected here.
pytestmark = pytest.mark.filterwarnings("ignore:`shuffle=True` was passed")

TASKS = [Task("shape", "class", num_classes=3), Task("position", "position", metric_scale=12)]
SHAPE = (SIZE, SIZE, 3)


def tiny_model(weighting=None, compile: bool = True, seed: int = 0, **kwargs):
    keras.utils.set_random_seed(seed)
    kwargs.setdefault("learning_rate", 3e-3)
    return build_shared_model(TASKS, SHAPE, filters=(8, 8), hidden=16, weighting=weighting,
                              compile=compile, **kwargs)


class _FakeModel:
    """Just enough of a MultiTaskModel to build loss-based strategies outside a model."""

    name = "fake"

    def __init__(self, tasks=TASKS):
        self.tasks = {t.name: t for t in tasks}
        self.optimizer = keras.optimizers.SGD(0.1)


# ------------------------------------------------------------------------ factory
def test_get_strategy_builds_every_named_strategy():
    for name, cls in W.STRATEGIES.items():
        assert isinstance(W.get_strategy(name), cls)
        assert isinstance(W.get_strategy(name.upper()), cls)
    assert W.get_strategy("dwa", temperature=4.0).temperature == 4.0
    s = W.Static()
    assert W.get_strategy(s) is s


def test_unknown_strategy_name_lists_the_known_ones():
    with pytest.raises(ValueError) as err:
        W.get_strategy("gradnrom")
    msg = str(err.value)
    assert "'gradnrom'" in msg
    for name in ("static", "uncertainty", "dwa", "gradnorm", "pcgrad"):
        assert name in msg


# ---------------------------------------------------------------------- validation
@pytest.mark.parametrize("weights, match", [
    ({"shape": -1.0}, "-1.0.*non-negative"),
    ([1.0, float("nan")], "nan"),
    ({"shape": 0.0, "position": 0.0}, "all weights are 0"),
    ("shape", "dict or a sequence"),
])
def test_static_rejects_bad_weights_at_construction(weights, match):
    with pytest.raises(ValueError, match=match):
        W.Static(weights)


@pytest.mark.parametrize("weights, match", [
    ({"colour": 2.0}, "unknown task 'colour'.*\\['shape', 'position'\\]"),
    ([1.0, 2.0, 3.0], "3 weights.*2 tasks"),
    ([1.0], "1 weights.*2 tasks"),
])
def test_static_rejects_weights_that_do_not_fit_the_tasks(weights, match):
    with pytest.raises(ValueError, match=match):
        W.Static(weights).build(_FakeModel())


def test_static_weights_dict_fills_missing_tasks_with_one():
    s = W.Static({"position": 3.0})
    s.build(_FakeModel())
    assert s.current_weights() == {"shape": 1.0, "position": 3.0}


@pytest.mark.parametrize("make", [
    lambda: W.DWA(temperature=0), lambda: W.GradNorm(alpha=-1), lambda: W.GradNorm(
        learning_rate=0), lambda: W.Uncertainty(init_log_var=float("inf")),
    lambda: W.PCGrad(weights={"shape": -2})])
def test_bad_strategy_arguments_raise_value_error(make):
    with pytest.raises(ValueError):
        make()


def test_loss_weights_with_an_adaptive_strategy_is_refused():
    model = tiny_model(weighting=W.Static(), compile=False)
    with pytest.raises(ValueError, match="both set the task weights"):
        compile_model(model, TASKS, loss_weights={"shape": 2.0}, weighting=W.DWA())


def test_loss_weights_become_static_weights():
    model = tiny_model(weighting=W.Static(), compile=False)
    compile_model(model, TASKS, loss_weights={"shape": 2.0}, weighting=W.Static())
    assert model.task_weights() == {"shape": 2.0, "position": 1.0}


def test_a_strategy_instance_serves_one_model():
    strategy = W.Static()
    first = tiny_model(weighting=strategy)
    with pytest.raises(ValueError, match="already used by model"):
        tiny_model(weighting=strategy)
    assert tiny_model(weighting=strategy.clone()).weighting is not first.weighting


@pytest.mark.parametrize("strategy", [W.GradNorm, W.PCGrad])
def test_gradient_strategies_need_a_shared_encoder(strategy):
    image = keras.Input(SHAPE)
    feats = keras.layers.Flatten()(image)
    outputs = {"shape": keras.layers.Dense(3, activation="softmax", name="shape")(feats),
               "position": keras.layers.Dense(2, activation="sigmoid", name="position")(feats)}
    model = W.MultiTaskModel(image, outputs, tasks=TASKS)
    with pytest.raises(ValueError, match="no shared-encoder layer named 'encoder'"):
        model.compile(weighting=strategy())


def test_outputs_must_match_the_tasks():
    image = keras.Input(SHAPE)
    out = {"shape": keras.layers.Dense(3, name="shape")(keras.layers.Flatten()(image))}
    with pytest.raises(ValueError, match="do not match tasks"):
        W.MultiTaskModel(image, out, tasks=TASKS)


def test_dwa_keeps_its_weights_when_an_epoch_loss_is_zero():
    s = W.DWA()
    s.build(_FakeModel())
    s.on_epoch_end({"shape": 1.0, "position": 0.5})
    s.on_epoch_end({"shape": 0.5, "position": 0.5})
    before = s.current_weights()
    with pytest.warns(UserWarning, match="Keeping the previous DWA weights"):
        s.on_epoch_end({"shape": 0.4, "position": 0.0})
    assert s.current_weights() == before


def test_sample_weights_for_an_unknown_task_are_refused():
    model = tiny_model(weighting=W.Static())
    x, y = make_data(8)
    with pytest.raises(ValueError, match="unknown task 'colour'"):
        model.train_on_batch(x, y, sample_weight={"colour": np.ones(8, "float32")})


# ------------------------------------------------------------------------- Static
def _one_sgd_step(model, x, y, sample_weight=None):
    model.train_on_batch(x, y, sample_weight=sample_weight)
    return model.get_weights()


@pytest.mark.parametrize("use_sample_weight", [False, True])
def test_static_matches_keras_loss_weights(use_sample_weight):
    weights = {"shape": 0.3, "position": 2.5}
    x, y = make_data(32)
    sw = ({"shape": np.linspace(0, 1, 32).astype("float32"),
           "position": (np.arange(32) % 3 > 0).astype("float32")} if use_sample_weight else None)
    plain = tiny_model(compile=False)
    compile_model(plain, TASKS, loss_weights=weights, optimizer=keras.optimizers.SGD(0.1))
    ours = tiny_model(weighting=W.Static(weights), compile=False)
    compile_model(ours, TASKS, weighting=W.Static(weights), optimizer=keras.optimizers.SGD(0.1))
    assert not isinstance(plain, W.MultiTaskModel) and isinstance(ours, W.MultiTaskModel)
    ours.set_weights(plain.get_weights())
    expected = plain.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    got = ours.evaluate(x, y, sample_weight=sw, verbose=0, return_dict=True)
    for key in ("loss", "shape_loss", "position_loss", "shape_accuracy", "position_error"):
        assert got[key] == pytest.approx(expected[key], rel=1e-5), key
    for a, b in zip(_one_sgd_step(plain, x, y, sw), _one_sgd_step(ours, x, y, sw)):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_zero_sample_weight_leaves_that_tasks_head_unchanged_with_per_task_inputs():
    model = tiny_model(weighting=W.PCGrad(), compile=False, per_task_inputs=True)
    compile_model(model, TASKS, weighting=W.PCGrad(), optimizer=keras.optimizers.SGD(0.1))
    x, y = make_data(16)
    head = model.get_layer("position_head_dense")
    before = [v.numpy() for v in head.weights]
    enc_before = [v.numpy() for v in model.encoder.trainable_weights]
    model.train_on_batch({"shape": x, "position": x[:, ::-1]}, y,
                         sample_weight={"position": np.zeros(16, "float32")})
    for a, v in zip(before, head.weights):
        np.testing.assert_array_equal(a, v.numpy())
    assert any(not np.allclose(a, v.numpy())
               for a, v in zip(enc_before, model.encoder.trainable_weights))


# -------------------------------------------------------------------- Uncertainty
def test_uncertainty_objective_is_kendalls_formula():
    s = W.Uncertainty()
    s.build(_FakeModel())
    log_vars = np.array([0.7, -0.4], "float32")
    s.log_vars.assign(log_vars)
    losses = np.array([1.3, 0.2], "float32")
    # class: 1/sigma^2 L + log sigma; position (regression): 1/(2 sigma^2) L + log sigma
    sigma2 = np.exp(log_vars)
    expected = (losses[0] / sigma2[0] + 0.5 * math.log(sigma2[0])
                + losses[1] / (2 * sigma2[1]) + 0.5 * math.log(sigma2[1]))
    assert float(s.combine(tf.constant(losses))) == pytest.approx(expected, rel=1e-6)
    np.testing.assert_allclose(s.task_weights(), [1 / sigma2[0], 0.5 / sigma2[1]], rtol=1e-6)


def test_uncertainty_log_variances_take_a_gradient_step():
    model = tiny_model(weighting=W.Static(), compile=False)
    compile_model(model, TASKS, weighting=W.Uncertainty(), optimizer=keras.optimizers.SGD(0.1))
    x, y = make_data(32)
    logs = model.train_on_batch(x, y, return_dict=True)
    # d/ds [c exp(-s) L + s/2] at s = 0 is 1/2 - c L.
    expected = [-0.1 * (0.5 - 1.0 * logs["shape_loss"]),
                -0.1 * (0.5 - 0.5 * logs["position_loss"])]
    np.testing.assert_allclose(model.weighting.log_vars.numpy(), expected, rtol=1e-4)


# ---------------------------------------------------------------------------- DWA
def test_dwa_weights_from_a_loss_history():
    history = [[2.0, 1.0], [1.0, 0.9], [0.8, 0.9]]
    np.testing.assert_array_equal(W.dwa_weights(history[:1]), [1.0, 1.0])
    r = np.array([0.8 / 1.0, 0.9 / 0.9])  # last two epochs
    e = np.exp(r / 2.0)
    expected = 2 * e / e.sum()
    np.testing.assert_allclose(W.dwa_weights(history), expected, rtol=1e-12)
    assert W.dwa_weights(history).sum() == pytest.approx(2.0)
    # the slower task (position, ratio 1.0) gets the larger weight; tau -> inf is uniform
    assert expected[1] > expected[0]
    np.testing.assert_allclose(W.dwa_weights(history, temperature=1e9), [1, 1], rtol=1e-6)
    with pytest.raises(ValueError, match="finite and > 0"):
        W.dwa_weights([[1.0, 0.0], [1.0, 1.0]])


def test_dwa_in_fit_uses_the_logged_epoch_losses():
    model = tiny_model(weighting=W.DWA(temperature=2.0))
    hist = model.fit(make_dataset(), epochs=4, verbose=0).history
    assert hist["shape_weight"][:2] == [1.0, 1.0] and hist["position_weight"][:2] == [1.0, 1.0]
    losses = np.stack([hist["shape_loss"], hist["position_loss"]], axis=1)
    for epoch in (2, 3):
        expected = W.dwa_weights(losses[:epoch], 2.0)
        got = [hist["shape_weight"][epoch], hist["position_weight"][epoch]]
        np.testing.assert_allclose(got, expected, rtol=1e-5)


# ------------------------------------------------------------------------- PCGrad
def _pcgrad_reference(grads, order):
    out = []
    for i, gi in enumerate(grads):
        gi = gi.astype(np.float64).copy()
        for j in order:
            if j == i:
                continue
            gj = grads[j].astype(np.float64)
            dot = gi @ gj
            if dot < 0:
                gi -= dot / (gj @ gj) * gj
        out.append(gi)
    return np.stack(out)


def test_pcgrad_projects_two_conflicting_gradients():
    g = np.array([[1.0, 0.0], [-1.0, 1.0]], "float32")  # dot = -1
    out = np.asarray(W.project_conflicting(g))
    # g1 - (g1.g2)/|g2|^2 g2 = (1,0) + 1/2 (-1,1) = (0.5, 0.5); g2 + (g2.g1)/|g1|^2 g1 = (0,1)
    np.testing.assert_allclose(out, [[0.5, 0.5], [0.0, 1.0]], atol=1e-7)
    assert out[0] @ g[1] >= -1e-6 and out[1] @ g[0] >= -1e-6


def test_pcgrad_leaves_non_conflicting_gradients_unchanged():
    g = np.array([[1.0, 2.0, 0.0], [0.5, 0.0, 3.0], [0.0, 1.0, 1.0]], "float32")
    np.testing.assert_array_equal(np.asarray(W.project_conflicting(g, order=[2, 0, 1])), g)


# TensorFlow flushes subnormal floats to zero on CPU, so leave them out.
finite = st.floats(-10, 10, allow_nan=False, allow_subnormal=False, width=32)


@settings(max_examples=40, deadline=None)
@given(arrays(np.float32, (2, 5), elements=finite))
def test_pcgrad_two_tasks_never_conflict_after_projection(g):
    out = np.asarray(W.project_conflicting(g), np.float64)
    scale = 1e-4 * (1 + np.abs(g).max() ** 2)
    assert out[0] @ g[1] >= -scale and out[1] @ g[0] >= -scale


@settings(max_examples=30, deadline=None)
@given(arrays(np.float32, (3, 4), elements=finite), st.permutations([0, 1, 2]))
def test_pcgrad_matches_a_numpy_reference(g, order):
    np.testing.assert_allclose(np.asarray(W.project_conflicting(g, order=order)),
                               _pcgrad_reference(g, order), rtol=1e-4, atol=1e-3)


def test_pcgrad_task_order_is_a_seeded_permutation_that_changes_per_step():
    a = tiny_model(weighting=W.PCGrad(seed=3))
    b = tiny_model(weighting=W.PCGrad(seed=3))
    orders = []
    for step in range(12):
        a.optimizer.iterations.assign(step)
        b.optimizer.iterations.assign(step)
        order = tuple(int(i) for i in a.weighting.task_order())
        assert order == tuple(int(i) for i in b.weighting.task_order())
        orders.append(order)
    assert set(orders) == {(0, 1), (1, 0)}


# ----------------------------------------------------------------------- GradNorm
def test_gradnorm_weight_gradient_matches_autodiff():
    w = tf.Variable([0.5, 1.5, 1.0])
    norms = tf.constant([2.0, 0.3, 1.0])
    ratios = tf.constant([0.9, 1.2, 0.6])
    alpha = 1.5
    with tf.GradientTape() as tape:
        g = w * norms
        target = tf.stop_gradient(tf.reduce_mean(g) * (ratios / tf.reduce_mean(ratios)) ** alpha)
        l_grad = tf.reduce_sum(tf.abs(g - target))
    np.testing.assert_allclose(W.gradnorm_weight_gradient(w, norms, ratios, alpha),
                               tape.gradient(l_grad, w), rtol=1e-6)


def test_gradnorm_renormalizes_to_positive_weights_summing_to_task_count():
    out = np.asarray(W.renormalize_weights([3.0, -1.0, 0.0], min_weight=1e-3))
    assert np.all(out > 0) and out.sum() == pytest.approx(3.0)


def test_gradnorm_measures_the_encoders_last_layer_with_weights():
    model = tiny_model(weighting=W.GradNorm())
    assert model.weighting.shared_layer.name == "block1_bn"
    with pytest.raises(ValueError, match="no layer named 'nope'"):
        tiny_model(weighting=W.GradNorm(layer="nope"))


def test_gradnorm_weights_stay_positive_and_sum_to_task_count():
    model = tiny_model(weighting=W.GradNorm(alpha=1.5, learning_rate=0.05))
    hist = model.fit(make_dataset(), epochs=3, verbose=0).history
    w = np.stack([hist["shape_weight"], hist["position_weight"]], axis=1)
    assert np.all(w > 0)
    np.testing.assert_allclose(w.sum(axis=1), 2.0, rtol=1e-5)
    assert not np.allclose(w, 1.0)  # the weights did move
    final = np.array(list(model.task_weights().values()))
    assert np.all(final > 0) and final.sum() == pytest.approx(2.0, rel=1e-5)


# ---------------------------------------------------------------------------- RLW
def test_rlw_draws_are_reproducible_and_sum_to_task_count():
    model = tiny_model(weighting=W.RLW(seed=1))
    w1 = np.asarray(model.weighting.task_weights(training=True))
    w2 = np.asarray(model.weighting.task_weights(training=True))
    np.testing.assert_array_equal(w1, w2)
    assert w1.sum() == pytest.approx(2.0) and np.all(w1 > 0)
    np.testing.assert_array_equal(model.weighting.task_weights(training=False), [1.0, 1.0])


# ---------------------------------------------------------------- fit every strategy
@pytest.mark.parametrize("name", sorted(W.STRATEGIES))
def test_short_fit_of_each_strategy_decreases_the_task_losses(name):
    model = tiny_model(weighting=W.get_strategy(name))
    train = make_dataset(sample_weight=True)
    hist = model.fit(train, validation_data=make_dataset(64), epochs=4, verbose=0).history
    for task in ("shape", "position"):
        for key in (f"{task}_loss", f"{task}_weight", f"val_{task}_loss", task + (
                "_accuracy" if task == "shape" else "_error")):
            assert key in hist and len(hist[key]) == 4, key
    total = np.add(hist["shape_loss"], hist["position_loss"])
    assert total[-1] < total[0], total
    result = model.evaluate(make_dataset(64), verbose=0, return_dict=True)
    expected_keys = {"loss", "shape_loss", "position_loss", "shape_weight", "position_weight",
                     "shape_accuracy", "position_error"}
    assert expected_keys <= set(result)
    assert all(np.isfinite(v) for v in result.values())
    weights = model.task_weights()
    assert result["shape_weight"] == pytest.approx(weights["shape"], rel=1e-6)


@pytest.mark.filterwarnings("ignore:Skipping variable loading for optimizer")
@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # Keras' saver
def test_saved_model_loads_compiled_with_its_strategy(tmp_path):
    model = tiny_model(weighting=W.DWA(temperature=3.0), per_task_inputs=True)
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.models.load_model(path, custom_objects={"MultiTaskModel": W.MultiTaskModel})
    assert isinstance(loaded, W.MultiTaskModel) and loaded.tasks == model.tasks
    assert isinstance(loaded.weighting, W.DWA) and loaded.weighting.temperature == 3.0
    x, _ = make_data(4)
    inputs = {"shape": x, "position": x}
    for k, v in model.predict(inputs, verbose=0).items():
        np.testing.assert_allclose(loaded.predict(inputs, verbose=0)[k], v, rtol=1e-6)


@pytest.fixture
def without_op_determinism():
    """Keras turns XLA off (with a warning) while op determinism is on, which earlier tests
    switch on for the whole process; switch it off for one test and back."""
    from tensorflow.python.framework import config

    was_on = config.is_op_determinism_enabled()
    config.disable_op_determinism()
    yield
    if was_on:
        config.enable_op_determinism()


@pytest.mark.parametrize("name", ["gradnorm", "pcgrad"])
def test_gradient_strategies_compile_with_xla(name, without_op_determinism):
    """On a GPU Keras' jit_compile="auto" turns XLA on; the train_step must compile."""
    model = tiny_model(weighting=W.Static(), compile=False)
    model.compile(optimizer=keras.optimizers.Adam(3e-3), weighting=name, jit_compile=True)
    assert model.jit_compile is True, "XLA was turned off: this test would not test it"
    hist = model.fit(make_dataset(sample_weight=True), epochs=2, verbose=0).history
    assert np.all(np.isfinite(hist["loss"]))
    assert sum(model.task_weights().values()) == pytest.approx(2.0, rel=1e-5)


def test_a_reloaded_model_keeps_every_task_field():
    tasks = [Task("shape", "class", num_classes=3, head_pool="avg"),
             Task("position", "position", metric_scale=12, unit="px")]
    model = build_shared_model(tasks, (SIZE, SIZE, 3), filters=(4,), weighting=W.Static())
    again = W.MultiTaskModel.from_config(model.get_config())
    assert again.tasks == model.tasks and again.tasks["shape"].head_pool == "avg"


def test_a_strategy_learning_rate_overrides_a_model_schedule():
    # the course's models use a warm-up + cosine schedule; a strategy given its own rate must
    # get a plain float rate (setting one on a copied schedule optimizer raises in Keras)
    from mtl_utils.weighting.base import make_optimizer
    schedule = keras.optimizers.schedules.CosineDecay(1e-3, decay_steps=10)
    opt = make_optimizer(None, keras.optimizers.Adam(schedule), 0.1)
    assert isinstance(opt, keras.optimizers.Adam)
    assert float(keras.ops.convert_to_numpy(opt.learning_rate)) == pytest.approx(0.1)
    kept = make_optimizer(None, keras.optimizers.Adam(schedule), None)
    assert isinstance(kept._learning_rate, keras.optimizers.schedules.CosineDecay)
