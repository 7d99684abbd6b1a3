"""The results store: atomic per-run files, shared by concurrent writers without loss,
resumable after a kill, migrated from the first layout; grids on executors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mtl_utils import experiments as ex
from mtl_utils.store import ROW_COLUMNS, ResultsStore, run_slug

ROOT = Path(__file__).resolve().parent.parent
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]),
           TF_CPP_MIN_LOG_LEVEL="3")


def _rows(config="c", seed=0, value=1.0, experiment="e"):
    return pd.DataFrame([dict(experiment=experiment, config=config, seed=seed, task="acc",
                              metric="accuracy", value=value, split="test", epochs=1,
                              seconds=0.1, n_train=10, params=5, fingerprint="f")])


def test_store_appends_and_reads_back(tmp_path):
    store = ResultsStore(tmp_path)
    store.append(_rows(seed=0))
    store.append(_rows(seed=1, value=2.0))
    df = store.load("e")
    assert sorted(df["seed"]) == [0, 1] and sorted(df["value"]) == [1.0, 2.0]
    assert len(store.done("e", "c", 1)) == 1 and len(store.done("e", "c", 2)) == 0
    # one file per run, named so a person can read the folder
    assert sorted(p.name for p in (tmp_path / "e").iterdir()) == [
        f"{run_slug('c', 0)}.csv", f"{run_slug('c', 1)}.csv"]
    assert store.experiments() == ["e"]


@pytest.mark.parametrize("digest", ["47633587e438", "1e5", "0012"])
def test_fingerprints_that_look_like_numbers_read_back_as_text(tmp_path, digest):
    # a hex digest such as 47633587e438 once read back as float inf, so a finished run
    # looked stale to the next notebook that reused it
    store = ResultsStore(tmp_path)
    rows = _rows()
    rows["fingerprint"] = digest
    store.append(rows)
    for df in (store.load("e"), store.done("e", "c", 0)):
        assert df["fingerprint"].tolist() == [digest]


def test_runs_with_names_that_slug_alike_stay_apart(tmp_path):
    store = ResultsStore(tmp_path)
    store.append(_rows(config="w=0.5"))
    store.append(_rows(config="w 0.5", value=2.0))
    assert sorted(store.load("e")["config"]) == ["w 0.5", "w=0.5"]


def test_store_survives_an_interrupted_write(tmp_path, monkeypatch):
    store = ResultsStore(tmp_path)
    store.append(_rows(seed=0))

    def crash(*args, **kwargs):
        raise KeyboardInterrupt("killed mid-write")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(KeyboardInterrupt):
        store.append(_rows(seed=1))
    monkeypatch.undo()
    assert not [p for p in (tmp_path / "e").iterdir() if p.name.endswith(".tmp")]
    assert list(store.load("e")["seed"]) == [0]


def test_bad_store_paths_and_names_fail_at_once(tmp_path):
    with pytest.raises(ValueError, match="names a folder"):
        ResultsStore(tmp_path).load("../escape")
    file = tmp_path / "results"
    file.write_text("not a folder")
    with pytest.raises(ValueError, match=f"'{file}' exists and is not a folder.*RESULTS_DIR"):
        ResultsStore(file)


def test_a_first_layout_folder_is_migrated_with_a_message(tmp_path, capsys):
    old = pd.concat([_rows(seed=0), _rows(seed=1, value=2.0)])
    old.to_csv(tmp_path / "e.csv", index=False)
    pd.DataFrame([dict(experiment="e", config="c", seed=1, epoch=1, key="loss", value=0.5)]
                 ).to_csv(tmp_path / "e_history.csv", index=False)
    store = ResultsStore(tmp_path)
    assert sorted(store.load("e")["value"]) == [1.0, 2.0]
    assert "moved e.csv (2 rows) to one file per (config, seed)" in capsys.readouterr().out
    assert (tmp_path / "e.csv.migrated").exists() and not (tmp_path / "e.csv").exists()
    assert list(store.load_history("e")["seed"]) == [1]


def test_histories_of_several_experiments_load_together(tmp_path):
    store = ResultsStore(tmp_path)
    for e in ("d0", "d1"):
        store.append(_rows(seed=0).assign(experiment=e), pd.DataFrame([dict(
            experiment=e, config="c", seed=0, epoch=1, key="loss", value=0.5)]))
    assert sorted(store.load_history(["d0", "d1"])["experiment"]) == ["d0", "d1"]
    assert list(store.load_history("d1")["experiment"]) == ["d1"]
    assert store.load_history([]).empty


WRITER = textwrap.dedent("""
    import sys
    import pandas as pd
    from mtl_utils.store import ResultsStore
    folder, writer, first, last = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    store = ResultsStore(folder)
    for seed in range(first, last):
        store.append(pd.DataFrame([dict(experiment="shared", config=writer, seed=seed,
                                        task=t, metric="accuracy", value=seed, split="test",
                                        epochs=1, seconds=0.1, n_train=1, params=1,
                                        fingerprint="f") for t in ("a", "b")]))
