"""Experiments: tidy rows, a results store that survives crashes and resumes, Delta_m."""


import random
import threading

import keras
import numpy as np
import pandas as pd
import pytest

from mtl_utils import experiments as ex
from mtl_utils import stats
from mtl_utils.models import build_shared_model, own_keras_seeds
from mtl_utils.tasks import Task

ACC = Task("acc", "class", num_classes=3)
ERR = Task("err", "position")


# ------------------------------------------------------------------------ Delta_m
def test_delta_m_higher_is_better_metric():
    # +10% relative on a higher-is-better metric
    assert stats.delta_m({"acc": 0.55}, {"acc": 0.5}, [ACC]) == pytest.approx(10.0)


def test_delta_m_flips_sign_for_lower_is_better():
    # error 2.0 -> 1.5 is a 25% improvement, so positive
    assert stats.delta_m({"err": 1.5}, {"err": 2.0}, [ERR]) == pytest.approx(25.0)
    assert stats.delta_m({"err": 2.5}, {"err": 2.0}, [ERR]) == pytest.approx(-25.0)


def test_delta_m_averages_metrics_within_a_task_then_across_tasks():
    metrics = {"acc": {"accuracy": 0.6, "loss": 0.5}, "err": 1.0}
    base = {"acc": {"accuracy": 0.5, "loss": 1.0}, "err": 2.0}
    # acc: mean(+20%, +50%) = +35%; err: +50%; mean over tasks = 42.5%
    assert stats.delta_m(metrics, base, [ACC, ERR]) == pytest.approx(42.5)


def test_delta_m_errors_name_the_problem():
    with pytest.raises(ValueError, match="task 'err' is missing from metrics"):
        stats.delta_m({"acc": 0.5}, {"acc": 0.5, "err": 1.0}, [ACC, ERR])
    with pytest.raises(ValueError, match="is 0"):
        stats.delta_m({"acc": 0.5}, {"acc": 0.0}, [ACC])


# --------------------------------------------------------------------- running configs
@pytest.fixture(scope="module")
def tiny(shapes):
    return shapes


def _config(name="shared", **kw):
    kw.setdefault("tasks", ["shape", "position"])
    kw.setdefault("epochs", 1)
    return ex.Config(name, batch_size=32, model_kwargs={"filters": (8, 8)}, **kw)


