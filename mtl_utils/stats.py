"""Statistics of result rows: summaries, chance levels, Delta_m, paired differences and the
verdict every notebook prints.

Rows are the tidy frames of :func:`mtl_utils.experiments.run_config` (one row per
``(config, seed, task, metric, split)``). Comparisons are *paired by seed*: the same seed
gives two configurations the same initialisation, batch order and augmentation stream, so
their difference has far less noise than their separate spreads suggest. Every interval is
a two-sided t-interval over seeds, and every verdict says in how many seeds the difference
pointed the same way.

Introduced in notebook 01 (summaries), 02 (Delta_m, intervals) and 05 (verdicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .tasks import Task, task_dict

CHANCE = "chance (constant prediction)"


# ------------------------------------------------------------------------- intervals
def mean_interval(values: Iterable[float], confidence: float = 0.95
                  ) -> tuple[float, float, float]:
    """Mean of per-seed values with a two-sided t-interval: ``(mean, low, high)``.

    With one value the interval is ``(nan, nan)``: one seed says nothing about the spread.
    Use it on paired per-seed differences or on :func:`delta_m_by_seed`'s ``delta_m``.

    Raises:
        ValueError: no finite value.

    Introduced in notebook 02.
    """
    v = np.asarray([float(x) for x in values if np.isfinite(float(x))])
    if len(v) == 0:
        raise ValueError("mean_interval needs at least one finite value.")
    mean = float(v.mean())
    if len(v) < 2:
        return mean, float("nan"), float("nan")
    quantile = scipy_stats.t.ppf(0.5 + confidence / 2, len(v) - 1)
    half = float(quantile * v.std(ddof=1) / np.sqrt(len(v)))
    return mean, mean - half, mean + half


def verdict(differences: Iterable[float], *, higher_is_better: bool = True, unit: str = "",
            scale: float = 1.0, confidence: float = 0.95, digits: int = 2) -> str:
    """One sentence on per-seed paired differences ``a - b``: better, worse, or noise.

    ``"better: +2.90 points (95% CI +1.52 to +4.28; better in 3 of 3 seeds)"``. A
    difference is called better or worse only when its t-interval excludes zero; otherwise
    it is ``"within seed noise"``. Ties count as not better.

    Args:
        differences: one value per seed (paired by seed).
        higher_is_better: direction of the metric (errors: ``False``).
        unit: shown after the numbers (``"points"`` for accuracy differences).
        scale: multiplies the differences for display (100 for fractions shown in points).
        confidence, digits: interval level and decimals.

    Raises:
        ValueError: no finite difference.

    Introduced in notebook 05.
    """
    d = np.asarray([float(x) for x in differences], float) * scale
    d = d[np.isfinite(d)]
    mean, low, high = mean_interval(d, confidence)
    sign = 1.0 if higher_is_better else -1.0
    wins = int(np.sum(sign * d > 0))
    unit = f" {unit}" if unit else ""
    seeds = f"better in {wins} of {len(d)} seed{'s' if len(d) != 1 else ''}"
    if len(d) < 2:
        return f"{mean:+.{digits}f}{unit} from one seed: no interval ({seeds}; add seeds)"
    word = ("better" if sign * low > 0 and sign * high > 0 else
            "worse" if sign * low < 0 and sign * high < 0 else "within seed noise")
    return (f"{word}: {mean:+.{digits}f}{unit} ({100 * confidence:.0f}% CI {low:+.{digits}f} "
            f"to {high:+.{digits}f}; {seeds})")


def display_unit(task: Task) -> tuple[float, str]:
    """``(scale, unit)`` for *differences* of the task's primary metric: accuracy and IoU
    differences in percentage points, errors in their unit."""
    scale, unit = task.display_scale
    return scale, "points" if unit == "%" else unit


# ------------------------------------------------------------------------- summaries
def primary(rows: pd.DataFrame, tasks: Mapping[str, Task], split: str = "test") -> pd.DataFrame:
    """Only each task's primary metric on ``split``.

    Introduced in notebook 01.
    """
    tasks = task_dict(tasks)
    keep = rows["split"].eq(split) & rows.apply(
        lambda r: r["task"] in tasks and r["metric"] == tasks[r["task"]].metric, axis=1)
    return rows[keep]


def summarize(rows: pd.DataFrame, tasks: Mapping[str, Task], split: str = "test",
              by: Sequence[str] = ("config",)) -> pd.DataFrame:
    """Mean, standard deviation and seed count of each task's primary metric.

    Returns:
        A frame indexed by ``by`` with columns ``(task, "mean" | "std" | "n")``.

    Introduced in notebook 01.
    """
    df = primary(rows, tasks, split)
    order = list(dict.fromkeys(df[list(by)[0]]))
    out = df.groupby([*by, "task"], sort=False)["value"].agg(["mean", "std", "count"])
    out = out.rename(columns={"count": "n"}).unstack("task")
    out = out.swaplevel(0, 1, axis=1)
    cols = [(t, s) for t in task_dict(tasks) if t in set(df["task"]) for s in ("mean", "std", "n")]
    out = out[cols]
    if len(by) == 1:
        out = out.reindex(order)
    return out


def concat_configs(parts: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows of several configs under new names, ``{new name: rows of one config}``: to
    compare a config from one grid with another (its seeds stay paired).

    Raises:
        ValueError: a part with rows of more than one config.

    Introduced in notebook 03.
    """
    out = []
    for name, rows in parts.items():
        configs = set(rows["config"])
        if len(configs) > 1:
            raise ValueError(f"concat_configs: the rows for {name!r} hold configs "
                             f"{sorted(configs)}; pass one config's rows per name.")
        out.append(rows.assign(config=name))
    return pd.concat(out, ignore_index=True)


