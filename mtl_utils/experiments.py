"""Seeded experiment runs: configurations, training over seeds, grids.

* :class:`Config` describes one training configuration (tasks, model, budget,
  augmentation, loss weighting).
* :func:`run_config` trains it once per seed and returns tidy rows
  ``(experiment, config, seed, task, metric, value, split, epochs, seconds, ...)``;
  ``seconds`` is the run's training wall time and ``step_ms`` its steady-state time per
  optimizer step, the one to compare costs with. With a :class:`~mtl_utils.store.
  ResultsStore`, finished ``(config, seed)`` pairs are read back instead of re-trained, so
  a grid that crashed resumes where it stopped.
* The statistics of the rows (:mod:`mtl_utils.stats`: summaries, Delta_m, paired
  verdicts) are re-exported here, so notebooks reach everything as ``ex.*``.

Introduced in notebook 01.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import inspect
import json
import multiprocessing
import os
import random
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import cloudpickle
import keras
import numpy as np
import pandas as pd
import tensorflow as tf
from keras.src.random import seed_generator as _keras_seeds

from .data import MultiTaskData, to_dataset
from .models import (
    ENCODERS,
    SCHEDULES,
    build_shared_model,
    compile_model,
    count_params,
    learning_rate_schedule,
)
from .stats import (  # noqa: F401 - the statistics, re-exported for notebooks as ex.*
    CHANCE,
    chance_levels,
    compare,
    concat_configs,
    delta_m,
    delta_m_by_seed,
    describe_gains,
    format_difference,
    format_summary,
    gains,
    mean_interval,
    paired_difference,
    paired_values,
    primary,
    rows_from_scores,
    score,
    summarize,
    verdict,
)
from .store import HISTORY_COLUMNS, ROW_COLUMNS, ResultsStore  # noqa: F401 - re-exported
from .tasks import Task, select_tasks


# --------------------------------------------------------------------------- seeding
def seed_everything(seed: int, deterministic: bool = True) -> None:
    """Seed Python, NumPy, TensorFlow and Keras; optionally make TF ops deterministic.

    With ``deterministic=True`` the same seed gives the same metrics on one machine
    (``tf.config.experimental.enable_op_determinism``); exact numbers still differ across
    machines, library versions and GPUs.

    Introduced in notebook 01.
    """
    keras.utils.set_random_seed(int(seed))
    if deterministic:
        tf.config.experimental.enable_op_determinism()


@contextlib.contextmanager
def _keras_seeds_of_its_own(seed: int):
    """Within the block, Keras draws default seeds from a generator seeded like
    ``random.seed(seed)`` rather than from Python's global ``random``, which other threads
    draw from too (a Dask worker's event loop does while a task runs, so a model built there
    got initial weights other than its seed's). The same draws when nothing interferes."""
    saved = getattr(_keras_seeds, "python_random", None)
    if saved is None:  # another Keras: leave it alone
        yield
        return
    _keras_seeds.python_random = random.Random(int(seed))
    try:
        yield
    finally:
        _keras_seeds.python_random = saved


# ---------------------------------------------------------------------------- config
def _check_factory(config: str, field_name: str, factory: Any, arity: int, what: str) -> None:
    """A factory must be callable with ``arity`` positional arguments."""
    if factory is None:
        return
    try:
        ok = callable(factory)
        if ok:
            inspect.signature(factory).bind(*([None] * arity))
    except TypeError:
        ok = False
    except ValueError:  # no signature (a builtin): trust it
        ok = True
    if not ok:
        raise TypeError(f"Config {config!r}: {field_name} must be a factory {what}; got "
                        f"{factory!r}.")


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
        name: identifies the configuration in tables and in the results store; a name
            must always mean the same settings (the store checks a fingerprint).
        tasks: task names to train (``None``: all the data's tasks).
        model: ``"shared"`` (hard parameter sharing) or ``"single"`` (independent
            single-task models, one per task, trained side by side in one Keras graph with
            nothing shared; see :func:`~mtl_utils.models.build_single_task_models`). Rows
            carry ``seconds`` for the whole model and ``params`` of each task's own model.
        epochs, batch_size, learning_rate: the training budget; ``learning_rate`` is the
            peak rate of the schedule.
        schedule, warmup: the learning-rate schedule over the run's optimizer steps and
            its warm-up fraction (see :func:`~mtl_utils.models.learning_rate_schedule`).
            The default (Adam, 10% warm-up to 2e-3, cosine decay) reached on this course's
            data in 8-10 epochs what a constant 1e-3 reached in 15 (notebook 01).
        augment: ``None`` or a factory ``augment(tasks) -> policy`` (a policy from
            :mod:`mtl_utils.augment`), called with the tasks being trained.
        weighting: ``None`` (Keras ``loss_weights``) or a factory ``weighting() -> strategy``
            from :mod:`mtl_utils.weighting`.
        loss_weights: static ``{task: lambda}`` for the plain Keras path.
        model_kwargs: extra arguments for :func:`~mtl_utils.models.build_shared_model`.
        builder: instead of :func:`~mtl_utils.models.build_shared_model`, a function
            ``builder(tasks, input_shape) -> keras.Model`` returning an uncompiled model
            with one output per task, named after it (notebook 08's ResNet50). Compiled,
            trained and stored like any other config; no weighting strategy, model_kwargs
            or per-task views with it.
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
        policy = (None if self.augment is None else
                  self.augment(select_tasks(data.tasks, self.tasks)))
        spec.update(fingerprint_version=3, augment=describe(self.augment), policy=describe(policy),
                    weighting=describe(self.weighting), builder=describe(self.builder),
                    data=data.name, n_train=len(data.train), image_shape=data.image_shape,
                    data_info={k: str(v) for k, v in sorted(data.info.items())})
        text = json.dumps(spec, sort_keys=True, default=str)
        return hashlib.sha1(text.encode()).hexdigest()[:12]


def experiment_name(prefix: str, data: MultiTaskData, **settings) -> str:
    """A results-store experiment name from the data and the settings rows share.

    ``experiment_name("baselines", data, tasks=["shape", "color"], e=10, b=32)`` gives
    ``"baselines_shapes_n2000_s32_d0_tasks-shape-color_e10_b32"``: notebooks that train the
    same data with the same settings use the same name, so one reads the other's rows from
    the store (notebook 02 reads notebook 01's baselines). Settings appear in the order
    given; lists are joined with ``-``.

    Introduced in notebook 01.
    """
    parts = [prefix, data.name, f"n{len(data.train)}", f"s{data.image_shape[0]}",
             f"d{data.info.get('seed', 0)}"]
    if "train_pool" in data.info:
        parts.append(f"pool{data.info['train_pool']}")
    for key, value in settings.items():
        if isinstance(value, (list, tuple)):
            value = "-".join(str(v) for v in value)
        parts.append(f"{key}{'-' if len(key) > 1 else ''}{value}")
    return re.sub(r"[^A-Za-z0-9_.-]", "", "_".join(parts))


# ------------------------------------------------------------------------- training
def _history_rows(experiment: str, config: str, seed: int, history: Mapping[str, list]
                  ) -> pd.DataFrame:
    rows = [(experiment, config, seed, epoch + 1, key, float(v))
            for key, values in history.items() for epoch, v in enumerate(values)]
    return pd.DataFrame(rows, columns=list(HISTORY_COLUMNS))


def train_and_evaluate(data: MultiTaskData, tasks: Mapping[str, Task], config: Config,
                       seed: int, splits: Sequence[str] = ("test",), verbose: int = 0):
    """Train one model on ``tasks`` with ``config`` and ``seed``; evaluate it.

    Consecutive runs with the same architecture and no weighting strategy reuse the last
    compiled model (this seed's fresh initial variables, a reset optimizer), so ``fit`` and
    ``evaluate`` are not traced again; the metrics equal a fresh model's (tested).

    Returns:
        ``(metrics, history, seconds, params, model)``: ``metrics[split][task][metric]``, the
        Keras history dict (plus ``epoch_seconds``, each epoch's wall time), training wall
        time, ``{task: parameters}`` (the whole model's count for every task when the encoder
        is shared; each task's own model otherwise), and the trained model.

    Introduced in notebook 01.
    """
    seed_everything(seed)
    with _keras_seeds_of_its_own(seed):
        return _train_and_evaluate(data, tasks, config, seed, splits, verbose)


def _train_and_evaluate(data: MultiTaskData, tasks: Mapping[str, Task], config: Config,
                        seed: int, splits: Sequence[str], verbose: int):
    policy = config.augment(tasks) if config.augment is not None else None
    # auxiliary tasks whose labels the policy writes join the model's tasks
    tasks = {**tasks, **{n: policy.tasks[n] for n in getattr(policy, "emits", ())}}
    # one view per task: one input per task (image or text policies say so)
    per_task = getattr(policy, "views_per_task", False)
    model = _model_for(data, tasks, config, per_task)
    # One iterator for all epochs (repeat + steps_per_epoch): the same batches as a new
    # iterator per epoch, without restarting the pipeline every epoch.
    train = to_dataset(data.train, tasks, config.batch_size, shuffle=True, seed=seed,
                       augment=policy, per_task_inputs=per_task, repeat=True)
    timer = _EpochTimer()
    start = time.perf_counter()
    hist = model.fit(train, epochs=int(config.epochs), verbose=verbose, shuffle=False,
                     steps_per_epoch=-(-len(data.train) // int(config.batch_size)),
                     callbacks=[timer])
    seconds = time.perf_counter() - start
    if len(tasks) == 1:  # Keras drops the output name from a one-output model's logs
        (name,) = tasks
        hist.history.update({f"{name}_{k}": v for k, v in list(hist.history.items())
                             if not k.startswith(f"{name}_")})
    hist.history["epoch_seconds"] = timer.seconds
    metrics: dict[str, dict[str, dict[str, float]]] = {}
    # auxiliary tasks (labels a policy writes) get an untransformed image's labels
    evaluation = policy.for_evaluation() if hasattr(policy, "for_evaluation") else None
    for split in splits:
        ds = to_dataset(data.split(split), tasks, 256, shuffle=False, augment=evaluation,
                        per_task_inputs=per_task)
        logs = model.evaluate(ds, return_dict=True, verbose=0)
        metrics[split] = {n: _task_metrics(t, logs, len(tasks)) for n, t in tasks.items()}
    shared = config.model == "shared"
    params = {n: count_params(model) if shared else count_params(model, n) for n in tasks}
    return metrics, hist.history, seconds, params, model


def train_model(data: MultiTaskData, config: Config, seed: int, verbose: int = 0
                ) -> tuple[keras.Model, pd.DataFrame]:
    """Train one run of ``config`` and keep the model, for what comes after training (test-
    time augmentation in notebook 10): the same training as :func:`run_config`, and its test
    rows. The model is this run's own (not reused by the next run).

    Introduced in notebook 10.
    """
    rows, model = _train_cell(data, config, seed, "train_model", ("test",), verbose,
                              config.fingerprint(data), None)
    _MODEL_CACHE.clear()  # the next run must not retrain the model handed out here
    return model, rows


class _EpochTimer(keras.callbacks.Callback):
    """A Keras callback recording each epoch's wall time in its ``seconds`` list."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def steady_epoch_seconds(epoch_seconds: Sequence[float]) -> float:
    """Median wall time of the epochs after the first (the first one also traces the model).

    With one epoch, that epoch's time. This is the number to compare training costs with:
    ``seconds`` also holds one-off tracing, which a run that reuses the previous run's model
    (see :func:`train_and_evaluate`) does not pay.
    """
    times = list(epoch_seconds)
    return float(np.median(times[1:] if len(times) > 1 else times))


# The last compiled model, kept so that the next run with the same architecture reuses its
# traced train and test functions (a few seconds of tracing per run on CPU) instead of
# building a new one. Only the last one is kept, and only for configs without a weighting
# strategy (strategies have state of their own): a weighted run always builds a new model.
_MODEL_CACHE: dict[tuple, tuple] = {}


def _model_for(data: MultiTaskData, tasks: Mapping[str, Task], config: Config,
               per_task: bool):
    """A compiled model with this seed's initial weights and a fresh optimizer.

    A new model is always built (so the seed draws the same initial weights as ever); when
    the last run's model has the same architecture and compile settings, it takes these
    weights and has its optimizer state reset, and is used instead: the numbers are those
    of a fresh model, without tracing ``fit`` and ``evaluate`` again.
    """
    kwargs = dict(config.model_kwargs)
    steps = -(-len(data.train) // int(config.batch_size)) * int(config.epochs)
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
    """Pick one task's metrics out of Keras logs (single-output models drop the prefix)."""
    out = {}
    for m in (task.metric, "loss"):
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
        data: the dataset (fixed across seeds; seeds vary initialisation, shuffling and
            augmentation), or a function that makes it (cheaper to send to workers).
        config: what to train.
        seeds: one run per seed.
        experiment: groups rows in the store (one folder per experiment).
        store: a :class:`~mtl_utils.store.ResultsStore`; finished ``(config, seed)`` pairs
            are loaded, not re-trained, and new ones are stored atomically as they finish.
        splits: which splits to evaluate (``"test"``, ``"val"``, ``"train"``).
        progress: print one line per seed (trained, with its time, or found in the store).
        executor: run the seeds on a ``concurrent.futures.Executor`` (see :func:`run_grid`).

    Returns:
        A DataFrame with :data:`ROW_COLUMNS`, a row per ``(seed, task, metric, split)``.

    Raises:
        ValueError: unknown tasks, stored rows for this config name that were made with
            different settings (rename the config, or use a fresh results folder), or that
            lack a requested split.
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
    """Every ``(config, seed)`` of a grid; rows of all of them, in grid order.

    Runs already in ``store`` are read back. The others train here, one after the other, or
    on ``executor``, any ``concurrent.futures.Executor``: :func:`process_pool` on this
    machine, or a Dask cluster's ``Client(...).get_executor()`` on many. Each run then
    happens in a worker, which stores its own rows (give workers a store on a folder they
    all see), and the numbers equal a sequential run's for the same seeds. A run that fails
    does not stop the others.

    Raises:
        ValueError: two configs with the same name, no seed, or stored rows that do not fit
            (see :func:`run_config`).
        GridError: some runs failed; every other run's rows are stored.

    Introduced in notebook 02; executors in notebook 06.
    """
    source = data
    data = data() if callable(data) and not isinstance(data, MultiTaskData) else data
    configs = list(configs)
    names = [c.name for c in configs]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise ValueError(f"config names must be unique within a grid; repeated: {dupes}.")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("a grid needs at least one seed, e.g. seeds=[0, 1, 2].")
    prints = print if progress else (lambda *args, **kwargs: None)
    fingerprints = {c.name: c.fingerprint(data) for c in configs}
    results: dict[tuple[str, int], pd.DataFrame] = {}
    todo = []
    for config in configs:
        for seed in seeds:
            old = _stored_rows(store, experiment, config, seed, fingerprints[config.name],
                               splits)
            if old is None:
                todo.append((config, seed))
            else:
                prints(f"{experiment} | {config.name} | seed {seed}: found in the results "
                       "store, skipped")
                results[(config.name, seed)] = old
    failures: list[tuple[str, int, str]] = []
    first_error: BaseException | None = None

    def finished(config: Config, seed: int, rows: pd.DataFrame | BaseException) -> None:
        if isinstance(rows, BaseException):
            failures.append((config.name, seed, f"{type(rows).__name__}: {rows}"))
            prints(f"{experiment} | {config.name} | seed {seed}: FAILED ({failures[-1][2]})")
        else:
            results[(config.name, seed)] = rows
            prints(f"{experiment} | {config.name} | seed {seed}: trained in "
                   f"{rows['seconds'].iloc[0]:.1f} s")

    folder = None if store is None else str(store.folder)
    if executor is None:
        for config, seed in todo:
            try:
                rows, _ = _train_cell(data, config, seed, experiment, splits, verbose,
                                      fingerprints[config.name], folder)
            except Exception as err:  # noqa: BLE001 - reported per run, raised at the end
                rows, first_error = err, first_error or err
            finished(config, seed, rows)
    else:
        payload = source if source is not data else data
        futures = {executor.submit(run_cell, cloudpickle.dumps(
            (payload, config, seed, experiment, tuple(splits), verbose,
             fingerprints[config.name], folder))): (config, seed) for config, seed in todo}
        for future in concurrent.futures.as_completed(futures):
            config, seed = futures[future]
            try:
                rows = cloudpickle.loads(future.result())
            except Exception as err:  # noqa: BLE001 - reported per run, raised at the end
                rows, first_error = err, first_error or err
            finished(config, seed, rows)
    done = [results[(c.name, s)] for c in configs for s in seeds if (c.name, s) in results]
    out = (pd.concat(done, ignore_index=True)[list(ROW_COLUMNS)] if done
           else pd.DataFrame(columns=list(ROW_COLUMNS)))
    if failures:
        raise GridError(failures, out) from first_error
    return out


def _stored_rows(store: ResultsStore | None, experiment: str, config: Config, seed: int,
                 fingerprint: str, splits: Sequence[str]) -> pd.DataFrame | None:
    """A run's stored rows for ``splits`` (``None`` if it has not run), after checking that
    they were made with these settings and hold every split asked for."""
    if store is None:
        return None
    old = store.done(experiment, config.name, seed)
    if not len(old):
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
    """Train one ``(config, seed)``, store its rows (if ``folder``); return them and the
    trained model."""
    tasks = select_tasks(data.tasks, config.tasks)
    metrics, history, seconds, params, model = train_and_evaluate(data, tasks, config, seed,
                                                                  splits, verbose)
    per_epoch = steady_epoch_seconds(history["epoch_seconds"])
    steps = -(-len(data.train) // int(config.batch_size))
    rows = pd.DataFrame([dict(
        experiment=experiment, config=config.name, seed=seed, task=task, metric=metric,
        value=value, split=split, epochs=int(config.epochs), seconds=seconds,
        epoch_seconds=per_epoch, step_ms=1000 * per_epoch / steps, n_train=len(data.train),
        params=params[task], fingerprint=fingerprint)
        for split, per_task in metrics.items() for task, values in per_task.items()
        for metric, value in values.items()], columns=list(ROW_COLUMNS))
    if folder is not None:
        ResultsStore(folder).append(rows, _history_rows(experiment, config.name, seed, history))
    return rows, model


_DATA: dict[bytes, MultiTaskData] = {}  # data made by a factory, once per worker process


def run_cell(payload: bytes) -> bytes:
    """Train one run in a worker: ``payload`` is the cloudpickled arguments of a grid cell
    (the data or a function making it, the config, the seed, ...); returns its cloudpickled
    rows. What :func:`run_grid` submits to an executor."""
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
    """Limit this process's TensorFlow to ``threads`` threads (before it runs any op): give
    each of several workers on one machine its share of the cores. A Dask cluster's workers:
    ``client.run(limit_threads, 1)``.

    Introduced in notebook 06.
    """
    if threads:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))


def process_pool(workers: int, threads: int | None = None
                 ) -> concurrent.futures.ProcessPoolExecutor:
    """A process pool for :func:`run_grid` on this machine: ``workers`` fresh processes
    (spawned, not forked, since TensorFlow's threads do not survive a fork), each limited to
    ``threads`` TensorFlow threads (default: the cores divided among the workers).

    Training is CPU-bound: more workers than cores do not run faster.

    Introduced in notebook 06.
    """
    if int(workers) < 1:
        raise ValueError(f"process_pool needs workers >= 1, got {workers}.")
    threads = threads or max(1, (os.cpu_count() or 1) // int(workers))
    return concurrent.futures.ProcessPoolExecutor(
        int(workers), mp_context=multiprocessing.get_context("spawn"),
        initializer=limit_threads, initargs=(threads,))
