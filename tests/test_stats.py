"""Statistics every notebook prints: verdicts, paired differences, chance levels."""

import numpy as np
import pandas as pd
import pytest

from mtl_utils import stats
from mtl_utils.data import MultiTaskData, Split
from mtl_utils.tasks import Task

ACC = Task("shape", "class", num_classes=3)
POS = Task("position", "position", metric_scale=10.0, unit="px")


def _rows(values: dict[str, dict[str, list[float]]]) -> pd.DataFrame:
    """Rows for ``{config: {task: per-seed values}}`` with each task's primary metric."""
    tasks = {"shape": ACC, "position": POS}
    return pd.DataFrame([dict(experiment="e", config=c, seed=s, task=t,
                              metric=tasks[t].metric, value=v, split="test")
                         for c, per_task in values.items() for t, vals in per_task.items()
                         for s, v in enumerate(vals)])


def test_verdict_calls_a_difference_only_when_the_interval_excludes_zero():
    assert stats.verdict([0.02, 0.03, 0.025], unit="points", scale=100).startswith(
        "better: +2.50 points (95% CI")
    text = stats.verdict([0.05, -0.04, 0.01], unit="points", scale=100)
    assert text.startswith("within seed noise: +0.67 points") and "better in 2 of 3 seeds" in text
    assert stats.verdict([-1.0, -1.2, -0.9]).startswith("worse: -1.03")


def test_verdict_reads_lower_is_better_and_one_seed():
    # an error that went down in every seed is better, and said so
    text = stats.verdict([-0.4, -0.5, -0.3], higher_is_better=False, unit="px")
    assert text.startswith("better: -0.40 px") and text.endswith("better in 3 of 3 seeds)")
    assert "no interval" in stats.verdict([0.1])
    with pytest.raises(ValueError, match="finite"):
        stats.verdict([float("nan")])


def test_paired_difference_counts_seeds_and_signs_improvements():
    rows = _rows({"a": {"shape": [0.5, 0.6, 0.7], "position": [0.20, 0.25, 0.22]},
                  "b": {"shape": [0.6, 0.65, 0.69], "position": [0.15, 0.20, 0.24]}})
    tasks = {"shape": ACC, "position": POS}
    diff = stats.paired_difference(rows, tasks, "b", "a").set_index("task")
    assert diff.loc["shape", "wins"] == 2 and diff.loc["position", "wins"] == 2
    assert diff.loc["position", "better"] == pytest.approx(-diff.loc["position", "mean"])
    shown = stats.format_difference(diff.reset_index(), tasks).set_index("task")
    assert shown.loc["shape", "seeds"] == "2 of 3" and shown.loc["shape", "unit"] == "points"
    assert shown.loc["shape", "verdict"] == "within noise"
    words = stats.compare(rows, tasks, "b", "a")
    assert words["position"].startswith("within seed noise") and "px" in words["position"]
    with pytest.raises(ValueError, match="no seed ran both"):
        stats.paired_difference(rows, tasks, "b", "nope")


def test_format_difference_verdict_follows_each_metric_direction():
    rows = _rows({"a": {"shape": [0.5, 0.6, 0.7], "position": [0.30, 0.31, 0.32]},
                  "b": {"shape": [0.4, 0.5, 0.61], "position": [0.20, 0.22, 0.21]}})
    tasks = {"shape": ACC, "position": POS}
    shown = stats.format_difference(stats.paired_difference(rows, tasks, "b", "a"), tasks)
    assert shown.set_index("task")["verdict"].to_dict() == {"shape": "worse",
                                                            "position": "better"}


def test_chance_levels_are_the_best_constant_prediction():
    train = Split(np.zeros((4, 2, 2, 1), np.float32),
                  {"shape": np.array([0, 1, 1, 2]),
                   "position": np.array([[0.2, 0.2], [0.4, 0.4], [0.2, 0.4], [0.4, 0.2]])})
    test = Split(np.zeros((2, 2, 2, 1), np.float32),
                 {"shape": np.array([1, 0]), "position": np.array([[0.3, 0.3], [0.6, 0.3]])})
    data = MultiTaskData("toy", {"shape": ACC, "position": POS}, train, train, test)
    chance = stats.chance_levels(data)
    assert chance["shape"] == 0.5  # the majority class (1) is right for one of two
    assert chance["position"] == pytest.approx((0.0 + 3.0) / 2)  # distance to (0.3, 0.3), px
    summary = stats.summarize(_rows({"a": {"shape": [0.6, 0.8]}}), {"shape": ACC})
    table = stats.format_summary(summary, {"shape": ACC}, chance=chance)
    assert table.loc[stats.CHANCE].iloc[0] == "50.0"


