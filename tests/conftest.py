"""Shared fixtures (the session's environment is set in the root conftest.py)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import matplotlib  # noqa: E402
import pytest  # noqa: E402

# Agg for this process only. Not through MPLBACKEND: nbval's kernels inherit the environment,
# and a kernel on Agg shows no figures, so cells whose outputs nbval compares would differ.
matplotlib.use("Agg")


@pytest.fixture(scope="session")
def shapes():
    from mtl_utils.data import make_shapes

    return make_shapes(96, seed=0, n_val=32, n_test=48)


@pytest.fixture(scope="session")
def digits():
    from mtl_utils.data import make_multi_digits

    return make_multi_digits(96, seed=0, n_val=32, n_test=48)


@pytest.fixture(scope="session")
def scene_set():
    """Twelve 48x48 scenes (notebook 11): their content, cameras, a noise-free render and
    the dense tasks."""
    import numpy as np

    from mtl_utils import scenes

    content, cameras = scenes.draw_scenes(12, 48, np.random.default_rng(7))
    return content, cameras, scenes.render(content, cameras), scenes.dense_tasks(
        scenes.FOCAL_FRACTION * 48)
