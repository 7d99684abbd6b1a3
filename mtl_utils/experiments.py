"""Seeded experiment runs: a :class:`Config` trained once per seed (:func:`run_config`) or
over a grid (:func:`run_grid`, :func:`run_resampled`) into tidy rows, resumed from a results
store. Their statistics live in :mod:`mtl_utils.stats`.

Introduced in notebook 01.
"""

from __future__ import annotations

import concurrent.futures
import functools
import hashlib
import inspect
import itertools
import json
import multiprocessing
import os
import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cloudpickle
import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .data import MultiTaskData, to_dataset
from .models import (
    ENCODERS,
    SCHEDULES,
    build_shared_model,
    compile_model,
    count_params,
    learning_rate_schedule,
    own_keras_seeds,
)
from .policy import Policy
from .store import HISTORY_COLUMNS, ROW_COLUMNS, ResultsStore  # noqa: F401 - re-exported
from .tasks import Task, select_tasks


def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; optionally make TF ops deterministic.

    Introduced in notebook 01.
    """
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


def _check_factory(config: str, field_name: str, factory: Any, arity: int, what: str) -> None:
    """A factory must be callable with ``arity`` positional arguments."""
    if factory is None:
        return
    try:  # a non-callable has no signature either: TypeError
        inspect.signature(factory).bind(*([None] * arity))
    except ValueError:  # no signature (a builtin): trust it
        return
    except TypeError:
        raise TypeError(f"Config {config!r}: {field_name} must be a factory {what}; got "
                        f"{factory!r}.") from None


_MODEL_KWARGS = frozenset(inspect.signature(build_shared_model).parameters) - {
    "tasks", "input_shape"}


def _check_model_kwargs(config: str, kwargs: Mapping[str, Any]) -> None:
    """``model_kwargs`` must be arguments of ``build_shared_model`` with sensible values."""
    owned = {"learning_rate": "learning_rate", "loss_weights": "loss_weights",
             "weighting": "weighting", "compile": None, "per_task_inputs": "augment",
             "share_encoder": "model"}
    clash = sorted(set(kwargs) & set(owned))
    if clash:
        raise ValueError(
            f"Config {config!r}: model_kwargs {clash} are set by the Config itself; use "
            + ", ".join(f"Config({owned[k]}=...)" for k in clash if owned[k])
            + " instead (a per-task policy turns on per-task inputs; compile is managed).")
    unknown = sorted(set(kwargs) - _MODEL_KWARGS)
    if unknown:
        raise ValueError(f"Config {config!r}: model_kwargs {unknown} are not arguments of "
                         f"build_shared_model; choose from {sorted(_MODEL_KWARGS - set(owned))}.")
    if "encoder" in kwargs and kwargs["encoder"] not in ENCODERS:
        raise ValueError(f"Config {config!r}: unknown encoder {kwargs['encoder']!r}; choose one "
                         f"of {', '.join(ENCODERS)}.")
    filters = kwargs.get("filters", (1,))
    if isinstance(filters, (str, bytes)) or not filters or not all(
            isinstance(f, (int, np.integer)) and not isinstance(f, bool) and f >= 1
            for f in filters):
        raise ValueError(f"Config {config!r}: filters must be a non-empty list of positive "
                         f"integers, got {filters!r}.")


@dataclass
class Config:
    """One training configuration.

    Args:
        name: identifies the configuration in tables and the results store, which checks
            that a name always means the same settings.
        tasks: task names to train (``None``: all the data's tasks).
        model: ``"shared"`` (hard parameter sharing) or ``"single"`` (one independent model
            per task, side by side in one Keras graph; rows carry each task's own ``params``).
        learning_rate, schedule, warmup: see :func:`~mtl_utils.models.learning_rate_schedule`.
        augment: ``None`` or a factory ``augment(tasks) -> policy`` (:mod:`mtl_utils.augment`).
        weighting: ``None`` (Keras ``loss_weights``) or a factory ``weighting() -> strategy``.
        model_kwargs: extra arguments for :func:`~mtl_utils.models.build_shared_model`.
        builder: ``builder(tasks, input_shape) -> keras.Model`` (uncompiled, an output per
            task named after it) instead; no weighting, model_kwargs or per-task views then.
        description: free text, part of the fingerprint (say what ``augment`` does).

    Introduced in notebook 01.
    """

    name: str
    tasks: Sequence[str] | None = None
    model: str = "shared"
    epochs: int = 10
    batch_size: int = 32
    learning_rate: float = 2e-3
    schedule: str = "cosine"
    warmup: float = 0.1
    augment: Callable | None = None
    weighting: Callable | None = None
    loss_weights: Mapping[str, float] | None = None
    model_kwargs: dict = field(default_factory=dict)
    builder: Callable | None = None
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"a Config needs a non-empty name, got {self.name!r}.")
        if isinstance(self.tasks, str) or not (self.tasks is None or all(
                isinstance(t, str) for t in self.tasks)):
            raise ValueError(f"Config {self.name!r}: tasks must be a list of task names or "
                             f"None (all the data's tasks), got {self.tasks!r}.")
        if self.model not in ("shared", "single"):
            raise ValueError(f"Config {self.name!r}: model must be 'shared' or 'single', "
                             f"got {self.model!r}.")
        for field_name in ("epochs", "batch_size"):
            v = getattr(self, field_name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"Config {self.name!r}: epochs and batch_size must be "
                                 f"integers >= 1, got {field_name}={v!r}.")
        lr = self.learning_rate
        if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 < lr < 10:
            raise ValueError(f"Config {self.name!r}: learning_rate must be a number in "
                             f"(0, 10), got {lr!r}; e.g. 2e-3.")
        _check_factory(self.name, "augment", self.augment, 1,
                       "augment(tasks) -> policy, e.g. lambda tasks: shared(['hflip'], tasks)")
        _check_factory(self.name, "weighting", self.weighting, 0,
                       "weighting() -> strategy, e.g. lambda: Uncertainty()")
        if self.loss_weights is not None and (not isinstance(self.loss_weights, Mapping) or not all(
                isinstance(w, (int, float)) and np.isfinite(w) and w >= 0
                for w in self.loss_weights.values())):
            raise ValueError(f"Config {self.name!r}: loss_weights must be {{task: weight >= 0}}, "
                             f"got {self.loss_weights!r}.")
        _check_model_kwargs(self.name, self.model_kwargs)
        if not isinstance(self.description, str):
            raise ValueError(f"Config {self.name!r}: description must be text, got "
                             f"{self.description!r}.")
        if self.schedule not in SCHEDULES or not 0.0 <= float(self.warmup) < 1.0:
            raise ValueError(f"Config {self.name!r}: schedule must be one of {SCHEDULES} and "
                             f"warmup in [0, 1); got {self.schedule!r}, {self.warmup!r}.")
        if self.builder is not None:
            if not callable(self.builder):
                raise TypeError(f"Config {self.name!r}: builder must be a function "
                                "builder(tasks, input_shape) -> keras.Model.")
            if self.weighting is not None or self.model_kwargs or self.model != "shared":
                raise ValueError(f"Config {self.name!r}: a builder makes the whole model; "
                                 "drop weighting, model_kwargs and model='single' with it.")

    def fingerprint(self, data: MultiTaskData) -> str:
        """A short hash of the settings and the data they run on."""

        def describe(obj):
            if obj is None:
                return None
            return re.sub(r" at 0x[0-9a-f]+", "", getattr(obj, "__qualname__", repr(obj)))

        spec = {k: v for k, v in asdict(self).items()
                if k not in ("augment", "weighting", "builder")}
        spec["tasks"] = list(self.tasks) if self.tasks is not None else None
        # The policy itself (its ops and parameters), not just the factory's name, so a
        # changed lambda under an old config name is refused too.
        tasks = select_tasks(data.tasks, self.tasks)
        policy = None if self.augment is None else self.augment(tasks)
        # the tasks themselves too: a changed declaration, unit or loss is another run
        spec.update(fingerprint_version=4, task_specs=[t.get_config() for t in tasks.values()],
                    augment=describe(self.augment), policy=describe(policy),
                    weighting=describe(self.weighting), builder=describe(self.builder),
                    data=data.name, n_train=len(data.train), image_shape=data.image_shape,
                    data_info={k: str(v) for k, v in sorted(data.info.items())})
        text = json.dumps(spec, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def experiment_name(prefix: str, data: MultiTaskData, **settings) -> str:
    """A results-store experiment name from the data and the settings rows share.

    ``experiment_name("baselines", data, tasks=["shape", "color"], e=10, b=32)`` gives
    ``"baselines_shapes_n2000_s32_d0_tasks-shape-color_e10_b32"``.

    Introduced in notebook 01.
    """
    parts = [prefix, data.name, f"n{len(data.train)}", f"s{data.image_shape[0]}",
             f"d{data.info.get('seed', 0)}"]
    if data.info.get("shortcut"):
        parts.append(f"sc{data.info['shortcut']:g}"
                     + "".join(f"-{s}" for s in data.info.get("shortcut_splits", ())))
    if "train_pool" in data.info:
        parts.append(f"pool{data.info['train_pool']}")
    for key, value in settings.items():
        if isinstance(value, (list, tuple)):
            value = "-".join(str(v) for v in value)
        parts.append(f"{key}{'-' if len(key) > 1 else ''}{value}")
    return re.sub(r"[^A-Za-z0-9_.-]", "", "_".join(parts))


def _steps_per_epoch(data: MultiTaskData, config: Config) -> int:
    return -(-len(data.train) // int(config.batch_size))


def train_and_evaluate(data: MultiTaskData, tasks: Mapping[str, Task], config: Config,
                       seed: int, splits: Sequence[str] = ("test",), verbose: int = 0):
    """Train one model on ``tasks`` with ``config`` and ``seed``; evaluate it.

    The next run with the same architecture and no weighting strategy reuses (and
    retrains) the returned model, untraced again; keep a model with :func:`train_model`.

    Returns ``(metrics, history, seconds, params, model)``: ``metrics[split][task][metric]``,
    the Keras history (plus ``epoch_seconds``), training wall time, ``{task: parameters}``
    (the whole model's count when the encoder is shared), and the trained model.

    Introduced in notebook 01.
    """
    seed_everything(seed)
    with own_keras_seeds(seed):
        return _train_and_evaluate(data, tasks, config, seed, splits, verbose)


def _train_and_evaluate(data: MultiTaskData, tasks: Mapping[str, Task], config: Config,
                        seed: int, splits: Sequence[str], verbose: int):
    policy = config.augment(tasks) if config.augment is not None else None
    declared = policy if isinstance(policy, Policy) else None  # a plain callable declares nothing
    # auxiliary tasks whose labels the policy writes join the model's tasks
    tasks = {**tasks, **{n: policy.tasks[n] for n in (declared.emits if declared else ())}}
    # one view per task: one input per task (image or text policies say so)
    per_task = bool(declared and declared.views_per_task)
    model = _model_for(data, tasks, config, per_task)
    # One iterator for all epochs (repeat + steps_per_epoch): the same batches as a new
    # iterator per epoch, without restarting the pipeline every epoch.
    train = to_dataset(data.train, tasks, config.batch_size, shuffle=True, seed=seed,
                       augment=policy, per_task_inputs=per_task, repeat=True)
    epoch_starts: list[float] = []
    epoch_seconds: list[float] = []
    timer = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: epoch_starts.append(time.perf_counter()),
        on_epoch_end=lambda epoch, logs: epoch_seconds.append(
            time.perf_counter() - epoch_starts[-1]))
    start = time.perf_counter()
    hist = model.fit(train, epochs=int(config.epochs), verbose=verbose, shuffle=False,
                     steps_per_epoch=_steps_per_epoch(data, config), callbacks=[timer])
    seconds = time.perf_counter() - start
    if len(tasks) == 1:  # Keras drops the output name from a one-output model's logs
        (name,) = tasks
        hist.history.update({f"{name}_{k}": v for k, v in list(hist.history.items())
                             if not k.startswith(f"{name}_")})
    hist.history["epoch_seconds"] = epoch_seconds
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    # auxiliary tasks (labels a policy writes) get an untransformed image's labels
    evaluation = declared.for_evaluation() if declared else None
    for split in splits:
        ds = to_dataset(data.split(split), tasks, 256, shuffle=False, augment=evaluation,
                        per_task_inputs=per_task)
        logs = model.evaluate(ds, return_dict=True, verbose=0)
        metrics[split] = {n: _task_metrics(t, logs, len(tasks)) for n, t in tasks.items()}
    params = {n: count_params(model) if config.model == "shared" else count_params(model, n)
              for n in tasks}
    return metrics, hist.history, seconds, params, model


def train_model(data: MultiTaskData, config: Config, seed: int, verbose: int = 0
                ) -> tuple[keras.Model, pd.DataFrame]:
    """Train one run of ``config`` as :func:`run_config` does; return the model (this run's
    own, not reused by the next run) and its test rows, for test-time augmentation.

    Introduced in notebook 10.
    """
    rows, model = _train_cell(data, config, seed, "train_model", ("test",), verbose,
                              config.fingerprint(data), None)
    _MODEL_CACHE.clear()  # the next run must not retrain the model handed out here
    return model, rows


def steady_epoch_seconds(epoch_seconds: Sequence[float]) -> float:
    """Median wall time of the epochs after the first (the first one also traces the model),
    or of the one epoch: the number to compare training costs with."""
    times = list(epoch_seconds)
    return float(np.median(times[1:] or times))


# The last compiled model, kept so that the next run with the same architecture reuses its
# traced train and test functions (seconds of tracing per run on CPU). Not for weighting
# strategies: they have state of their own, so a weighted run always builds a new model.
_MODEL_CACHE: dict[tuple, tuple] = {}


def _model_for(data: MultiTaskData, tasks: Mapping[str, Task], config: Config,
               per_task: bool):
    """A compiled model with this seed's initial weights and a fresh optimizer: a new model
    is always built (the seed draws the same weights as ever), but the last run's, if alike,
    takes its weights and a reset optimizer, so ``fit`` and ``evaluate`` are not retraced."""
    kwargs = config.model_kwargs
    steps = _steps_per_epoch(data, config) * int(config.epochs)
    learning_rate = learning_rate_schedule(config.learning_rate, steps, config.schedule,
                                           config.warmup)
    weighting = config.weighting() if config.weighting is not None else None
    if config.builder is not None:
        if per_task:
            raise ValueError(f"Config {config.name!r}: a builder's model has one input; "
                             "per-task views need build_shared_model's per-task inputs.")
        fresh = config.builder(tasks, data.image_shape)
    else:
        fresh = build_shared_model(tasks, data.image_shape, per_task_inputs=per_task,
                                   share_encoder=config.model == "shared",
                                   weighting=weighting, compile=False, **kwargs)
    key = (config.builder,  # the function itself: two lambdas may share a name
           tuple((n, repr(t)) for n, t in tasks.items()), tuple(data.image_shape),
           config.model, per_task, repr(sorted(kwargs.items())), float(config.learning_rate),
           config.schedule, float(config.warmup), steps,
           repr(sorted((config.loss_weights or {}).items())))
    cached = _MODEL_CACHE.get(key) if weighting is None else None
    if cached is None:
        compile_model(fresh, tasks, learning_rate, config.loss_weights, weighting)
        _MODEL_CACHE.clear()
        if weighting is None:
            _MODEL_CACHE[key] = (fresh, [v.numpy() for v in fresh.optimizer.variables])
        return fresh
    model, optimizer_start = cached
    # All layer variables (weights, BatchNorm statistics and random-seed state), not metrics.
    for variable, value in zip(model.variables, fresh.variables, strict=True):
        variable.assign(value)
    for variable, value in zip(model.optimizer.variables, optimizer_start, strict=True):
        variable.assign(value)
    return model


def _task_metrics(task: Task, logs: Mapping[str, float], n_tasks: int) -> dict[str, float]:
    """Pick one task's metrics (every one its kind declares) out of Keras logs
    (single-output models drop the prefix)."""
    out = {}
    for m in dict.fromkeys([task.metric, *task.label_kind.directions(task), "loss"]):
        key = f"{task.name}_{m}"
        if key in logs:
            out[m] = float(logs[key])
        elif n_tasks == 1 and m in logs:
            out[m] = float(logs[m])
    return out


class GridError(RuntimeError):
    """Some runs of a grid failed; the rows of the others are stored (and in ``rows``).

    Attributes:
        failures: ``[(config name, seed, "ExceptionType: message"), ...]``.
        rows: the rows of the runs that finished.
    """

    def __init__(self, failures: list[tuple[str, int, str]], rows: pd.DataFrame) -> None:
        lines = "; ".join(f"{c!r} seed {s}: {e}" for c, s, e in failures)
        super().__init__(f"{len(failures)} run(s) failed: {lines}. The other runs' rows are "
                         "stored; fix the failing configs and run the grid again to train only "
                         "what is missing.")
        self.failures = failures
        self.rows = rows


def run_config(data: MultiTaskData | Callable[[], MultiTaskData], config: Config,
               seeds: Iterable[int], experiment: str = "default",
               store: ResultsStore | None = None, splits: Sequence[str] = ("test",),
               verbose: int = 0, progress: bool = True,
               executor: concurrent.futures.Executor | None = None) -> pd.DataFrame:
    """Run ``config`` once per seed; return tidy rows, resuming from ``store``.

    Args:
        data: the dataset (seeds vary initialisation, shuffling and augmentation), or a
            function that makes it (cheaper to send to workers).
        seeds: one run per seed.
        experiment: groups rows in the store (one folder per experiment).
        store: finished ``(config, seed)`` pairs are loaded, not re-trained; new ones are
            stored as they finish.
        splits: which splits to evaluate (``"test"``, ``"val"``, ``"train"``).
        verbose: Keras ``fit`` verbosity for each run.
        progress: print one line per seed (trained, with its time, found in the store, or failed).
        executor: run the seeds on a ``concurrent.futures.Executor`` (see :func:`run_grid`).

    Returns:
        A DataFrame with :data:`ROW_COLUMNS`, a row per ``(seed, task, metric, split)``.

    Raises:
        ValueError: unknown tasks, or stored rows for this config name made with different
            settings (rename the config, or use a fresh results folder) or lacking a split.
        GridError: some seeds failed (the others' rows are stored).

    Introduced in notebook 01.
    """
    return run_grid(data, [config], seeds, experiment, store, splits, progress, executor,
                    verbose=verbose)


def run_grid(data: MultiTaskData | Callable[[], MultiTaskData], configs: Iterable[Config],
             seeds: Iterable[int], experiment: str = "default",
             store: ResultsStore | None = None, splits: Sequence[str] = ("test",),
             progress: bool = True, executor: concurrent.futures.Executor | None = None,
             verbose: int = 0) -> pd.DataFrame:
    """Every ``(config, seed)`` of a grid (see :func:`run_config`); rows in grid order.

    Runs not in ``store`` train here or on ``executor`` (:func:`process_pool`, or a Dask
    ``Client(...).get_executor()`` whose workers see the store's folder), with a sequential
    run's numbers; a run that fails does not stop the others.

    Raises:
        ValueError: two configs with the same name, no seed, or stored rows that do not fit
            (see :func:`run_config`).
        GridError: some runs failed; every other run's rows are stored.

    Introduced in notebook 02; executors in notebook 06.
    """
    source = data
    data = data() if callable(data) and not isinstance(data, MultiTaskData) else data
    return _run_cells(configs, seeds, lambda seed: (data, source, experiment), store, splits,
                      progress, executor, verbose)


def run_resampled(make_data: Callable[[int], MultiTaskData], configs: Iterable[Config],
                  seeds: Iterable[int], experiment: Callable[[MultiTaskData], str],
                  store: ResultsStore | None = None, splits: Sequence[str] = ("test",),
                  progress: bool = True, executor: concurrent.futures.Executor | None = None,
                  verbose: int = 0) -> pd.DataFrame:
    """Every ``(config, seed)`` of a grid with the data resampled per seed: seed ``s`` trains
    and tests on ``make_data(s)``, so intervals over seeds include the draw of the data, not
    only initialisation and shuffling. Rows, store and executors as in :func:`run_grid`.

    Args:
        make_data: ``seed -> MultiTaskData`` (each draw is made once for the grid; workers
            of an ``executor`` make their own).
        experiment: ``data -> experiment name`` (use :func:`experiment_name`, whose names
            carry the data seed), so each draw's runs are stored apart.

    Raises:
        ValueError / GridError: as :func:`run_grid`.

    Introduced in notebook 02.
    """
    seeds = [int(s) for s in seeds]
    data = {s: make_data(s) for s in seeds}
    return _run_cells(configs, seeds, lambda seed: (data[seed], functools.partial(
        make_data, seed), experiment(data[seed])), store, splits, progress, executor, verbose)


def _run_cells(configs: Iterable[Config], seeds: Iterable[int],
               cell: Callable[[int], tuple[MultiTaskData, Any, str]],
               store: ResultsStore | None, splits: Sequence[str], progress: bool,
               executor: concurrent.futures.Executor | None, verbose: int) -> pd.DataFrame:
    """The grid behind :func:`run_grid` and :func:`run_resampled`: ``cell(seed)`` gives a
    seed's data, what a worker makes it from, and its experiment name."""
    configs = list(configs)
    dupes = sorted(n for n, k in Counter(c.name for c in configs).items() if k > 1)
    if dupes:
        raise ValueError(f"config names must be unique within a grid; repeated: {dupes}.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("a grid needs at least one seed, e.g. seeds=[0, 1, 2].")
    prints = print if progress else (lambda *args, **kwargs: None)
    cells = {s: cell(s) for s in seeds}
    fingerprints = {(c.name, s): c.fingerprint(cells[s][0]) for c in configs for s in seeds}
    results: dict[tuple[str, int], pd.DataFrame] = {}
    todo = []
    for config, seed in itertools.product(configs, seeds):  # runs of a config in a row
        experiment = cells[seed][2]
        old = _stored_rows(store, experiment, config, seed, fingerprints[(config.name, seed)],
                           splits)
        if old is None:
            todo.append((config, seed))
        else:
            prints(f"{experiment} | {config.name} | seed {seed}: found in the results store, "
                   "skipped")
            results[(config.name, seed)] = old
    folder = None if store is None else str(store.folder)
    # (config, seed, a call that returns its rows), in the order the runs finish
    if executor is None:
        outcomes = ((c, s, lambda c=c, s=s: _train_cell(
            cells[s][0], c, s, cells[s][2], splits, verbose, fingerprints[(c.name, s)],
            folder)[0]) for c, s in todo)
    else:
        futures = {executor.submit(run_cell, cloudpickle.dumps(
            (cells[seed][1], config, seed, cells[seed][2], tuple(splits), verbose,
             fingerprints[(config.name, seed)], folder))): (config, seed)
            for config, seed in todo}
        outcomes = ((*futures[f], lambda f=f: cloudpickle.loads(f.result()))
                    for f in concurrent.futures.as_completed(futures))
    failures: list[tuple[str, int, str]] = []
    first_error: BaseException | None = None
    for config, seed, outcome in outcomes:
        experiment = cells[seed][2]
        try:
            rows = outcome()
        except Exception as err:  # noqa: BLE001 - reported per run, raised at the end
            first_error = first_error or err
            failures.append((config.name, seed, f"{type(err).__name__}: {err}"))
            prints(f"{experiment} | {config.name} | seed {seed}: FAILED ({failures[-1][2]})")
            continue
        results[(config.name, seed)] = rows
        prints(f"{experiment} | {config.name} | seed {seed}: trained in "
               f"{rows['seconds'].iloc[0]:.1f} s")
    done = [results[(c.name, s)] for c in configs for s in seeds if (c.name, s) in results]
    out = (pd.concat(done, ignore_index=True)[list(ROW_COLUMNS)] if done
           else pd.DataFrame(columns=list(ROW_COLUMNS)))
    if failures:
        raise GridError(failures, out) from first_error
    return out


def _stored_rows(store: ResultsStore | None, experiment: str, config: Config, seed: int,
                 fingerprint: str, splits: Sequence[str]) -> pd.DataFrame | None:
    """A run's stored rows for ``splits`` (``None`` if it has not run), checked to be made
    with these settings and to hold every split."""
    old = None if store is None else store.done(experiment, config.name, seed)
    if old is None or not len(old):
        return None
    stale = set(old["fingerprint"].astype(str)) - {fingerprint}
    if stale:
        raise ValueError(
            f"results store {store.folder} has rows for config {config.name!r} "
            f"(experiment {experiment!r}, seed {seed}) made with other settings "
            f"(fingerprint {sorted(stale)} != {fingerprint}), or by an older mtl_utils. Give "
            "the new settings a new config name, or use a fresh RESULTS_DIR.")
    missing = sorted(set(splits) - set(old["split"]))
    if missing:
        raise ValueError(
            f"results store {store.folder} has config {config.name!r} (experiment "
            f"{experiment!r}, seed {seed}) evaluated on {sorted(set(old['split']))} but not on "
            f"{missing}. Run it with those splits under a new config or experiment name, or "
            "use a fresh RESULTS_DIR.")
    return old[old["split"].isin(splits)][list(ROW_COLUMNS)]


def _train_cell(data: MultiTaskData, config: Config, seed: int, experiment: str,
                splits: Sequence[str], verbose: int, fingerprint: str,
                folder: str | None) -> tuple[pd.DataFrame, keras.Model]:
    """Train one ``(config, seed)``, store its rows (if ``folder``); return rows and model."""
    tasks = select_tasks(data.tasks, config.tasks)
    metrics, history, seconds, params, model = train_and_evaluate(data, tasks, config, seed,
                                                                  splits, verbose)
    per_epoch = steady_epoch_seconds(history["epoch_seconds"])
    steps = _steps_per_epoch(data, config)
    rows = pd.DataFrame([dict(
        experiment=experiment, config=config.name, seed=seed, task=task, metric=metric,
        value=value, split=split, epochs=int(config.epochs), seconds=seconds,
        epoch_seconds=per_epoch, step_ms=1000 * per_epoch / steps, n_train=len(data.train),
        params=params[task], fingerprint=fingerprint)
        for split, per_task in metrics.items() for task, values in per_task.items()
        for metric, value in values.items()], columns=list(ROW_COLUMNS))
    if folder is not None:
        per_epoch_rows = [(experiment, config.name, seed, epoch + 1, key, float(v))
                          for key, values in history.items() for epoch, v in enumerate(values)]
        ResultsStore(folder).append(rows, pd.DataFrame(per_epoch_rows,
                                                       columns=list(HISTORY_COLUMNS)))
    return rows, model


_DATA: dict[bytes, MultiTaskData] = {}  # data made by a factory, once per worker process


def run_cell(payload: bytes) -> bytes:
    """Train one grid cell in a worker, what :func:`run_grid` submits to an executor:
    cloudpickled arguments in, cloudpickled rows out."""
    source, config, seed, experiment, splits, verbose, fingerprint, folder = (
        cloudpickle.loads(payload))
    if callable(source) and not isinstance(source, MultiTaskData):
        key = hashlib.sha1(cloudpickle.dumps(source)).digest()
        if key not in _DATA:
            _DATA.clear()
            _DATA[key] = source()
        source = _DATA[key]
    rows, _ = _train_cell(source, config, seed, experiment, splits, verbose, fingerprint,
                          folder)
    return cloudpickle.dumps(rows)


def limit_threads(threads: int | None) -> None:
    """Limit this process's TensorFlow to ``threads`` threads, before it runs any op.

    Introduced in notebook 06.
    """
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))


def process_pool(workers: int, threads: int | None = None
                 ) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool for :func:`run_grid`: ``workers`` spawned (not forked: TensorFlow's
    threads do not survive a fork) processes of ``threads`` threads (default: a fair share).

    Introduced in notebook 06.
    """
    if int(workers) < 1:
        raise ValueError(f"process_pool needs workers >= 1, got {workers}.")
    threads = threads or max(1, (os.cpu_count() or 1) // int(workers))
    return concurrent.futures.ProcessPoolExecutor(
        int(workers), mp_context=multiprocessing.get_context("spawn"),
        initializer=limit_threads, initargs=(threads,))