def chance_levels(data, tasks: Mapping[str, Task] | None = None, split: str = "test"
                  ) -> dict[str, float]:
    """Each task's primary metric for the best *constant* prediction, on ``split``.

    The constant is fitted on the training labels (:meth:`~mtl_utils.tasks.Task.
    constant_baseline`): the majority class for classes, the mean position or value for
    positions and scalars, the mean mask for masks. A model is only learning where it
    beats this.

    Args:
        data: a :class:`~mtl_utils.data.MultiTaskData`.
        tasks: which tasks (default: all of the data's).
        split: ``"test"``, ``"val"`` or ``"train"``.

    Introduced in notebook 01.
    """
    tasks = task_dict(tasks if tasks is not None else data.tasks)
    target = data.split(split)
    return {n: t.constant_baseline(data.train.labels[n], target.labels[n])
            for n, t in tasks.items()}


def format_summary(summary: pd.DataFrame, tasks: Mapping[str, Task], digits: int = 3,
                   chance: Mapping[str, float] | None = None) -> pd.DataFrame:
    """``mean ± std`` strings, one column per task, with the metric and unit in the header.

    Accuracies and IoUs are shown in percent. ``chance`` (from :func:`chance_levels`) adds
    a last row with the constant-prediction level of each task.

    Introduced in notebook 01.
    """
    tasks = task_dict(tasks)
    out = {}
    for name in dict.fromkeys(c[0] for c in summary.columns):
        t = tasks[name]
        scale, unit = t.display_scale
        d = 1 if unit == "%" else 2
        header = f"{name} {t.metric}" + (f" ({unit})" if unit else "") + (
            " ↑" if t.higher_is_better else " ↓")
        m, s = summary[(name, "mean")] * scale, summary[(name, "std")].fillna(0) * scale
        col = [f"{a:.{d}f} ± {b:.{d}f}" for a, b in zip(m, s)]
        if chance is not None:
            col.append(f"{chance[name] * scale:.{d}f}" if name in chance else "")
        out[header] = col
    index = list(summary.index) + ([CHANCE] if chance is not None else [])
    return pd.DataFrame(out, index=pd.Index(index, name=summary.index.name))


