"""Plots draw every label kind and return small figures."""

import matplotlib
import numpy as np
import pandas as pd
import pytest

from mtl_utils import plotting
from mtl_utils.stats import summarize

matplotlib.use("Agg")


def test_plot_batch_draws_every_label_kind(shapes):
    fig = plotting.plot_batch(shapes.train.images, shapes.train.labels, shapes.tasks, n=4)
    ax = fig.axes[0]
    # class names in the title, a position marker, a mask outline and a size circle
    title = ax.get_title()
    assert shapes.tasks["shape"].class_names[shapes.train.labels["shape"][0]] in title
    assert shapes.tasks["color"].class_names[shapes.train.labels["color"][0]] in title
    x, y = ax.lines[0].get_data()
    np.testing.assert_allclose([x[0], y[0]], shapes.train.labels["position"][0] * 32 - 0.5)
    assert ax.collections, "mask outline missing"
    circle = [ln for ln in ax.lines if ln.get_linestyle() == "--"]
    assert circle, "size circle missing"
    lo, hi = shapes.tasks["size"].value_range
    radius = lo + shapes.train.labels["size"][0, 0] * (hi - lo)
    np.testing.assert_allclose(np.ptp(circle[0].get_xdata()) / 2, radius, rtol=0.01)
    w, h = fig.get_size_inches() * fig.dpi
    assert w <= 1000 and h <= 600


def test_plot_batch_per_task_views_gets_a_row_per_task(shapes):
    views = {"shape": shapes.train.images[:3], "position": shapes.train.images[3:6]}
    labels = {"shape": shapes.train.labels["shape"][:3],
              "position": shapes.train.labels["position"][3:6]}
    fig = plotting.plot_batch(views, labels, shapes.tasks, n=3)
    assert len(fig.axes) == 6


def test_results_history_pareto_and_heatmap_figures(shapes):
    rows = pd.DataFrame([dict(experiment="e", config=c, seed=s, task=t, metric=m, value=v,
                              split="test", epochs=1, seconds=1, n_train=1, params=1,
                              fingerprint="f")
                         for c in ("a", "b") for s in range(2)
                         for t, m, v in (("shape", "accuracy", 0.5 + s / 10),
                                         ("position", "error", 2.0 - s / 10))])
    tasks = {k: shapes.tasks[k] for k in ("shape", "position")}
    fig = plotting.plot_results(summarize(rows, tasks), tasks,
                                chance={"shape": 0.2, "position": 8.0})
    assert len(fig.axes) == 2
    bars = [p.get_height() for p in fig.axes[0].patches]  # accuracy in percent, as in tables
    np.testing.assert_allclose(bars, [55.0, 55.0])
    assert "(%)" in fig.axes[0].get_title() and "(px)" in fig.axes[1].get_title()
    chance_line = [ln for ln in fig.axes[0].lines if ln.get_label() == "chance"]
    np.testing.assert_allclose(chance_line[0].get_ydata(), [20.0, 20.0])  # in percent too
    hist = {"shape_accuracy": [0.2, 0.4], "position_error": [3.0, 2.0]}
    fig = plotting.plot_history(hist, tasks, what="metric")
    np.testing.assert_allclose(fig.axes[0].lines[0].get_ydata(), [0.2, 0.4])
    fig = plotting.plot_pareto(summarize(rows, tasks), tasks["shape"], tasks["position"],
                               chance={"shape": 0.2})
    ax = fig.axes[0]
    assert ax.get_legend() is not None
    front = [ln for ln in ax.lines if ln.get_label() == "Pareto front"][0]
    np.testing.assert_allclose(front.get_xdata(), [55.0, 55.0])  # equal: neither dominates
    assert any(t.get_text() == "chance: shape 20 %" for t in ax.texts)
    fig = plotting.plot_heatmap(pd.DataFrame([[0.5, -2.0]], columns=["a", "b"]))
    small, large = fig.axes[0].texts
    assert large.get_text() == "-2.0" and small.get_text() == "+0.5"
    assert large.get_color() == "white" and small.get_color() == "black"  # readable on dark


def test_pareto_front_respects_metric_directions():
    pts = np.array([[0.5, 2.0], [0.6, 2.5], [0.4, 3.0], [0.6, 2.0]])
    # maximise x, minimise y: (0.6, 2.0) dominates everything else
    assert list(plotting.pareto_front(pts, [True, False])) == [3]
    # maximise both: (0.4, 3.0) and (0.6, 2.5) are non-dominated
    assert list(plotting.pareto_front(pts, [True, True])) == [2, 1]


@pytest.fixture(autouse=True)
def _close():
    yield
    import matplotlib.pyplot as plt

    plt.close("all")


def test_importing_plotting_changes_no_global_matplotlib_setting():
    import importlib

    import matplotlib.pyplot as plt

    importlib.reload(plotting)
    for key in plotting.STYLE:  # the course's style is not pushed onto everyone's figures
        assert plt.rcParams[key] == matplotlib.rcParamsDefault[key], key
    fig = plotting.plot_heatmap(pd.DataFrame([[1.0]]))
    assert fig.dpi == plotting.STYLE["figure.dpi"]  # the course's style, inside its figures