def test_run_config_returns_tidy_rows_per_seed_task_metric(tiny):
    rows = ex.run_config(tiny, _config(), [0, 1], "exp", progress=False)
    assert list(rows.columns) == list(ex.ROW_COLUMNS)
    assert set(rows["seed"]) == {0, 1} and set(rows["task"]) == {"shape", "position"}
    assert set(rows["metric"]) == {"accuracy", "error", "loss"}
    assert len(rows) == 2 * 2 * 2
    assert (rows["seconds"] > 0).all() and (rows["n_train"] == len(tiny.train)).all()
    assert (rows["epoch_seconds"] > 0).all() and (rows["step_ms"] > 0).all()
    # steady ms per optimizer step: an epoch is ceil(n / batch) steps
    steps = -(-len(tiny.train) // 32)
    np.testing.assert_allclose(rows["step_ms"], 1000 * rows["epoch_seconds"] / steps)


def test_steady_epoch_seconds_leaves_out_the_first_epoch():
    assert ex.steady_epoch_seconds([9.0, 1.0, 3.0, 2.0]) == 2.0
    assert ex.steady_epoch_seconds([4.0]) == 4.0


def test_same_seed_gives_the_same_metrics(tiny):
    a = ex.run_config(tiny, _config(), [3], "exp", progress=False)
    b = ex.run_config(tiny, _config(), [3], "exp", progress=False)
    np.testing.assert_array_equal(a["value"].to_numpy(), b["value"].to_numpy())


def test_a_reused_model_gives_the_numbers_of_a_fresh_one_without_retracing(tiny, monkeypatch):
    # Runs with the same architecture reuse the last compiled model (new initial weights,
    # reset optimizer) to skip tracing; the numbers must be those of a fresh model.
    import keras

    traces = []
    step = keras.Model.train_step

    def counting_step(self, data):  # runs once per trace of the train function
        traces.append(self.name)
        return step(self, data)

    monkeypatch.setattr(keras.Model, "train_step", counting_step)
    config = _config(epochs=2)
    ex._MODEL_CACHE.clear()
    fresh = ex.run_config(tiny, config, [1], "exp", progress=False)
    assert len(traces) == 1
    (model, _), = ex._MODEL_CACHE.values()
    again = ex.run_config(tiny, config, [0, 1], "exp", progress=False)
    assert len(traces) == 1  # two more runs, no new trace: the model was reused
    assert next(iter(ex._MODEL_CACHE.values()))[0] is model
    reused = again[again.seed == 1]
    np.testing.assert_array_equal(fresh["value"].to_numpy(), reused["value"].to_numpy())
    assert not np.array_equal(fresh["value"].to_numpy(), again[again.seed == 0]["value"])
    other = ex.run_config(tiny, _config(tasks=["shape"]), [1], "exp", progress=False)
    assert set(other["task"]) == {"shape"} and len(traces) == 2  # another architecture
    (model2, _), = ex._MODEL_CACHE.values()
    assert model2 is not model and model2.output_names == ["shape"]


def test_grid_resumes_from_the_store_without_duplicates(tiny, tmp_path, capsys):
    store = ex.ResultsStore(tmp_path)
    first = ex.run_config(tiny, _config(), [0], "grid", store)
    calls = []
    original = ex._train_cell
    ex._train_cell = lambda *a, **k: calls.append(a) or original(*a, **k)
    try:
        again = ex.run_config(tiny, _config(), [0, 1], "grid", store)
    finally:
        ex._train_cell = original
    assert len(calls) == 1  # only seed 1 trained
    assert "seed 0: found in the results store, skipped" in capsys.readouterr().out
    stored = store.load("grid")
    assert len(stored) == len(again) == 2 * len(first)
    assert not stored.duplicated(["config", "seed", "task", "metric", "split"]).any()
    history = store.load_history("grid")
    assert set(history["seed"]) == {0, 1} and "loss" in set(history["key"])


def test_changed_settings_under_an_old_name_are_refused(tiny, tmp_path):
    store = ex.ResultsStore(tmp_path)
    ex.run_config(tiny, _config(), [0], "grid", store, progress=False)
    with pytest.raises(ValueError, match="made with other settings"):
        ex.run_config(tiny, _config(learning_rate=0.1), [0], "grid", store, progress=False)


def test_stored_rows_are_returned_for_the_requested_splits_only(tiny, tmp_path):
    store = ex.ResultsStore(tmp_path)
    both = ex.run_config(tiny, _config(), [0], "grid", store, splits=("val", "test"),
                         progress=False)
    test = ex.run_config(tiny, _config(), [0], "grid", store, splits=("test",), progress=False)
    assert set(both["split"]) == {"val", "test"} and set(test["split"]) == {"test"}
    ex.run_config(tiny, _config("t"), [0], "grid", store, progress=False)
    with pytest.raises(ValueError, match="not on \\['val'\\]"):
        ex.run_config(tiny, _config("t"), [0], "grid", store, splits=("val",), progress=False)


def test_a_changed_augmentation_under_an_old_name_is_refused(tiny, tmp_path):
    from mtl_utils import augment as A

    def ra(**kw):
        return _config("ra", augment=lambda ts: A.rand_augment(ts, 2, 5, **kw)).fingerprint(tiny)

    assert ra() != ra(naive=True) != ra(pool=["rotate", A.Zoom(0.1)])
    assert ra(pool=[A.Rotate(10), "hflip"]) != ra(pool=[A.Rotate(30), "hflip"])

    def config(degrees):
        return _config("aug", augment=lambda ts: A.shared([A.Rotate(degrees)], ts))

    assert config(10).fingerprint(tiny) == config(10).fingerprint(tiny)
    assert config(10).fingerprint(tiny) != config(20).fingerprint(tiny)
    store = ex.ResultsStore(tmp_path)
    ex.run_config(tiny, config(10), [0], "grid", store, progress=False)
    with pytest.raises(ValueError, match="made with other settings"):
        ex.run_config(tiny, config(20), [0], "grid", store, progress=False)


def test_single_config_reports_each_task_models_parameters(tiny):
    rows = ex.run_config(tiny, _config("single", model="single"), [0], "exp", progress=False)
    shared = ex.run_config(tiny, _config(), [0], "exp", progress=False)
    p_single = rows.drop_duplicates("task").set_index("task")["params"]
    p_shared = shared["params"].iloc[0]
    assert p_single.sum() > p_shared  # two encoders vs one
    assert shared["params"].nunique() == 1


def test_summaries_and_paired_differences(tiny):
    rows = pd.concat([
        pd.DataFrame([dict(experiment="e", config=c, seed=s, task="shape", metric="accuracy",
                           value=v, split="test", epochs=1, seconds=1, n_train=1, params=1,
                           fingerprint="f")
                      for s, v in enumerate(vals)])
        for c, vals in (("a", [0.5, 0.6, 0.7]), ("b", [0.6, 0.7, 0.8]))])
    tasks = {"shape": tiny.tasks["shape"]}
    s = stats.summarize(rows, tasks)
    assert s.loc["a", ("shape", "mean")] == pytest.approx(0.6)
    assert s.loc["b", ("shape", "n")] == 3
    text = stats.format_summary(s, tasks)
    assert text.loc["a"].iloc[0] == "60.0 ± 10.0"
    diff = stats.paired_difference(rows, tasks, "b", "a")
    assert diff["mean"].iloc[0] == pytest.approx(0.1)
    assert diff["low"].iloc[0] == pytest.approx(0.1) and diff["better"].iloc[0] > 0
    shown = stats.format_difference(diff, tasks)
    assert shown["unit"].iloc[0] == "points" and shown["mean"].iloc[0] == pytest.approx(10.0)
    dm = stats.delta_m_by_seed(rows[rows.config == "b"], rows[rows.config == "a"], tasks)
    np.testing.assert_allclose(dm["delta_m"], [20.0, 100 / 6, 100 / 7])
    mean, low, high = stats.mean_interval([1.0, 2.0, 3.0])
    # t(0.975, 2) = 4.303; std 1, n 3: half-width 4.303 / sqrt(3)
    assert mean == 2.0 and high - mean == pytest.approx(4.303 / 3 ** 0.5, rel=1e-3)
    assert low == pytest.approx(2 * mean - high)
    assert np.isnan(stats.mean_interval([5.0])[1])


def test_model_kwargs_cannot_override_what_the_config_sets():
    with pytest.raises(ValueError, match="Config\\(learning_rate=...\\)"):
        ex.Config("x", model_kwargs={"learning_rate": 0.1})
    with pytest.raises(ValueError, match="Config\\(model=...\\)"):
        ex.Config("x", model_kwargs={"share_encoder": False})


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(model="sharde"), ValueError, "model must be 'shared' or 'single', got 'sharde'"),
    (dict(epochs=0), ValueError, "epochs and batch_size must be integers >= 1.*epochs=0"),
    (dict(batch_size=2.5), ValueError, "batch_size=2.5"),
    (dict(learning_rate=0), ValueError, "learning_rate must be a number in \\(0, 10\\)"),
    (dict(learning_rate="2e-3"), ValueError, "learning_rate"),
    (dict(schedule="step"), ValueError, "schedule must be one of"),
    (dict(tasks="shape"), ValueError, "tasks must be a list of task names"),
    (dict(augment="flip"), TypeError, "augment must be a factory augment\\(tasks\\)"),
    (dict(augment=lambda: None), TypeError, "augment must be a factory"),
    (dict(weighting=lambda tasks: None), TypeError, "weighting must be a factory weighting\\(\\)"),
    (dict(loss_weights={"shape": -1}), ValueError, "loss_weights must be"),
    (dict(model_kwargs={"encoder": "sharde"}), ValueError, "unknown encoder 'sharde'"),
    (dict(model_kwargs={"fliters": (8,)}), ValueError, "\\['fliters'\\] are not arguments"),
    (dict(model_kwargs={"filters": (8, 0)}), ValueError, "filters must be a non-empty list"),
    (dict(description=3), ValueError, "description must be text"),
])
def test_every_config_field_is_checked_when_built(kwargs, error, message):
    with pytest.raises(error, match=message):
        ex.Config("x", **kwargs)
    assert ex.Config("x", epochs=np.int64(3), model_kwargs={"filters": [8, 16]}).epochs == 3


