"""Statistics of result rows: summaries, chance levels, Delta_m, and differences *paired by
seed* (a seed gives two configurations the same initialisation, batches and augmentation, so
their difference is far less noisy than their spreads) with t-intervals and verdicts.

Introduced in notebook 01 (summaries), 02 (Delta_m, intervals) and 05 (verdicts).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats as scipy_stats

from .tasks import Task, task_dict

CHANCE = "chance (constant prediction)"


def mean_interval(values: Iterable[float], confidence: float = 0.95
                  ) -> tuple[float, float, float]:
    """Mean of the finite per-seed values with a two-sided t-interval: ``(mean, low, high)``
    (``low`` and ``high`` are nan with one value).

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
    """One sentence on per-seed paired differences ``a - b``, shown times ``scale`` in
    ``unit``: ``"better: +2.90 points (95% CI +1.52 to +4.28; better in 3 of 3 seeds)"``,
    ``"worse: ..."`` or, where the t-interval includes zero, ``"within seed noise: ..."``
    (ties count as not better).

    Args:
        higher_is_better: direction of the metric (errors: ``False``).
        confidence: level of the t-interval (0.95 for 95%).
        digits: decimals shown for the mean and the interval.

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
    word = _direction(low, high, sign, "within seed noise")
    return (f"{word}: {mean:+.{digits}f}{unit} ({100 * confidence:.0f}% CI {low:+.{digits}f} "
            f"to {high:+.{digits}f}; {seeds})")


def _direction(low: float, high: float, sign: float = 1.0, noise: str = "within noise") -> str:
    """``"better"`` or ``"worse"`` where the interval ``sign * [low, high]`` excludes zero,
    else ``noise``."""
    return ("better" if sign * low > 0 and sign * high > 0 else
            "worse" if sign * low < 0 and sign * high < 0 else noise)


def metric_label(task: Task) -> str:
    """``"name metric (unit) ↑"``: a task's primary metric, display unit and direction (an
    axis label or column name).

    Introduced in notebook 01.
    """
    unit = task.display_scale[1]
    return f"{task.name} {task.metric}{f' ({unit})' if unit else ''} " + (
        "↑" if task.higher_is_better else "↓")


def display_unit(task: Task) -> tuple[float, str]:
    """``(scale, unit)`` for *differences* of the task's primary metric: accuracy and IoU
    differences in percentage points, errors in their unit."""
    scale, unit = task.display_scale
    return scale, "points" if unit == "%" else unit


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
    """Mean, standard deviation and seed count of each task's primary metric: a frame indexed
    by ``by`` with columns ``(task, "mean" | "std" | "n")``.

    Introduced in notebook 01.
    """
    df = primary(rows, tasks, split)
    order = list(dict.fromkeys(df[list(by)[0]]))
    out = df.groupby([*by, "task"], sort=False)["value"].agg(["mean", "std", "count"])
    out = out.rename(columns={"count": "n"}).unstack("task").swaplevel(0, 1, axis=1)
    cols = [(t, s) for t in task_dict(tasks) if t in set(df["task"]) for s in ("mean", "std", "n")]
    return out[cols].reindex(order) if len(by) == 1 else out[cols]


def concat_configs(parts: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows of several configs under new names, ``{new name: rows of one config}``.

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
    """Each task's primary metric on ``split`` for the best *constant* prediction, fitted on
    ``data``'s training labels (:meth:`~mtl_utils.tasks.Task.constant_baseline`); ``tasks``
    defaults to all of the data's. A model is only learning where it beats this.

    Introduced in notebook 01.
    """
    tasks = task_dict(tasks if tasks is not None else data.tasks)
    target = data.split(split)
    return {n: t.constant_baseline(data.train.labels[n], target.labels[n])
            for n, t in tasks.items()}


def format_summary(summary: pd.DataFrame, tasks: Mapping[str, Task], digits: int = 3,
                   chance: Mapping[str, float] | None = None) -> pd.DataFrame:
    """``mean ± std`` strings (accuracies and IoUs in percent), one column per task, with a
    last row of ``chance`` levels (:func:`chance_levels`) if given.

    Introduced in notebook 01.
    """
    tasks = task_dict(tasks)
    out = {}
    for name in dict.fromkeys(c[0] for c in summary.columns):
        scale, unit = tasks[name].display_scale
        d = 1 if unit == "%" else 2
        m, s = summary[(name, "mean")] * scale, summary[(name, "std")].fillna(0) * scale
        col = [f"{a:.{d}f} ± {b:.{d}f}" for a, b in zip(m, s)]
        if chance is not None:
            col.append(f"{chance[name] * scale:.{d}f}" if name in chance else "")
        out[metric_label(tasks[name])] = col
    index = list(summary.index) + ([CHANCE] if chance is not None else [])
    return pd.DataFrame(out, index=pd.Index(index, name=summary.index.name))


DELTA_M_CONVENTIONS: tuple[str, ...] = ("per_task", "per_metric")


def delta_m(metrics: Mapping[str, float | Mapping[str, float]],
            baseline: Mapping[str, float | Mapping[str, float]],
            tasks: Iterable[Task] | Mapping[str, Task], convention: str = "per_task") -> float:
    """Delta_m: mean over tasks of the signed relative change against a baseline, in %.

    ``100/T * sum_t mean_j s_tj (M_tj - B_tj) / B_tj``, ``s = -1`` where lower is better:
    **positive is better**. A task's value is its primary metric or ``{metric: value}``.
    ``convention="per_metric"`` averages over all ``K`` metrics at once instead
    (``100/K * sum_k ...``, as CAGrad and Nash-MTL report it; ``"per_task"`` is LibMTL's).

    Raises:
        ValueError: a task missing from ``metrics`` or ``baseline``, a metric missing from
            the baseline, a zero baseline value, or an unknown convention.

    Introduced in notebook 02 (conventions in notebook 11).
    """
    if convention not in DELTA_M_CONVENTIONS:
        raise ValueError(f"delta_m: unknown convention {convention!r}; choose one of "
                         f"{', '.join(DELTA_M_CONVENTIONS)}.")
    tasks = task_dict(tasks)
    per_task, every = [], []
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
        every += changes
    return 100.0 * float(np.mean(per_task if convention == "per_task" else every))


def delta_m_by_seed(rows: pd.DataFrame, baseline_rows: pd.DataFrame,
                    tasks: Mapping[str, Task], split: str = "test", *,
                    all_metrics: bool = False, convention: str = "per_task") -> pd.DataFrame:
    """Delta_m of every config in ``rows`` against ``baseline_rows`` per seed (paired, or
    against the baseline's mean where it lacks the seed): columns ``config, seed, delta_m``.
    ``all_metrics=True`` uses every metric each task logs (not its loss) instead of its
    primary one, averaged by ``convention`` (see :func:`delta_m`).

    Introduced in notebook 02 (all metrics in notebook 11).
    """
    tasks = task_dict(tasks)

    def pick(r: pd.DataFrame) -> pd.DataFrame:
        if not all_metrics:
            return primary(r, tasks, split)
        keep = r["split"].eq(split) & r["task"].isin(list(tasks)) & r["metric"].ne("loss")
        return r[keep]

    base = pick(baseline_rows)
    base_mean = base.groupby(["task", "metric"])["value"].mean()
    out = []
    for (config, seed), g in pick(rows).groupby(["config", "seed"], sort=False):
        b = base[base["seed"] == seed].set_index(["task", "metric"])["value"]
        values: dict[str, dict[str, float]] = {}
        base_values: dict[str, dict[str, float]] = {}
        for r in g.itertuples():
            values.setdefault(r.task, {})[r.metric] = r.value
            base_values.setdefault(r.task, {})[r.metric] = b.get(
                (r.task, r.metric), base_mean.get((r.task, r.metric), np.nan))
        present = {t: tasks[t] for t in values}
        out.append((config, seed, delta_m(values, base_values, present, convention)))
    return pd.DataFrame(out, columns=["config", "seed", "delta_m"])


def paired_values(rows: pd.DataFrame, tasks: Mapping[str, Task], config: str, reference: str,
                  split: str = "test") -> pd.DataFrame:
    """Per-seed differences ``config - reference`` of each task's primary metric (raw units).

    Raises:
        ValueError: no seed that ran both configs.

    Introduced in notebook 05.
    """
    df = primary(rows, task_dict(tasks), split)
    a, b = (df[df["config"] == c].pivot_table(index="seed", columns="task", values="value")
            for c in (config, reference))
    seeds = a.index.intersection(b.index)
    if len(seeds) == 0:
        raise ValueError(f"no seed ran both {config!r} and {reference!r}; cannot pair them. "
                         f"Configs in these rows: {sorted(set(df['config']))}.")
    cols = [t for t in task_dict(tasks) if t in a.columns and t in b.columns]
    return a.loc[seeds, cols] - b.loc[seeds, cols]


def paired_difference(rows: pd.DataFrame, tasks: Mapping[str, Task], config: str,
                      reference: str, split: str = "test", confidence: float = 0.95
                      ) -> pd.DataFrame:
    """Per-task difference ``config - reference`` paired by seed, with a t-interval: columns
    ``task, mean, low, high, n, better`` (the mean, positive if an improvement), ``wins``
    (seeds in which ``config`` was better).

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
    """:func:`paired_difference`'s table in display units (accuracy and IoU in percentage
    points), with ``seeds`` as "k of n" and the verdict in words.

    Introduced in notebook 05.
    """
    tasks = task_dict(tasks)
    out = diff.copy()
    scale = out["task"].map(lambda t: display_unit(tasks[t])[0])
    out["unit"] = out["task"].map(lambda t: display_unit(tasks[t])[1])
    for col in ("mean", "low", "high", "better"):
        out[col] = (out[col] * scale).round(digits)
    out["seeds"] = [f"{w} of {n}" for w, n in zip(out["wins"], out["n"])]
    out["verdict"] = [_direction(r.low, r.high, 1.0 if tasks[r.task].higher_is_better else -1.0)
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


def _signed_gains(rows: pd.DataFrame, tasks: Mapping[str, Task], config: str,
                  reference: str, split: str) -> pd.DataFrame:
    """Per-seed gains ``config - reference`` (seeds x tasks), in display units, positive
    where ``config`` is better."""
    diffs = paired_values(rows, tasks, config, reference, split)
    for t in diffs.columns:
        scale, _ = display_unit(tasks[t])
        diffs[t] = (1.0 if tasks[t].higher_is_better else -1.0) * scale * diffs[t]
    return diffs


def _gain_row(values: np.ndarray, unit: str, confidence: float) -> dict:
    d = values[np.isfinite(values)]
    mean, low, high = mean_interval(d, confidence)
    digits = 1 if unit == "points" else 2
    half = (high - low) / 2  # nan with one seed
    return {"unit": unit, "gain": mean, "low": low, "high": high,
            "seeds": f"{int(np.sum(d > 0))} of {len(d)}", "verdict": _direction(low, high),
            "text": f"{mean:+.{digits}f} ± {half:.{digits}f}"}


def gains(rows: pd.DataFrame, tasks: Mapping[str, Task], configs: Sequence[str],
          reference: str, by: str | None = None, split: str = "test",
          confidence: float = 0.95) -> pd.DataFrame:
    """Each config's gain over ``reference`` per task (and per value of ``by``), paired by seed.

    **Positive is better** (an error that went down is a gain), in display units. Columns
    ``[by], config, task, unit, gain, low, high, seeds, verdict, text`` (``"+2.9 ± 1.4"``).

    Introduced in notebook 06.
    """
    tasks = task_dict(tasks)
    groups = [(None, rows)] if by is None else list(rows.groupby(by, sort=True))
    out = []
    for key, g in groups:
        for config in configs:
            signed = _signed_gains(g, tasks, config, reference, split)
            out += [{**({by: key} if by is not None else {}), "config": config, "task": t,
                     **_gain_row(signed[t].to_numpy(float), display_unit(tasks[t])[1],
                                 confidence)} for t in signed.columns]
    return pd.DataFrame(out)


def gain_change(rows: pd.DataFrame, tasks: Mapping[str, Task], configs: Sequence[str],
                reference: str, by: str, first: Any, second: Any, split: str = "test",
                confidence: float = 0.95) -> pd.DataFrame:
    """How each config's gain over ``reference`` changes from ``by == second`` to
    ``by == first``: the per-seed gain at ``first`` minus the gain at ``second`` (same seed),
    with an interval; columns as :func:`gains` (``gain`` is the change). "Does augmentation
    help more with scarce data?" is ``gain_change(..., "n_train", 250, 2000)``, answered only
    where the interval excludes zero.

    Raises:
        ValueError: a value of ``by`` with no rows, or no seed that ran both configs.

    Introduced in notebook 06.
    """
    tasks = task_dict(tasks)
    parts = {}
    for value in (first, second):
        part = rows[rows[by] == value]
        if part.empty:
            raise ValueError(f"gain_change: no rows with {by} == {value!r}; values: "
                             f"{sorted(set(rows[by]))}.")
        parts[value] = part
    out = []
    for config in configs:
        a, b = (_signed_gains(parts[v], tasks, config, reference, split) for v in (first, second))
        seeds = a.index.intersection(b.index)
        out += [{"config": config, "task": t,
                 **_gain_row((a.loc[seeds, t] - b.loc[seeds, t]).to_numpy(float),
                             display_unit(tasks[t])[1], confidence)}
                for t in a.columns if t in b.columns]
    return pd.DataFrame(out)


def describe_gains(table: pd.DataFrame, task: str, what: str = "gain") -> str:
    """One sentence on a task's rows of :func:`gains`: those whose interval excludes zero
    (helped or hurt, where, by how much), or that none does.

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


def convergence(history: pd.DataFrame, tasks: Mapping[str, Task], config: str,
                last: int = 2) -> pd.DataFrame:
    """Has ``config`` finished learning what its budget allows? From training histories
    (``ResultsStore.load_history``): each task's training metric at the last epoch (mean over
    seeds, display units) and how much it moved over the last ``last`` epochs. A metric still
    moving fast at the end is a model stopped early; judge augmentations on models that
    are not. Columns ``epochs, final, change, unit`` (change signed so positive is better).

    Raises:
        ValueError: no history for ``config``.

    Introduced in notebook 05.
    """
    tasks = task_dict(tasks)
    h = history[history["config"] == config]
    if h.empty:
        raise ValueError(f"no training history for config {config!r}; configs with one: "
                         f"{sorted(set(history['config']))}.")
    end = int(h["epoch"].max())
    out = {}
    for t, task in tasks.items():
        curve = h[h["key"] == f"{t}_{task.metric}"].groupby("epoch")["value"].mean()
        if curve.empty:
            continue
        scale, unit = task.display_scale
        sign = 1.0 if task.higher_is_better else -1.0
        before = curve.loc[:max(1, end - last)].iloc[-1]
        out[t] = {"epochs": end, "final": scale * curve.iloc[-1],
                  "change": sign * scale * (curve.iloc[-1] - before), "unit": unit}
    return pd.DataFrame.from_dict(out, orient="index")


def describe_convergence(table: pd.DataFrame, last: int = 2) -> str:
    """:func:`convergence`'s table in words: ``"shape 88.1% (+0.6 over the last 2 epochs)"``.

    Introduced in notebook 05.
    """
    return "; ".join(f"{t} {r.final:.1f}{'%' if r.unit == '%' else ' ' + r.unit} "
                     f"({r.change:+.1f} over the last {last} epochs)"
                     for t, r in table.iterrows())


def score(tasks: Mapping[str, Task], labels: Mapping[str, np.ndarray],
          predictions: Mapping[str, np.ndarray], batch: int = 1000) -> dict[str, float]:
    """Each task's primary metric (as in training logs) of ``predictions`` against ``labels``.

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
    task, as :func:`score` gives them).

    Introduced in notebook 10.
    """
    tasks = task_dict(tasks)
    long = scores.melt(id_vars=["config", "seed"], value_vars=list(tasks), var_name="task")
    long["metric"] = long["task"].map(lambda t: tasks[t].metric)
    long["split"] = split
    return long[["config", "seed", "task", "metric", "value", "split"]]
