"""The results store: tidy result rows and training histories in CSV files, written
atomically, read back to resume a grid.

Introduced in notebook 01; resuming a grid in notebook 06.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import pandas as pd

ROW_COLUMNS: tuple[str, ...] = (
    "experiment", "config", "seed", "task", "metric", "value", "split", "epochs",
    "seconds", "epoch_seconds", "step_ms", "n_train", "params", "fingerprint")
HISTORY_COLUMNS: tuple[str, ...] = ("experiment", "config", "seed", "epoch", "key", "value")


def _atomic_write_csv(df: pd.DataFrame, path: Path) -> None:
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


class ResultsStore:
    """Append-only CSV tables under a folder, written atomically, read back to resume.

    Each experiment has ``<folder>/<experiment>.csv`` (result rows) and
    ``<folder>/<experiment>_history.csv`` (per-epoch training logs). Every append rewrites
    the file through a temporary file and an atomic rename, so a crash leaves either the
    old file or the new one, never half a file; rows of one ``(config, seed)`` are written
    together.

    Introduced in notebook 01; resuming a grid in notebook 06.
    """

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def _path(self, experiment: str, kind: str = "") -> Path:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", experiment):
            raise ValueError(f"experiment name {experiment!r} must use letters, digits, "
                             "'_', '-' or '.' (it names a file).")
        return self.folder / f"{experiment}{kind}.csv"

    def load(self, experiment: str) -> pd.DataFrame:
        """All result rows of an experiment (an empty frame if none)."""
        path = self._path(experiment)
        if not path.exists():
            return pd.DataFrame(columns=list(ROW_COLUMNS))
        return pd.read_csv(path, dtype={"config": str, "task": str, "metric": str})

    def load_history(self, experiment: str) -> pd.DataFrame:
        """All per-epoch history rows of an experiment (an empty frame if none)."""
        path = self._path(experiment, "_history")
        if not path.exists():
            return pd.DataFrame(columns=list(HISTORY_COLUMNS))
        return pd.read_csv(path)

    def done(self, experiment: str, config: str, seed: int) -> pd.DataFrame:
        """The stored rows of one ``(config, seed)`` (empty if it has not run)."""
        df = self.load(experiment)
        return df[(df["config"] == config) & (df["seed"] == seed)]

    def append(self, rows: pd.DataFrame, history: pd.DataFrame | None = None) -> None:
        """Add rows (and history rows) atomically; rows must name one experiment."""
        experiments = set(rows["experiment"])
        if len(experiments) != 1:
            raise ValueError(f"append takes rows of one experiment, got {sorted(experiments)}.")
        exp = experiments.pop()
        if history is not None and len(history):
            old = self.load_history(exp)
            _atomic_write_csv(pd.concat([old, history], ignore_index=True)
                              if len(old) else history, self._path(exp, "_history"))
        old = self.load(exp)
        _atomic_write_csv(pd.concat([old, rows], ignore_index=True) if len(old) else rows,
                          self._path(exp))