def test_one_task_histories_are_keyed_by_task_like_multi_task_ones(tiny, tmp_path):
    # Keras logs a one-output model's metrics without the output name; the store keys them by
    # task so that plots and tables read one-task and multi-task runs alike.
    store = ex.ResultsStore(tmp_path)
    ex.run_config(tiny, _config("one", tasks=["shape"]), [0], "exp", store, progress=False)
    keys = set(store.load_history("exp")["key"])
    assert {"shape_accuracy", "shape_loss"} <= keys


def test_experiment_names_encode_data_and_settings():
    name = ex.experiment_name("base", _TinyData(), tasks=["shape", "color"], e=10, lr=0.002)
    assert name == "base_toy_n8_s4_d3_tasks-shape-color_e10_lr-0.002"


def test_resampled_grids_train_each_seed_on_its_own_draw_of_the_data(tmp_path):
    from mtl_utils.data import make_shapes

    made = []

    def make(seed):
        made.append(seed)
        return make_shapes(64, seed=seed, n_val=16, n_test=32, shortcut=0.5)

    def name(data):
        return ex.experiment_name("re", data)

    store = ex.ResultsStore(tmp_path)
    configs = [_config("a"), _config("b", learning_rate=1e-3)]
    rows = ex.run_resampled(make, configs, [3, 4], name, store, progress=False)
    assert made == [3, 4]  # each draw made once for the whole grid
    assert list(rows.drop_duplicates(["config", "seed"])[["config", "seed"]].itertuples(
        index=False, name=None)) == [("a", 3), ("a", 4), ("b", 3), ("b", 4)]
    # stored apart per draw: the names carry the data seed and the shortcut
    assert set(rows["experiment"]) == {"re_shapes_n64_s32_d3_sc0.5", "re_shapes_n64_s32_d4_sc0.5"}
    again = ex.run_resampled(make, configs, [3, 4], name, store, progress=False)
    pd.testing.assert_frame_equal(again.reset_index(drop=True), rows.reset_index(drop=True),
                                  check_dtype=False)
    # a seed of another draw differs from the same seed on a fixed draw
    fixed = ex.run_config(make(3), _config("a"), [4], "fixed", progress=False)
    mine = rows[(rows.config == "a") & (rows.seed == 4)]
    assert not np.allclose(fixed["value"].to_numpy(), mine["value"].to_numpy())