# ---------------------------------------------------------------------------- Delta_m
def delta_m(metrics: Mapping[str, float | Mapping[str, float]],
            baseline: Mapping[str, float | Mapping[str, float]],
            tasks: Iterable[Task] | Mapping[str, Task]) -> float:
    """Delta_m: mean over tasks of the signed relative change against a baseline, in %.

    ``Delta_m = 100/T * sum_t mean_j s_tj (M_tj - B_tj) / B_tj`` with ``s = +1`` where higher
    is better and ``s = -1`` where lower is better (errors, losses): **positive means
    better than the baseline** (Maninis et al. 2019, Vandenhende et al. 2021). Metrics are
    averaged within a task first, then across tasks, so a task with many metrics does not
    count more. A task's value is a number (its primary metric) or ``{metric: value}``.

    Raises:
        ValueError: a task missing from ``metrics`` or ``baseline``, a metric missing from
            the baseline, or a zero baseline value.

    Introduced in notebook 02.
    """
    tasks = task_dict(tasks)
    per_task = []
    for name, task in tasks.items():
        if name not in metrics or name not in baseline:
            side = "metrics" if name not in metrics else "baseline"
            raise ValueError(f"delta_m: task {name!r} is missing from {side}; give every "
                             "task a value on both sides.")
        m, b = metrics[name], baseline[name]
        m = m if isinstance(m, Mapping) else {task.metric: m}
        b = b if isinstance(b, Mapping) else {task.metric: b}
        changes = []
        for metric, value in m.items():
            if metric not in b:
                raise ValueError(f"delta_m: baseline has no {metric!r} for task {name!r}.")
            base = float(b[metric])
            if base == 0:
                raise ValueError(f"delta_m: baseline {metric!r} of task {name!r} is 0; a "
                                 "relative change is undefined.")
            sign = 1.0 if task.higher_is_better_for(metric) else -1.0
            changes.append(sign * (float(value) - base) / abs(base))
        per_task.append(float(np.mean(changes)))
    return 100.0 * float(np.mean(per_task))


def delta_m_by_seed(rows: pd.DataFrame, baseline_rows: pd.DataFrame,
                    tasks: Mapping[str, Task], split: str = "test") -> pd.DataFrame:
    """Delta_m of every config in ``rows`` against ``baseline_rows``, per seed.

    Seeds are paired where the baseline has the same seed; otherwise the baseline's mean
    over seeds is used. Returns columns ``config, seed, delta_m``.

    Introduced in notebook 02.
    """
    tasks = task_dict(tasks)
    base = primary(baseline_rows, tasks, split)
    base_mean = base.groupby("task")["value"].mean().to_dict()
    out = []
    for (config, seed), g in primary(rows, tasks, split).groupby(["config", "seed"], sort=False):
        b = base[base["seed"] == seed].set_index("task")["value"].to_dict()
        b = {t: b.get(t, base_mean.get(t, np.nan)) for t in g["task"]}
        present = {t: tasks[t] for t in g["task"]}
        out.append((config, seed, delta_m(g.set_index("task")["value"].to_dict(), b, present)))
    return pd.DataFrame(out, columns=["config", "seed", "delta_m"])


# ------------------------------------------------------------------ paired differences
def paired_values(rows: pd.DataFrame, tasks: Mapping[str, Task], config: str, reference: str,
                  split: str = "test") -> pd.DataFrame:
    """Per-seed differences ``config - reference`` of each task's primary metric.

    Returns:
        A frame indexed by seed, one column per task (raw metric units).

    Raises:
        ValueError: no seed that ran both configs.

    Introduced in notebook 05.
    """
    df = primary(rows, task_dict(tasks), split)
    a = df[df["config"] == config].pivot_table(index="seed", columns="task", values="value")
    b = df[df["config"] == reference].pivot_table(index="seed", columns="task", values="value")
    seeds = a.index.intersection(b.index)
    if len(seeds) == 0:
        raise ValueError(f"no seed ran both {config!r} and {reference!r}; cannot pair them. "
                         f"Configs in these rows: {sorted(set(df['config']))}.")
    cols = [t for t in task_dict(tasks) if t in a.columns and t in b.columns]
    return a.loc[seeds, cols] - b.loc[seeds, cols]