def test_constant_baselines_of_the_other_kinds():
    mask = Task("mask", "mask")
    m = np.zeros((3, 2, 2, 1))
    m[:, 0, 0] = 1  # every mask has its top-left pixel
    m[0, 1, 1] = 1
    assert mask.constant_baseline(m, m) == pytest.approx((0.5 + 1 + 1) / 3)
    size = Task("size", "scalar", metric_scale=4.0)
    assert size.constant_baseline(np.array([[0.0], [1.0]]), np.array([[1.0]])) == 2.0
    angle = Task("angle", "angle")
    assert angle.constant_baseline(np.array([[0.1], [-0.1]]), np.array([[np.pi / 2]])) == (
        pytest.approx(90.0))


def test_gains_are_signed_so_positive_is_better_per_size():
    rows = _rows({"none": {"shape": [0.5, 0.6, 0.7], "position": [0.30, 0.31, 0.32]},
                  "aug": {"shape": [0.6, 0.7, 0.8], "position": [0.20, 0.22, 0.21]}})
    rows = pd.concat([rows.assign(n_train=100), rows.assign(n_train=400)])
    table = stats.gains(rows, {"shape": ACC, "position": POS}, ["aug"], "none", by="n_train")
    assert len(table) == 4 and set(table["n_train"]) == {100, 400}
    row = table[(table.task == "position") & (table.n_train == 100)].iloc[0]
    assert row["gain"] == pytest.approx(0.1) and row["unit"] == "px"  # an error 0.1 px lower
    assert row["verdict"] == "better" and row["seeds"] == "3 of 3"
    shape = table[(table.task == "shape") & (table.n_train == 400)].iloc[0]
    assert shape["gain"] == pytest.approx(10.0) and shape["text"] == "+10.0 ± 0.0"


def test_gain_change_pairs_the_gains_at_two_sizes_by_seed():
    small = _rows({"none": {"shape": [0.5, 0.6, 0.7], "position": [0.30, 0.31, 0.32]},
                   "aug": {"shape": [0.62, 0.71, 0.83], "position": [0.30, 0.31, 0.32]}})
    large = _rows({"none": {"shape": [0.7, 0.8, 0.9], "position": [0.20, 0.21, 0.22]},
                   "aug": {"shape": [0.72, 0.79, 0.91], "position": [0.20, 0.22, 0.21]}})
    rows = pd.concat([small.assign(n_train=100), large.assign(n_train=400)])
    tasks = {"shape": ACC, "position": POS}
    change = stats.gain_change(rows, tasks, ["aug"], "none", "n_train", 100, 400)
    shape = change[change.task == "shape"].iloc[0]
    # gains +12, +11, +13 points at 100 and +2, -1, +1 at 400: 10, 12, 12 more with less data
    assert shape["gain"] == pytest.approx(34 / 3) and shape["verdict"] == "better"
    position = change[change.task == "position"].iloc[0]
    assert position["verdict"] == "within noise" and position["seeds"] == "1 of 3"
    with pytest.raises(ValueError, match="no rows with n_train == 50"):
        stats.gain_change(rows, tasks, ["aug"], "none", "n_train", 50, 400)


def test_convergence_reads_the_last_epochs_of_the_training_curves():
    tasks = {"shape": ACC, "position": POS}
    rows = [("e", "none", seed, epoch, key, value)
            for seed in (0, 1) for epoch, (acc, err) in enumerate(
                [(0.3, 0.5), (0.6, 0.3), (0.8, 0.2), (0.82, 0.19)], start=1)
            for key, value in (("shape_accuracy", acc + 0.01 * seed),
                               ("position_error", err))]
    history = pd.DataFrame(rows, columns=["experiment", "config", "seed", "epoch", "key",
                                          "value"])
    table = stats.convergence(history, tasks, "none", last=2)
    assert table.loc["shape", "epochs"] == 4
    assert table.loc["shape", "final"] == pytest.approx(82.5)  # percent, mean over seeds
    assert table.loc["shape", "change"] == pytest.approx(22.0)  # from epoch 2 to epoch 4
    assert table.loc["position", "change"] == pytest.approx(0.11)  # an error that fell (px)
    text = stats.describe_convergence(table)
    assert text.startswith("shape 82.5% (+22.0 over the last 2 epochs)")
    with pytest.raises(ValueError, match="no training history for config 'other'"):
        stats.convergence(history, tasks, "other")
