"""Plots that read the tasks: labelled sample grids, training curves, result bars, Pareto
fronts and heatmaps, each returned as a small matplotlib ``Figure``.

Introduced in notebook 00.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .stats import metric_label
from .tasks import Task, task_dict

#: The style of the course's figures (small, modest dpi), applied inside each function
#: only: importing this module changes no global matplotlib setting.
STYLE: dict[str, float] = {"figure.dpi": 80, "savefig.dpi": 80, "font.size": 9}


def _styled(fn: Callable) -> Callable:
    """Run ``fn`` with :data:`STYLE` set, then put back exactly those settings (not all, as
    ``plt.rc_context`` does: that undoes the interactive mode a notebook's inline backend
    turns on at its first figure, and later figures would not show)."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        old = {k: plt.rcParams[k] for k in STYLE}
        plt.rcParams.update(STYLE)
        try:
            return fn(*args, **kwargs)
        finally:
            plt.rcParams.update(old)
    return wrapper


def _as_numpy(x):
    return x.numpy() if hasattr(x, "numpy") else np.asarray(x)


def draw_labels(ax, image: np.ndarray, labels: Mapping[str, np.ndarray],
                tasks: Mapping[str, Task], color: str = "white") -> None:
    """Draw one image with its label per task in ``labels``, each by its task's kind: class
    names as text, positions as a cross, mask outlines, sizes as a circle, angles as an arrow.

    Introduced in notebook 00.
    """
    image = _as_numpy(image)
    h, w = image.shape[:2]
    ax.imshow(image[..., 0] if image.shape[-1] == 1 else np.clip(image, 0, 1),
              cmap="gray" if image.shape[-1] == 1 else None, vmin=0, vmax=1)
    frame = {"height": h, "width": w}
    drawn = sorted((t for t in task_dict(tasks).values() if t.name in labels),
                   key=lambda t: not t.label_kind.draw_first)
    words = [t.label_kind.draw(ax, t, _as_numpy(labels[t.name]), frame, color) for t in drawn]
    ax.set_xlim(-0.5, w - 0.5)
    ax.set_ylim(h - 0.5, -0.5)
    ax.set_title(" / ".join(w for w in words if w), fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


@_styled
def plot_batch(images, labels: Mapping[str, np.ndarray], tasks: Mapping[str, Task],
               n: int = 8, ncols: int = 8, title: str | None = None, size: float = 1.3):
    """A grid of the first ``n`` images with every task's label drawn on; ``images`` may be
    a ``{task: images}`` dict of per-task views (a row per task, with its label only).

    Introduced in notebook 00.
    """
    tasks = task_dict(tasks)
    if isinstance(images, Mapping):
        views = list(images)
        n = min(n, len(_as_numpy(images[views[0]])))
        rows, cols = (1, len(views)) if n == 1 else (len(views), n)
        fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + 0.4),
                                 squeeze=False)
        for r, v in enumerate(views):
            for i in range(n):
                ax = axes[0, r] if n == 1 else axes[r, i]
                draw_labels(ax, _as_numpy(images[v])[i], {v: _as_numpy(labels[v])[i]},
                            {v: tasks[v]})
                if n == 1:
                    ax.set_title(v, fontsize=7)
            if n > 1:
                axes[r, 0].set_ylabel(v, fontsize=8)
    else:
        images = _as_numpy(images)
        n = min(n, len(images))
        rows, cols = int(np.ceil(n / ncols)), min(n, ncols)
        fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + 0.4),
                                 squeeze=False)
        for i, ax in enumerate(axes.flat):
            if i < n:
                draw_labels(ax, images[i], {k: _as_numpy(v)[i] for k, v in labels.items()},
                            tasks)
            else:
                ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=9)
    # twice: the first pass sizes the fixed-aspect images, the second places row titles
    fig.tight_layout(h_pad=0.5)
    fig.tight_layout(h_pad=0.5)
    return fig