class _TinyData:
    name = "toy"
    train = [0] * 8
    image_shape = (4, 4, 1)
    info = {"seed": 3}


def test_a_builder_config_trains_its_own_model_and_stores_like_any_other(tiny, tmp_path):
    import keras

    def tiny_cnn(tasks, input_shape):
        x = keras.Input(input_shape)
        h = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(4, 3)(x))
        return keras.Model(x, {n: keras.layers.Dense(t.num_classes, activation="softmax",
                                                     name=n)(h) for n, t in tasks.items()})

    config = ex.Config("custom", tasks=["shape"], epochs=1, builder=tiny_cnn)
    store = ex.ResultsStore(tmp_path)
    rows = ex.run_config(tiny, config, [0], "exp", store, progress=False)
    assert rows["params"].iloc[0] == (3 * 3 * 3 * 4 + 4) + (4 * 5 + 5)
    assert len(store.load("exp")) == len(rows)
    with pytest.raises(ValueError, match="a builder makes the whole model"):
        ex.Config("x", builder=tiny_cnn, model="single")
    with pytest.raises(TypeError, match="builder must be a function"):
        ex.Config("x", builder="resnet")


def test_concat_configs_renames_one_config_per_part(tiny):
    rows = ex.run_config(tiny, _config(), [0], "exp", progress=False)
    both = stats.concat_configs({"a": rows, "b": rows})
    assert list(dict.fromkeys(both["config"])) == ["a", "b"]
    with pytest.raises(ValueError, match="one config's rows per name"):
        stats.concat_configs({"ab": both})


# ------------------------------------------------------------------------ seeding
def _initial_weights(seed: int, interfere=None) -> list[np.ndarray]:
    ex.seed_everything(seed)
    with own_keras_seeds(seed):  # as train_and_evaluate runs
        if interfere is not None:
            interfere()
        model = build_shared_model([ACC, ERR], (12, 12, 3), filters=(4,), compile=False)
    return [w.numpy() for w in model.weights]


def _assert_same(a: list[np.ndarray], b: list[np.ndarray]) -> None:
    assert len(a) == len(b)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_a_seed_s_initial_weights_ignore_other_threads_drawing_from_python_random():
    # A Dask worker's event loop draws from Python's global `random` while a task runs, and
    # Keras seeds unseeded initializers from it: Dask runs differed from the process pool's.
    def draw_elsewhere():
        other = threading.Thread(target=lambda: [random.random() for _ in range(7)])
        other.start()
        other.join()

    quiet = _initial_weights(3)
    _assert_same(quiet, _initial_weights(3, draw_elsewhere))
    keras.utils.set_random_seed(3)  # outside a run, Keras follows Python's generator again
    _assert_same(quiet, [w.numpy() for w in build_shared_model(
        [ACC, ERR], (12, 12, 3), filters=(4,), compile=False).weights])


def test_overlapping_runs_in_two_threads_each_keep_their_seed():
    expected = {s: _initial_weights(s) for s in (1, 2)}
    both_inside = threading.Barrier(2)
    got = {}

    def run(seed):
        got[seed] = _initial_weights(seed, both_inside.wait)

    threads = [threading.Thread(target=run, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in (1, 2):
        _assert_same(expected[s], got[s])
    keras.utils.set_random_seed(1)  # afterwards Keras follows Python's generator again
    _assert_same(expected[1], [w.numpy() for w in build_shared_model(
        [ACC, ERR], (12, 12, 3), filters=(4,), compile=False).weights])


def test_a_changed_task_under_an_old_name_is_refused(tiny, tmp_path):
    # the same config on data whose position task has another loss is another run
    from dataclasses import replace

    from mtl_utils.tasks import Task

    pixels = Task.from_config({**tiny.tasks["position"].get_config(), "loss_scale": 1024.0})
    other = replace(tiny, tasks={**tiny.tasks, "position": pixels})
    assert _config().fingerprint(tiny) != _config().fingerprint(other)
    store = ex.ResultsStore(tmp_path)
    ex.run_config(tiny, _config(), [0], "grid", store, progress=False)
    with pytest.raises(ValueError, match="made with other settings"):
        ex.run_config(other, _config(), [0], "grid", store, progress=False)
