"""Small helpers for the notebooks' first cells: an honest environment report, seeding,
and checks of papermill parameters that fail with a message naming the fix.

Introduced in notebook 00.
"""

from __future__ import annotations

import ast
import os
import platform
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from .augment import MIXING_OPS, OP_NAMES
from .experiments import limit_threads, process_pool

RESULTS_ENV = "MTL_RESULTS_DIR"
DEFAULT_RESULTS_DIR = "../results"


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
    """The results folder for a notebook's ``RESULTS_DIR`` parameter.

    A value given explicitly (papermill ``-p RESULTS_DIR ...``) is used as is. The default,
    ``"../results"``, is replaced by the ``MTL_RESULTS_DIR`` environment variable when it is
    set: the test suite uses it to run notebooks under nbval against a fresh folder.
    """
    env = os.environ.get(RESULTS_ENV)
    if env and str(path) == DEFAULT_RESULTS_DIR:
        return Path(env)
    return Path(path)


def parse_param(name: str, value: Any) -> Any:
    """A papermill ``-p`` value back to a Python value.

    ``papermill -p SEEDS "[0,1,2]"`` passes lists and dicts as *strings*; this reads a string
    that looks like a list, tuple or dict back with ``ast.literal_eval``. Other values pass
    through unchanged.

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


def check_int(name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ``ValueError`` naming the parameter."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"parameter {name} must be an integer >= {minimum}, got {value!r}. "
                         f"Example: papermill ... -p {name} {max(minimum, 1)}")
    return value


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
    items = value if isinstance(value, (list, tuple)) else [value]
    ok = bool(items) and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                             and low < v < high for v in items)
    if not ok or len(set(items)) != len(items):
        raise ValueError(f"parameter {name} must be a non-empty list of distinct numbers in "
                         f"({low}, {high}), got {value!r}. Example: papermill ... -p {name} "
                         f'"[{low + (high - low) / 4:g}, {low + (high - low) / 2:g}]"')
    return [float(v) for v in items]


def per_dataset_tasks(name: str, value: Any, all_tasks: Mapping[str, Sequence[str]],
                      known: Sequence[str] = ("shapes", "digits")) -> dict[str, list[str]]:
    """Task names per dataset: ``{dataset: [task, ...]}``; a dataset left out, or ``None``
    for all datasets, keeps all its tasks; entries for known datasets that are not in use
    are ignored.

    Args:
        all_tasks: ``{dataset: names of its tasks}`` for the datasets in use.
        known: every dataset name a key may take.

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
    """A non-empty list of distinct non-negative ints (papermill: ``-p SEEDS "[0,1,2]"``)."""
    value = parse_param(name, value)
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]
    if (not isinstance(value, (list, tuple)) or not value
            or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in value)
            or len(set(value)) != len(value)):
        raise ValueError(f"parameter {name} must be a non-empty list of distinct non-negative "
                         f'integers, got {value!r}. Example: papermill ... -p {name} "[0,1,2]"')
    return list(value)


def check_int_list(name: str, value: Any, minimum: int = 1, maximum: int | None = None
                   ) -> list[int]:
    """A non-empty list of distinct ints in ``[minimum, maximum]`` (one int is allowed).

    Papermill: ``-p N_TRAIN "[100,200,400]"``.
    """
    value = parse_param(name, value)
    items = value if isinstance(value, (list, tuple)) else [value]
    ok = bool(items) and all(isinstance(v, int) and not isinstance(v, bool) for v in items)
    if (not ok or len(set(items)) != len(items) or min(items) < minimum
            or (maximum is not None and max(items) > maximum)):
        top = "inf" if maximum is None else maximum
        raise ValueError(f"parameter {name} must be a non-empty list of distinct integers in "
                         f"[{minimum}, {top}], got {value!r}. Example: papermill ... -p {name} "
                         f'"[{minimum}, {minimum + 1}]"')
    return list(items)


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

    Only single-image ops are allowed (not ``identity`` nor the mixing ops), and an op may
    belong to one group only. Papermill: ``-p OPS '["hflip","rotate"]'`` or
    ``-p OPS '{"geometric": ["hflip","rotate"], "colour": ["hue"]}'``.
    """
    value = parse_param(name, value)
    if isinstance(value, str):
        value = [value]
    if isinstance(value, (list, tuple)):
        value = {str(o): [o] for o in value}
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"parameter {name} must be {{group: [op names]}} or a list of op "
                         f"names, got {value!r}. Example: -p {name} '[\"hflip\", \"rotate\"]'")
    allowed = [o for o in OP_NAMES if o not in MIXING_OPS and o != "identity"]
    groups = {str(g): check_choices(f"{name}[{g!r}]", ops, allowed) for g, ops in value.items()}
    flat = [o for ops in groups.values() for o in ops]
    repeated = sorted({o for o in flat if flat.count(o) > 1})
    if repeated:
        raise ValueError(f"parameter {name}: op(s) {repeated} appear in more than one group; "
                         "put each op in one group.")
    return groups


def check_rand_augment_candidates(name: str, value: Any) -> dict[str, tuple[int, float]]:
    """RandAugment candidates ``{label: [N, M]}``: ops per image ``N >= 1`` and magnitude
    ``M`` in ``[0, 10]`` (papermill: ``-p CANDIDATES '{"N1M5": [1, 5]}'``)."""
    value = parse_param(name, value)
    ok = isinstance(value, Mapping) and bool(value)
    out = {}
    for label, spec in (value.items() if ok else []):
        if (not isinstance(spec, (list, tuple)) or len(spec) != 2
                or isinstance(spec[0], bool) or not isinstance(spec[0], int) or spec[0] < 1
                or not isinstance(spec[1], (int, float)) or not 0 <= spec[1] <= 10):
            ok = False
            break
        out[str(label)] = (int(spec[0]), float(spec[1]))
    if not ok:
        raise ValueError(f"parameter {name} must be {{label: [N, M]}} with N >= 1 ops per image "
                         f"and a magnitude M in [0, 10], got {value!r}. Example: -p {name} "
                         "'{\"N1M5\": [1, 5], \"N2M9\": [2, 9]}'")
    return out


def check_choice(name: str, value: Any, choices: Sequence[str]) -> str:
    """``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"parameter {name} must be one of {list(choices)}, got {value!r}.")
    return value


def check_choices(name: str, value: Any, choices: Sequence[str]) -> list[str]:
    """A non-empty list of distinct values from ``choices`` (a single string is allowed)."""
    value = parse_param(name, value)
    if isinstance(value, str):
        value = [value]
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
    ``None`` (train here, one run after the other) when ``WORKERS`` is 0 and no scheduler is
    given; a local :func:`~mtl_utils.experiments.process_pool` of ``WORKERS`` processes; or,
    with ``SCHEDULER`` (a Dask scheduler's address, ``"tcp://host:8786"``), the executor of
    a Dask client on that cluster, each of whose worker processes is limited to one
    TensorFlow thread (start one worker process per core: ``dask worker <address>
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