@_styled
def plot_history(history: pd.DataFrame | Mapping[str, Sequence[float]],
                 tasks: Mapping[str, Task], what: str = "loss", title: str | None = None):
    """Per-task training curves from a Keras history dict or the store's history rows (seeds
    averaged, configs as separate lines) of ``what``: ``"loss"``, ``"metric"`` (the primary
    metric) or ``"weight"`` (the loss weight a :mod:`mtl_utils.weighting` strategy gave).

    Introduced in notebook 01.
    """
    tasks = task_dict(tasks)
    if what not in ("loss", "metric", "weight"):
        raise ValueError(f"what must be 'loss', 'metric' or 'weight', got {what!r}.")
    if not isinstance(history, pd.DataFrame):
        history = pd.DataFrame([(e + 1, k, v) for k, vals in history.items()
                                for e, v in enumerate(vals)], columns=["epoch", "key", "value"])
    if "config" not in history:
        history = history.assign(config="")
    fig, axes = plt.subplots(1, len(tasks), figsize=(2.6 * len(tasks), 2.3), squeeze=False)
    for ax, (name, task) in zip(axes[0], tasks.items()):
        suffix = task.metric if what == "metric" else what
        for config, g in history.groupby("config", sort=False):
            sel = g[g["key"] == f"{name}_{suffix}"]
            if sel.empty:
                continue
            curve = sel.groupby("epoch")["value"].mean()
            ax.plot(curve.index, curve.values, label=config or None)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        unit = f" ({task.metric_unit(suffix)})" if task.metric_unit(suffix) else ""
        ax.set_ylabel("loss weight" if what == "weight" else f"train {suffix}{unit}")
    handles, labels_ = axes[0, 0].get_legend_handles_labels()
    if any(labels_):
        fig.legend(handles, labels_, loc="upper center", ncol=min(4, len(labels_)),
                   fontsize=7, bbox_to_anchor=(0.5, 1.02))
    if title:
        fig.suptitle(title, y=1.08 if any(labels_) else 1.0, fontsize=9)
    fig.tight_layout()
    return fig