""")


def test_concurrent_writers_lose_no_row(tmp_path):
    # Three processes write one experiment at the same time; two of them overlap on the
    # same runs (duplicated work): every run ends up once, with all its rows.
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(tmp_path), name, a, b],
                              env=ENV)
             for name, a, b in (("x", "0", "60"), ("y", "0", "60"), ("y", "30", "90"))]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0]
    rows = ResultsStore(tmp_path).load("shared")
    runs = rows.groupby(["config", "seed"]).size()
    assert len(runs) == 60 + 90 and (runs == 2).all()
    assert not [p for p in (tmp_path / "shared").iterdir() if p.suffix == ".tmp"]


# ---------------------------------------------------------------------------- grids
GRID = textwrap.dedent("""
    import sys, time
    from mtl_utils import experiments as ex
    from mtl_utils.data import make_shapes
    data = make_shapes(64, seed=0, n_val=16, n_test=32)
    configs = [ex.Config(f"c{i}", tasks=["shape", "position"], epochs=2, batch_size=32,
                         model_kwargs={"filters": (4, 4)}) for i in range(2)]
    ex.run_grid(data, configs, [0, 1, 2], "grid", ex.ResultsStore(sys.argv[1]))
""")


def _finished_runs(folder: Path) -> list[Path]:
    grid = folder / "grid"
    return [p for p in grid.glob("*.csv") if not p.name.endswith(".history.csv")] if (
        grid.is_dir()) else []


def test_a_grid_killed_with_sigkill_resumes_with_every_run_once(tmp_path):
    proc = subprocess.Popen([sys.executable, "-c", GRID, str(tmp_path)], env=ENV,
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    deadline = time.time() + 240
    while len(_finished_runs(tmp_path)) < 2 and time.time() < deadline:
        assert proc.poll() is None, "the grid ended before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(_finished_runs(tmp_path))
    assert 2 <= killed_at < 6, "kill the grid partway, not before or after"
    for path in _finished_runs(tmp_path):  # no half-written run: every file is whole
        assert len(pd.read_csv(path)) == 2 * 2  # 2 tasks x (primary metric + loss)
    again = subprocess.run([sys.executable, "-c", GRID, str(tmp_path)], env=ENV, text=True,
                           capture_output=True, timeout=300)
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("found in the results store, skipped") == killed_at
    rows = ResultsStore(tmp_path).load("grid")
    runs = rows.groupby(["config", "seed"]).size()
    assert len(runs) == 6 and (runs == 4).all()  # every (config, seed) once, complete


@pytest.fixture(scope="module")
def small():
    from mtl_utils.data import make_shapes

    return make_shapes(64, seed=0, n_val=16, n_test=32)


def _configs(n=2):
    return [ex.Config(f"c{i}", tasks=["shape", "position"], epochs=2, batch_size=32,
                      learning_rate=2e-3 * (i + 1), model_kwargs={"filters": (4, 4)})
            for i in range(n)]


def test_a_failing_config_keeps_the_rows_of_the_others(small, tmp_path):
    class Broken:  # a policy that fails when the pipeline is built, mid-grid
        def __init__(self, tasks):
            self.tasks = tasks

        def __call__(self, images, labels, seed):
            raise RuntimeError("a bad augmentation policy")

    def broken(tasks):
        return Broken(tasks)

    configs = _configs(2) + [ex.Config("bad", tasks=["shape"], epochs=1, augment=broken,
                                       model_kwargs={"filters": (4, 4)})]
    store = ResultsStore(tmp_path)
    failed = "(?s)'bad' seed 0: RuntimeError:.*a bad augmentation policy"
    with pytest.raises(ex.GridError, match=failed) as info:
        ex.run_grid(small, configs[:1] + configs[2:] + configs[1:2], [0], "grid", store,
                    progress=False)
    assert set(store.load("grid")["config"]) == {"c0", "c1"}  # run after the failure too
    assert set(info.value.rows["config"]) == {"c0", "c1"}


def test_a_grid_on_a_process_pool_equals_the_sequential_grid(small, tmp_path):
    sequential = ex.run_grid(small, _configs(), [0, 1], "seq", progress=False)
    store = ResultsStore(tmp_path)
    with ex.process_pool(2) as pool:
        parallel = ex.run_grid(small, _configs(), [0, 1], "par", store, progress=False,
                               executor=pool)
    keys = ["config", "seed", "task", "metric", "split"]
    a, b = sequential.sort_values(keys), parallel.sort_values(keys)
    # the same runs; the workers' TensorFlow uses one thread each, which sums in another
    # order: equal up to float rounding
    np.testing.assert_allclose(a["value"].to_numpy(), b["value"].to_numpy(), rtol=1e-4)
    assert list(parallel.columns) == list(ROW_COLUMNS)
    assert len(store.load("par").groupby(["config", "seed"])) == 4  # each worker stored


def _draw(seed):  # module level: workers unpickle it by reference
    from mtl_utils.data import make_shapes

    return make_shapes(64, seed=seed, n_val=16, n_test=32)


def test_a_resampled_grid_on_a_process_pool_equals_the_sequential_one(tmp_path):
    def name(data):
        return ex.experiment_name("re", data)

    sequential = ex.run_resampled(_draw, _configs(1), [0, 1], name, progress=False)
    store = ResultsStore(tmp_path)
    with ex.process_pool(2) as pool:
        parallel = ex.run_resampled(_draw, _configs(1), [0, 1], name, store, progress=False,
                                    executor=pool)
    keys = ["config", "seed", "task", "metric", "split"]
    # each worker made its seed's own draw: equal up to the workers' float rounding
    np.testing.assert_allclose(sequential.sort_values(keys)["value"].to_numpy(),
                               parallel.sort_values(keys)["value"].to_numpy(), rtol=1e-4)
    assert set(parallel["experiment"]) == {"re_shapes_n64_s32_d0", "re_shapes_n64_s32_d1"}
    assert all(len(store.load(e)) for e in set(parallel["experiment"]))


def test_a_grid_on_a_local_dask_cluster_with_two_workers(small, tmp_path):
    distributed = pytest.importorskip("distributed")
    store = ResultsStore(tmp_path)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        rows = ex.run_grid(small, _configs(), [0, 1], "dask", store, progress=False,
                           executor=client.get_executor())
    again = ex.run_grid(small, _configs(), [0, 1], "dask", store, progress=False)  # all stored
    pd.testing.assert_frame_equal(rows.reset_index(drop=True), again.reset_index(drop=True),
                                  check_dtype=False)
    # the seeds' numbers: a worker's event loop must not move the seeds Keras draws from
    sequential = ex.run_grid(small, _configs(), [0, 1], "seq", progress=False)
    keys = ["config", "seed", "task", "metric", "split"]
    np.testing.assert_allclose(rows.sort_values(keys)["value"].to_numpy(),
                               sequential.sort_values(keys)["value"].to_numpy(), rtol=1e-4)
    runs = store.load("dask").groupby(["config", "seed"]).size()
    assert len(runs) == 4 and (runs == 4).all()
