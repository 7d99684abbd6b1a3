"""Shared fixtures. Notebooks under nbval write results to a fresh folder per session."""

import os
import tempfile

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402
import pytest  # noqa: E402

# Agg for this process only. Not through MPLBACKEND: nbval's kernels inherit the environment,
# and a kernel on Agg shows no figures, so cells whose outputs nbval compares would differ.
matplotlib.use("Agg")


def pytest_configure(config):
    # nbval kernels inherit this: every test session runs the notebooks against an empty
    # results store, so they train for real instead of reading results of an earlier run.
    if "MTL_RESULTS_DIR" not in os.environ:
        os.environ["MTL_RESULTS_DIR"] = tempfile.mkdtemp(prefix="mtl-results-")


@pytest.fixture(scope="session")
def shapes():
    from mtl_utils.data import make_shapes

    return make_shapes(96, seed=0, n_val=32, n_test=48)


@pytest.fixture(scope="session")
def digits():
    from mtl_utils.data import make_multi_digits

    return make_multi_digits(96, seed=0, n_val=32, n_test=48)