def paired_difference(rows: pd.DataFrame, tasks: Mapping[str, Task], config: str,
                      reference: str, split: str = "test", confidence: float = 0.95
                      ) -> pd.DataFrame:
    """Per-task difference ``config - reference`` paired by seed, with a t-interval.

    Returns columns ``task, mean, low, high, n, better, wins``: ``better`` is the mean
    difference signed so that positive is an improvement, ``wins`` the number of seeds in
    which ``config`` was better.

    Introduced in notebook 05.
    """
    tasks = task_dict(tasks)
    diffs = paired_values(rows, tasks, config, reference, split)
    out = []
    for t in diffs.columns:
        d = diffs[t].to_numpy(float)
        d = d[np.isfinite(d)]
        mean, low, high = mean_interval(d, confidence)
        sign = 1.0 if tasks[t].higher_is_better else -1.0
        out.append((t, mean, low, high, len(d), sign * mean, int(np.sum(sign * d > 0))))
    return pd.DataFrame(out, columns=["task", "mean", "low", "high", "n", "better", "wins"])


def format_difference(diff: pd.DataFrame, tasks: Mapping[str, Task], digits: int = 2
                      ) -> pd.DataFrame:
    """:func:`paired_difference`'s table in display units, with the verdict in words.

    Accuracy and IoU differences become percentage points (as in :func:`format_summary`);
    errors keep their unit. ``better`` stays signed so that positive is an improvement;
    ``seeds`` reads "k of n" (seeds in which the config was better).

    Introduced in notebook 05.
    """
    tasks = task_dict(tasks)
    out = diff.copy()
    scale = out["task"].map(lambda t: display_unit(tasks[t])[0])
    out["unit"] = out["task"].map(lambda t: display_unit(tasks[t])[1])
    for col in ("mean", "low", "high", "better"):
        out[col] = (out[col] * scale).round(digits)
    out["seeds"] = [f"{w} of {n}" for w, n in zip(out["wins"], out["n"])]
    out["verdict"] = [("better" if r.low > 0 and r.high > 0 else "worse"
                       if r.low < 0 and r.high < 0 else "within noise")
                      if tasks[r.task].higher_is_better else
                      ("better" if r.low < 0 and r.high < 0 else "worse"
                       if r.low > 0 and r.high > 0 else "within noise")
                      for r in out.itertuples()]
    return out[["task", "unit", "mean", "low", "high", "better", "seeds", "verdict"]]


def compare(rows: pd.DataFrame, tasks: Mapping[str, Task], config: str, reference: str,
            split: str = "test", confidence: float = 0.95, digits: int = 2) -> dict[str, str]:
    """``{task: verdict}``: :func:`verdict` of ``config - reference`` for every task.

    Introduced in notebook 05.
    """
    tasks = task_dict(tasks)
    diffs = paired_values(rows, tasks, config, reference, split)
    out = {}
    for t in diffs.columns:
        scale, unit = display_unit(tasks[t])
        out[t] = verdict(diffs[t], higher_is_better=tasks[t].higher_is_better, unit=unit,
                         scale=scale, confidence=confidence, digits=digits)
    return out