@_styled
def plot_results(summary: pd.DataFrame, tasks: Mapping[str, Task], title: str | None = None,
                 chance: Mapping[str, float] | None = None):
    """Bar chart of each task's primary metric per config (``summary`` from
    :func:`mtl_utils.stats.summarize`) with ±1 std error bars and dashed ``chance`` levels.

    Introduced in notebook 01.
    """
    tasks = task_dict(tasks)
    names = [t for t in tasks if (t, "mean") in summary.columns]
    fig, axes = plt.subplots(1, len(names), figsize=(2.4 * len(names), 2.6), squeeze=False)
    configs = [str(c) for c in summary.index]
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, name in zip(axes[0], names):
        t = tasks[name]
        scale, _ = t.display_scale  # accuracies in percent, as in the tables
        m, s = summary[(name, "mean")] * scale, summary[(name, "std")].fillna(0) * scale
        ax.bar(range(len(configs)), m, yerr=s, capsize=3,
               color=[colors[i % len(colors)] for i in range(len(configs))])
        ax.set_xticks(range(len(configs)), configs, rotation=45, ha="right", fontsize=7)
        lo, hi = float((m - s).min()), float((m + s).max())
        if chance is not None and name in chance:
            level = float(chance[name]) * scale
            ax.axhline(level, ls="--", lw=1, color="0.3", label="chance")
            lo, hi = min(lo, level), max(hi, level)
            ax.legend(fontsize=6, loc="lower right" if t.higher_is_better else "upper right")
        pad = 0.15 * (hi - lo + 1e-9)
        ax.set_ylim(max(0.0, lo - pad) if t.higher_is_better else 0.0, hi + pad)
        ax.set_title(metric_label(t), fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def pareto_front(points: np.ndarray, higher_is_better: Sequence[bool]) -> np.ndarray:
    """Indices of the non-dominated rows of ``points`` (``(N, 2)``), sorted by the first axis.

    Introduced in notebook 03.
    """
    p = np.asarray(points, float) * np.where(higher_is_better, 1.0, -1.0)
    keep = [i for i in range(len(p))
            if not np.any(np.all(p >= p[i], axis=1) & np.any(p > p[i], axis=1))]
    return np.array(sorted(keep, key=lambda i: points[i][0]), dtype=int)


@_styled
def plot_pareto(summary: pd.DataFrame, x_task: Task, y_task: Task, title: str | None = None,
                chance: Mapping[str, float] | None = None):
    """Two tasks' metrics per config (``summary`` from :func:`mtl_utils.stats.summarize`),
    ± std error bars, the Pareto front of the means, and ``chance`` levels as text.

    Introduced in notebook 03.
    """
    fig, ax = plt.subplots(figsize=(3.9, 3.3))
    sx, sy = x_task.display_scale[0], y_task.display_scale[0]
    x = summary[(x_task.name, "mean")].to_numpy(float) * sx
    y = summary[(y_task.name, "mean")].to_numpy(float) * sy
    ex = summary[(x_task.name, "std")].fillna(0).to_numpy(float) * sx
    ey = summary[(y_task.name, "std")].fillna(0).to_numpy(float) * sy
    ax.errorbar(x, y, xerr=ex, yerr=ey, fmt="o", ms=4, capsize=2, lw=0.8)
    for label, xi, yi in zip(summary.index, x, y):
        ax.annotate(str(label), (xi, yi), fontsize=7, xytext=(4, 4), textcoords="offset points")
    pts = np.stack([x, y], axis=1)
    front = pareto_front(pts, [x_task.higher_is_better, y_task.higher_is_better])
    ax.plot(pts[front, 0], pts[front, 1], "r--", lw=1, label="Pareto front")
    if chance is not None:  # as text: lines this far out would squash the front
        parts = [f"{t.name} {chance[t.name] * t.display_scale[0]:.3g}"
                 f"{' ' + t.display_scale[1] if t.display_scale[1] else ''}"
                 for t in (x_task, y_task) if t.name in chance]
        ax.text(0.02, 0.02, "chance: " + ", ".join(parts), transform=ax.transAxes,
                fontsize=7, color="0.3")
    ax.set_xlabel(metric_label(x_task))
    ax.set_ylabel(metric_label(y_task))
    ax.legend(fontsize=7)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


@_styled
def plot_heatmap(table: pd.DataFrame, title: str | None = None, fmt: str = "{:+.1f}",
                 annotations: pd.DataFrame | None = None, cmap: str = "RdBu",
                 centered: bool = True):
    """A heatmap centred at zero (gains positive, blue; ``centered=False``: from zero to the
    largest value, for shares), each cell annotated with ``fmt`` or with ``annotations``
    (same shape), e.g. ``"+2.1 ± 0.8"``.

    Introduced in notebook 06.
    """
    values = table.to_numpy(dtype=float)
    lim = max(float(np.nanmax(np.abs(values))), 1e-9) if np.isfinite(values).any() else 1.0
    width = 1.8 + (1.3 if table.shape[1] < 8 else 0.45) * table.shape[1]
    fig, ax = plt.subplots(figsize=(width, 1.0 + 0.45 * table.shape[0]))
    im = ax.imshow(values, cmap=cmap, vmin=-lim if centered else 0.0, vmax=lim, aspect="auto")
    ax.set_xticks(range(table.shape[1]), [str(c) for c in table.columns], rotation=30,
                  ha="right", fontsize=7)
    ax.set_yticks(range(table.shape[0]), [str(i) for i in table.index], fontsize=7)
    for (i, j), v in np.ndenumerate(values):
        text = annotations.iat[i, j] if annotations is not None else (
            fmt.format(v) if np.isfinite(v) else "")
        dark = np.isfinite(v) and abs(v) > 0.6 * lim  # white text on the dark cells
        ax.text(j, i, text, ha="center", va="center", fontsize=6,
                color="white" if dark else "black")
    fig.colorbar(im, ax=ax, shrink=0.8)
    if title:
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    return fig


def plot_scenes(split, texts: Sequence[str], n: int = 6, ncols: int = 3, size: float = 1.5,
                title: str | None = None):
    """The first ``n`` scenes of a split with inputs ``{"image", "tokens"}`` (from
    :func:`mtl_utils.image_text.make_scenes`), each titled with its question and answer, the
    ``where`` label drawn as a cross.

    Introduced in notebook 12.
    """
    images = split.images["image"]
    n = min(n, len(images))
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols * 1.6, size * nrows * 1.15),
                             squeeze=False)
    h, w = images.shape[1:3]
    for i, ax in enumerate(axes.ravel()):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(images[i], interpolation="nearest")
        if "where" in split.labels:
            x, y = split.labels["where"][i]
            ax.plot(x * w - 0.5, y * h - 0.5, "w+", markersize=8, markeredgewidth=2)
        answer = ("no", "yes")[int(split.labels["answer"][i])] if "answer" in split.labels else ""
        words = str(texts[i]).split()
        half = (len(words) + 1) // 2
        ax.set_title(" ".join(words[:half]) + "\n" + " ".join(words[half:]) + f": {answer}",
                     fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig
