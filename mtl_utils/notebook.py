"""Helpers for the notebooks' first cells: an environment report, the results folder, and
checks of papermill parameters that fail with a message naming the fix.

Introduced in notebook 00.
"""

from __future__ import annotations

import ast
import os
import platform
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from .augment import MIXING_OPS, OP_NAMES
from .experiments import limit_threads, process_pool

RESULTS_ENV = "MTL_RESULTS_DIR"
DEFAULT_RESULTS_DIR = "../results"
REDUCED_ENV = "MTL_REDUCED"
REDUCED_SEEDS = 2  # a reduced run keeps the first two seeds of every seed list,
REDUCED_EPOCH_DIVISOR = 5  # a fifth of every epoch budget (at least two epochs)
REDUCED_DATA_DIVISOR = 8  # and an eighth of every training set (at least the minimum)


def reduced() -> bool:
    """Whether notebooks run at the reduced size of the test suite: ``$MTL_REDUCED`` set to
    ``1`` (the test suite sets it for nbval; ``make run`` and papermill runs leave it unset).

    At the reduced size :func:`check_seeds` keeps the first :data:`REDUCED_SEEDS` seeds,
    :func:`check_epochs` a fifth of each budget, :func:`check_n_train` an eighth of each
    training set and :func:`check_repeats` one timing round, so every cell still runs, on
    far less training.

    Introduced in notebook 00.
    """
    return os.environ.get(REDUCED_ENV, "0").strip().lower() not in ("", "0", "false")


def _reduce(name: str, value: Any, cut: Callable[[int], int]) -> Any:
    """``value`` (an int, a list or a ``{key: int}``) with ``cut`` applied to each int at
    the :func:`reduced` size, saying what changed; unchanged otherwise."""
    if not reduced():
        return value
    if isinstance(value, Mapping):
        small: Any = {k: cut(v) for k, v in value.items()}
    elif isinstance(value, list):
        small = list(dict.fromkeys(cut(v) for v in value))
    else:
        small = cut(value)
    if small != value:
        print(f"reduced size for tests (${REDUCED_ENV}=1): {name} {value} -> {small}")
    return small


def report_environment(seeds: Iterable[int] | int | None = None) -> None:
    """Print Python, TensorFlow, Keras versions, the devices, and the seeds in use.

    Introduced in notebook 00.
    """
    gpus = tf.config.list_physical_devices("GPU")
    print(f"Python {platform.python_version()} | TensorFlow {tf.__version__} | "
          f"Keras {keras.__version__} ({keras.backend.backend()} backend)")
    print(f"GPU: {', '.join(g.name for g in gpus) if gpus else 'none (CPU only)'} | "
          f"CPU cores: {os.cpu_count()}")
    if seeds is not None:
        print(f"Seeds: {seeds}")
    print("Exact numbers differ across machines, library versions and GPUs; "
          "the same seed on one machine gives the same numbers.")


def results_dir(path: str | os.PathLike) -> Path:
    """The results folder for a notebook's ``RESULTS_DIR`` parameter: the default,
    ``"../results"``, is replaced by ``$MTL_RESULTS_DIR`` when that is set (the test suite
    runs notebooks under nbval against a fresh folder); other values are used as given."""
    env = os.environ.get(RESULTS_ENV)
    return Path(env if env and str(path) == DEFAULT_RESULTS_DIR else path)


def parse_param(name: str, value: Any) -> Any:
    """A papermill ``-p`` value back to a Python value: papermill passes lists, tuples and
    dicts as *strings*, read back with ``ast.literal_eval``; other values pass unchanged.

    Raises:
        ValueError: a string that looks like a list or dict but is not valid Python.
    """
    if isinstance(value, str) and value.strip()[:1] in ("[", "{", "("):
        try:
            return ast.literal_eval(value.strip())
        except (ValueError, SyntaxError) as err:
            raise ValueError(f"parameter {name}: could not read {value!r} as a Python "
                             f"literal ({err}). Example: -p {name} \"[0, 1, 2]\"") from err
    return value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _distinct(value: Any, valid: Callable[[Any], bool]) -> list | None:
    """``value`` (one value or a list) as a list, if it is non-empty, every item is
    ``valid`` and none repeats; else ``None``."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    ok = bool(items) and all(valid(v) for v in items) and len(set(items)) == len(items)
    return items if ok else None


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ``ValueError`` naming the parameter."""
    if not _is_int(value) or value < minimum:
        raise ValueError(f"parameter {name} must be an integer >= {minimum}, got {value!r}. "
                         f"Example: papermill ... -p {name} {max(minimum, 1)}")
    return value


def check_repeats(name: str, value: Any) -> int:
    """A number of timing rounds (an int >= 1, or a ``ValueError`` naming the parameter);
    one round at the :func:`reduced` size, where timings are not what a test checks."""
    return _reduce(name, check_int(name, value), lambda n: 1)


def check_float(name: str, value: Any, low: float, high: float) -> float:
    """``value`` as a float in the open interval ``(low, high)``, or a ``ValueError`` naming
    the parameter (papermill: ``-p LEARNING_RATE 0.002``)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low < value < high:
        raise ValueError(f"parameter {name} must be a number in ({low}, {high}), got "
                         f"{value!r}. Example: papermill ... -p {name} {(low + high) / 2:g}")
    return float(value)


def check_float_list(name: str, value: Any, low: float, high: float) -> list[float]:
    """A non-empty list of distinct numbers in the open interval ``(low, high)``
    (papermill: ``-p SWEEP "[0.1, 0.5, 0.9]"``)."""
    value = parse_param(name, value)
    items = _distinct(value, lambda v: isinstance(v, (int, float)) and not isinstance(v, bool)
                      and low < v < high)
    if items is None:
        raise ValueError(f"parameter {name} must be a non-empty list of distinct numbers in "
                         f"({low}, {high}), got {value!r}. Example: papermill ... -p {name} "
                         f'"[{low + (high - low) / 4:g}, {low + (high - low) / 2:g}]"')
    return [float(v) for v in items]


def per_dataset_tasks(name: str, value: Any, all_tasks: Mapping[str, Sequence[str]],
                      known: Sequence[str] = ("shapes", "digits")) -> dict[str, list[str]]:
    """Task names per dataset, ``{dataset: [task, ...]}``: a dataset left out (or ``None``)
    keeps all of ``all_tasks[dataset]``; entries for ``known`` datasets not in use are ignored.

    Raises:
        ValueError: not a dict, an unknown dataset, or an unknown task name.
    """
    value = parse_param(name, value)
    if value is None:
        return {d: list(ts) for d, ts in all_tasks.items()}
    if not isinstance(value, Mapping):
        raise ValueError(f"parameter {name} must be {{dataset: [task names]}} or None, got "
                         f"{value!r}. Example: -p {name} '{{\"shapes\": [\"shape\", \"color\"]}}'")
    unknown = [d for d in value if d not in all_tasks and d not in known]
    if unknown:
        raise ValueError(f"parameter {name} names unknown dataset(s) {unknown}; datasets: "
                         f"{sorted(set(known) | set(all_tasks))}.")
    return {d: check_choices(f"{name}[{d!r}]", value[d], list(ts)) if d in value else list(ts)
            for d, ts in all_tasks.items()}


def check_seeds(name: str, value: Any) -> list[int]:
    """A non-empty list of distinct non-negative ints (papermill: ``-p SEEDS "[0,1,2]"``);
    the first two of them at the :func:`reduced` size."""
    value = parse_param(name, value)
    value = [value] if _is_int(value) else value
    seeds = _distinct(value, lambda s: _is_int(s) and s >= 0)
    if seeds is None:
        raise ValueError(f"parameter {name} must be a non-empty list of distinct non-negative "
                         f'integers, got {value!r}. Example: papermill ... -p {name} "[0,1,2]"')
    if reduced() and len(seeds) > REDUCED_SEEDS:
        print(f"reduced size for tests (${REDUCED_ENV}=1): {name} {seeds} -> "
              f"{seeds[:REDUCED_SEEDS]}")
        seeds = seeds[:REDUCED_SEEDS]
    return seeds


def check_epochs(name: str, value: Any, datasets: Sequence[str] | None = None
                 ) -> int | dict[str, int]:
    """An epoch budget: an int >= 1, or with ``datasets`` one for all of them or
    ``{dataset: int}`` (see :func:`per_dataset`); at the :func:`reduced` size a fifth of each
    budget, at least two epochs (never more than given).

    Raises:
        ValueError: a non-integer, a value below 1, or a dict missing a dataset.

    Introduced in notebook 01.
    """
    full = check_int(name, value) if datasets is None else per_dataset(name, value, datasets)
    return _reduce(name, full,
                   lambda e: min(e, max(2, -(-e // REDUCED_EPOCH_DIVISOR))))


def check_n_train(name: str, value: Any, minimum: int = 64,
                  datasets: Sequence[str] | None = None) -> Any:
    """A training-set size >= ``minimum``: an int, a list of distinct ints (sizes to
    compare), or with ``datasets`` one for all of them or ``{dataset: int}``; at the
    :func:`reduced` size an eighth of each size, at least ``minimum``.

    Raises:
        ValueError: a non-integer, a value below ``minimum``, a repeated size, or a dict
            missing a dataset.

    Introduced in notebook 01.
    """
    if datasets is not None:
        full: Any = per_dataset(name, value, datasets, minimum)
    elif isinstance(parse_param(name, value), (list, tuple)):
        full = check_int_list(name, value, minimum)
    else:
        full = check_int(name, value, minimum)
    return _reduce(name, full, lambda n: max(minimum, n // REDUCED_DATA_DIVISOR))


def check_int_list(name: str, value: Any, minimum: int = 1, maximum: int | None = None
                   ) -> list[int]:
    """A non-empty list of distinct ints in ``[minimum, maximum]`` (one int is allowed;
    papermill: ``-p N_TRAIN "[100,200,400]"``)."""
    value = parse_param(name, value)
    items = _distinct(value, lambda v: _is_int(v) and v >= minimum
                      and (maximum is None or v <= maximum))
    if items is None:
        top = "inf" if maximum is None else maximum
        raise ValueError(f"parameter {name} must be a non-empty list of distinct integers in "
                         f"[{minimum}, {top}], got {value!r}. Example: papermill ... -p {name} "
                         f'"[{minimum}, {minimum + 1}]"')
    return items


def check_bool(name: str, value: Any) -> bool:
    """``True`` or ``False`` (papermill: ``-p NAME True``); anything else is an error."""
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    if not isinstance(value, bool):
        raise ValueError(f"parameter {name} must be True or False, got {value!r}. Example: "
                         f"papermill ... -p {name} True")
    return bool(value)


def check_op_groups(name: str, value: Any) -> dict[str, list[str]]:
    """Augmentation op groups ``{group: [op names]}``, or op names (one group per op).

    Single-image ops but ``identity``, each in one group (papermill:
    ``-p OPS '{"geometric": ["hflip","rotate"], "colour": ["hue"]}'``).
    """
    value = parse_param(name, value)
    value = [value] if isinstance(value, str) else value
    if isinstance(value, (list, tuple)):
        value = {str(o): [o] for o in value}
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"parameter {name} must be {{group: [op names]}} or a list of op "
                         f"names, got {value!r}. Example: -p {name} '[\"hflip\", \"rotate\"]'")
    allowed = [o for o in OP_NAMES if o not in MIXING_OPS and o != "identity"]
    groups = {str(g): check_choices(f"{name}[{g!r}]", ops, allowed) for g, ops in value.items()}
    counts = Counter(o for ops in groups.values() for o in ops)
    repeated = sorted(o for o, k in counts.items() if k > 1)
    if repeated:
        raise ValueError(f"parameter {name}: op(s) {repeated} appear in more than one group; "
                         "put each op in one group.")
    return groups


def check_rand_augment_candidates(name: str, value: Any) -> dict[str, tuple[int, float]]:
    """RandAugment candidates ``{label: [N, M]}``: ops per image ``N >= 1`` and magnitude
    ``M`` in ``[0, 10]`` (papermill: ``-p CANDIDATES '{"N1M5": [1, 5]}'``)."""
    value = parse_param(name, value)
    if not (isinstance(value, Mapping) and value and all(
            isinstance(spec, (list, tuple)) and len(spec) == 2 and _is_int(spec[0])
            and spec[0] >= 1 and isinstance(spec[1], (int, float)) and 0 <= spec[1] <= 10
            for spec in value.values())):
        raise ValueError(f"parameter {name} must be {{label: [N, M]}} with N >= 1 ops per image "
                         f"and a magnitude M in [0, 10], got {value!r}. Example: -p {name} "
                         "'{\"N1M5\": [1, 5], \"N2M9\": [2, 9]}'")
    return {str(label): (int(n), float(m)) for label, (n, m) in value.items()}


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"parameter {name} must be one of {list(choices)}, got {value!r}.")
    return value


def check_choices(name: str, value: Any, choices: Sequence[str]) -> list[str]:
    """A non-empty list of distinct values from ``choices`` (a single string is allowed)."""
    value = parse_param(name, value)
    value = [value] if isinstance(value, str) else value
    if not isinstance(value, (list, tuple)) or not value:
        raise ValueError(f"parameter {name} must be a non-empty list from {list(choices)}, "
                         f"got {value!r}.")
    for v in value:
        check_choice(name, v, choices)
    return list(dict.fromkeys(value))


def per_dataset(name: str, value: Any, datasets: Sequence[str], minimum: int = 1
                ) -> dict[str, int]:
    """An int parameter given once for all datasets or as ``{dataset: int}``.

    Raises:
        ValueError: a non-integer, a value below ``minimum``, or a dict missing a dataset.
    """
    value = parse_param(name, value)
    if isinstance(value, Mapping):
        missing = [d for d in datasets if d not in value]
        if missing:
            raise ValueError(f"parameter {name} has no value for dataset(s) {missing}; give "
                             f"one number for all, or a dict with keys {list(datasets)}.")
        return {d: check_int(f"{name}[{d!r}]", value[d], minimum) for d in datasets}
    return {d: check_int(name, value, minimum) for d in datasets}


def grid_executor(workers: Any, scheduler: Any = None):
    """The executor for a notebook's grid from its ``WORKERS`` and ``SCHEDULER`` parameters:
    ``None`` (train here), a local :func:`~mtl_utils.experiments.process_pool`, or, given a
    Dask scheduler's address, a Dask client's executor whose workers get one thread each
    (start one single-threaded worker process per core: ``dask worker <address>
    --nworkers auto --nthreads 1``).

    Raises:
        ValueError: a bad ``WORKERS``.
        ImportError: a scheduler given but Dask's ``distributed`` not installed (the fix).

    Introduced in notebook 06.
    """
    workers = check_int("WORKERS", workers, 0)
    if scheduler:
        try:
            from distributed import Client  # optional: only for clusters
        except ImportError as err:
            raise ImportError("parameter SCHEDULER needs Dask: pip install 'distributed' "
                              "(the version in requirements.txt).") from err
        client = Client(str(scheduler))
        client.run(limit_threads, 1)
        return client.get_executor()
    return process_pool(workers) if workers else None
