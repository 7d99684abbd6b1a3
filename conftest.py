"""Settings for every test session, unit tests and notebooks alike (this file sits at the
root so that ``pytest notebooks/...`` alone gets them too).

nbval's kernels inherit the environment: every session runs the notebooks against an empty
results store (they train for real instead of reading an earlier run's results) and at the
reduced size of :func:`mtl_utils.notebook.reduced` (two seeds, a fifth of each epoch budget),
so CI time does not grow with the lessons. ``MTL_REDUCED=0 make test`` runs them at their
defaults, as ``make run`` does.
"""

import os
import tempfile


def pytest_configure(config):
    if "MTL_RESULTS_DIR" not in os.environ:
        os.environ["MTL_RESULTS_DIR"] = tempfile.mkdtemp(prefix="mtl-results-")
    os.environ.setdefault("MTL_REDUCED", "1")