def gains(rows: pd.DataFrame, tasks: Mapping[str, Task], configs: Sequence[str],
          reference: str, by: str | None = None, split: str = "test",
          confidence: float = 0.95) -> pd.DataFrame:
    """Each config's gain over ``reference`` per task (and per value of ``by``), paired by seed.

    The gain is signed so that **positive is better** (an error that went down is a positive
    gain) and shown in display units (accuracy in percentage points, errors in their unit),
    with its t-interval, the seeds in which the config was better, and a verdict.

    Args:
        rows: result rows holding ``configs`` and ``reference`` (and column ``by``).
        configs: the configs to compare with ``reference``.
        by: a row column to split by, e.g. ``"n_train"`` for a grid over data sizes.

    Returns:
        Columns ``[by], config, task, unit, gain, low, high, seeds, verdict, text``; ``text``
        reads ``"+2.9 ± 1.4"`` (gain ± half-width of the interval).

    Introduced in notebook 06.
    """
    tasks = task_dict(tasks)
    groups = [(None, rows)] if by is None else list(rows.groupby(by, sort=True))
    out = []
    for key, g in groups:
        for config in configs:
            diffs = paired_values(g, tasks, config, reference, split)
            for t in diffs.columns:
                scale, unit = display_unit(tasks[t])
                sign = 1.0 if tasks[t].higher_is_better else -1.0
                d = sign * scale * diffs[t].to_numpy(float)
                d = d[np.isfinite(d)]
                mean, low, high = mean_interval(d, confidence)
                digits = 1 if unit == "points" else 2
                half = (high - low) / 2 if np.isfinite(high) else float("nan")
                word = ("better" if low > 0 else "worse" if high < 0 else "within noise")
                out.append({**({by: key} if by is not None else {}), "config": config,
                            "task": t, "unit": unit, "gain": mean, "low": low, "high": high,
                            "seeds": f"{int(np.sum(d > 0))} of {len(d)}", "verdict": word,
                            "text": f"{mean:+.{digits}f} ± {half:.{digits}f}"})
    return pd.DataFrame(out)


def describe_gains(table: pd.DataFrame, task: str, what: str = "gain") -> str:
    """One sentence on a task's rows of :func:`gains`: the gains whose interval excludes
    zero (helped or hurt, with where and by how much), or that none does.

    Introduced in notebook 06.
    """
    g = table[table.task == task]
    where = [c for c in g.columns if c not in ("config", "task", "unit", "gain", "low", "high",
                                                "seeds", "verdict", "text")]

    def at(r) -> str:
        return "".join(f" at {c}={r[c]}" for c in where)

    real = [f"{r.config} {'helped' if r.verdict == 'better' else 'hurt'}{at(r)} "
            f"({r.text} {r.unit}, better in {r.seeds} seeds)"
            for _, r in g.iterrows() if r.verdict != "within noise"]
    if not real:
        best = g.loc[g.gain.idxmax()]
        return (f"every 95% interval includes zero: no {what} is distinguishable from seed "
                f"noise (largest mean: {best.config}{at(best)}, {best.text} {best.unit})")
    return "; ".join(real) + ("; the rest is within seed noise" if len(real) < len(g) else "")


def score(tasks: Mapping[str, Task], labels: Mapping[str, np.ndarray],
          predictions: Mapping[str, np.ndarray], batch: int = 1000) -> dict[str, float]:
    """Each task's primary metric of ``predictions`` against ``labels`` (the same metric as
    in training logs: accuracy, IoU, error in the task's unit).

    Introduced in notebook 10.
    """
    out = {}
    for name, task in task_dict(tasks).items():
        metric = task.metrics()[0]
        y, p = np.asarray(labels[name]), np.asarray(predictions[name])
        for i in range(0, len(y), batch):  # in chunks: masks can be large
            metric.update_state(y[i:i + batch], p[i:i + batch])
        out[name] = float(metric.result())
    return out


def rows_from_scores(scores: pd.DataFrame, tasks: Mapping[str, Task], split: str = "test"
                     ) -> pd.DataFrame:
    """Tidy result rows from a table of scores (columns ``config``, ``seed`` and one per
    task, as :func:`score` gives them), for :func:`summarize` and the paired comparisons.

    Introduced in notebook 10.
    """
    tasks = task_dict(tasks)
    long = scores.melt(id_vars=["config", "seed"], value_vars=list(tasks), var_name="task")
    long["metric"] = long["task"].map(lambda t: tasks[t].metric)
    long["split"] = split
    return long[["config", "seed", "task", "metric", "value", "split"]]
