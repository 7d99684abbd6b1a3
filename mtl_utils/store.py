"""The results store: ``<folder>/<experiment>/<config slug>__seed<k>.csv`` holds the rows
of one finished ``(config, seed)`` and ``....history.csv`` its per-epoch log, merged on read.

Files are written atomically, the rows last (rows mean "done"), and runs never share a file,
so several processes or machines may write one experiment at once with no lock. A first-layout
folder (``<folder>/<experiment>.csv`` holding every row) is migrated on first use.

Introduced in notebook 01; resuming a grid in notebook 06.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

ROW_COLUMNS: tuple[str, ...] = (
    "experiment", "config", "seed", "task", "metric", "value", "split", "epochs",
    "seconds", "epoch_seconds", "step_ms", "n_train", "params", "fingerprint")
HISTORY_COLUMNS: tuple[str, ...] = ("experiment", "config", "seed", "epoch", "key", "value")
_DTYPES = {"config": str, "task": str, "metric": str, "experiment": str, "key": str,
           "fingerprint": str}  # a hex digest like "47633587e438" must not read as a float


def atomic_write_csv(df: pd.DataFrame, path: Path) -> None:
    """Write ``df`` to ``path`` via a temporary file in the same folder and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            df.to_csv(f, index=False)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_slug(config: str, seed: int) -> str:
    """The file stem of one run: the config name made file-safe, a short hash of the name
    (two names that slug alike stay apart), and the seed."""
    safe = re.sub(r"[^A-Za-z0-9_.=+-]+", "-", config).strip("-")[:60] or "config"
    digest = hashlib.sha1(config.encode()).hexdigest()[:6]
    return f"{safe}-{digest}__seed{int(seed)}"


class ResultsStore:
    """Result rows and training histories under ``folder`` (created on first write).

    Raises:
        ValueError: ``folder`` exists and is not a folder (a file), naming it and the fix.

    Introduced in notebook 01; resuming a grid in notebook 06.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)
        if self.folder.exists() and not self.folder.is_dir():
            raise ValueError(
                f"results folder {str(self.folder)!r} exists and is not a folder; the store "
                "keeps one folder per experiment inside it. Give RESULTS_DIR a folder path "
                "(a new one is created), or move that file away.")

    def __repr__(self) -> str:
        return f"ResultsStore({str(self.folder)!r})"

    def _dir(self, experiment: str) -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", experiment):
            raise ValueError(f"experiment name {experiment!r} must use letters, digits, "
                             "'_', '-' or '.' (it names a folder).")
        self._migrate(experiment)
        return self.folder / experiment

    def _files(self, experiment: str, history: bool = False) -> list[Path]:
        # glob finds nothing in a folder that does not exist yet
        return sorted(p for p in self._dir(experiment).glob("*.csv")
                      if p.name.endswith(".history.csv") == history)

    def experiments(self) -> list[str]:
        """The experiments stored in the folder."""
        if not self.folder.is_dir():
            return []
        return sorted(p.name for p in self.folder.iterdir() if p.is_dir())

    def load(self, experiment: str) -> pd.DataFrame:
        """All result rows of an experiment (an empty frame if none)."""
        return _concat([pd.read_csv(p, dtype=_DTYPES) for p in self._files(experiment)],
                       ROW_COLUMNS)

    def load_history(self, experiment: str | Iterable[str]) -> pd.DataFrame:
        """All per-epoch history rows of an experiment, or of several (e.g. the
        ``rows.experiment.unique()`` of a resampled grid); an empty frame if none."""
        names = [experiment] if isinstance(experiment, str) else list(experiment)
        return _concat([pd.read_csv(p, dtype=_DTYPES) for name in names
                        for p in self._files(name, history=True)], HISTORY_COLUMNS)

    def done(self, experiment: str, config: str, seed: int) -> pd.DataFrame:
        """The stored rows of one ``(config, seed)`` (empty if it has not run)."""
        path = self._dir(experiment) / f"{run_slug(config, seed)}.csv"
        if not path.exists():
            return pd.DataFrame(columns=list(ROW_COLUMNS))
        return pd.read_csv(path, dtype=_DTYPES)

    def append(self, rows: pd.DataFrame, history: pd.DataFrame | None = None) -> None:
        """Store the rows (and history rows) of runs, each ``(config, seed)`` in its own
        files, written atomically; rows must name one experiment."""
        experiments = set(rows["experiment"])
        if len(experiments) != 1:
            raise ValueError(f"append takes rows of one experiment, got {sorted(experiments)}.")
        _write_runs(self._dir(experiments.pop()), rows, history)

    def _migrate(self, experiment: str) -> None:
        """Split a first-layout ``<experiment>.csv`` (and its history) into run files."""
        old = self.folder / f"{experiment}.csv"
        if not old.is_file():
            return
        old_history = self.folder / f"{experiment}_history.csv"
        rows = pd.read_csv(old, dtype=_DTYPES)
        history = pd.read_csv(old_history, dtype=_DTYPES) if old_history.is_file() else None
        folder = self.folder / experiment
        _write_runs(folder, rows, history)
        for path in (old, old_history):
            # another process may have migrated it at the same time
            with contextlib.suppress(FileNotFoundError):
                os.replace(path, path.with_name(path.name + ".migrated"))
        print(f"results store: moved {old.name} ({len(rows)} rows) to one file per "
              f"(config, seed) in {folder}/; the old file is kept as {old.name}.migrated")


def _write_runs(folder: Path, rows: pd.DataFrame, history: pd.DataFrame | None) -> None:
    """Each ``(config, seed)``'s rows (and history rows) to its own files in ``folder``."""
    for (config, seed), part in rows.groupby(["config", "seed"], sort=False):
        stem = run_slug(config, seed)
        if history is not None and len(history):
            mine = history[(history["config"] == config) & (history["seed"] == seed)]
            if len(mine):
                atomic_write_csv(mine, folder / f"{stem}.history.csv")
        atomic_write_csv(part, folder / f"{stem}.csv")  # last: rows mean "done"


def _concat(frames: list[pd.DataFrame], columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=list(columns))
