"""Wall time of a small grid run sequentially and on two workers, on this machine.

The grid (``--configs`` configurations x ``--seeds`` seeds of the course's shared model on
``make_shapes``) is run three times into fresh results stores: sequentially in this process
(TensorFlow using every core), on ``experiments.process_pool(2)`` (two spawned processes,
one TensorFlow thread each) and on a local Dask cluster with two single-threaded workers
(``distributed``). Figures only: training is CPU-bound, so workers beyond the number of
cores cannot make it faster; on 2 cores the gain, if any, comes from overlapping one run's
fixed costs (start-up, tracing, evaluation) with another run's training.

Run ``python benchmarks/grid_parallel.py --help``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from mtl_utils import experiments as ex  # noqa: E402
from mtl_utils.data import make_shapes  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=500, help="training images")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--configs", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2)
    ap.add_argument("--no-dask", action="store_true", help="skip the Dask cluster")
    args = ap.parse_args(argv)

    data = make_shapes(args.n, seed=0, n_val=100, n_test=500)
    configs = [ex.Config(f"lr{i}", tasks=["shape", "color", "position"], epochs=args.epochs,
                         learning_rate=1e-3 * (i + 1)) for i in range(args.configs)]
    seeds = list(range(args.seeds))
    runs = len(configs) * len(seeds)
    print(f"{os.cpu_count()} CPU cores; grid of {runs} runs ({args.configs} configs x "
          f"{args.seeds} seeds, {args.n} shapes, {args.epochs} epochs)")

    def timed(name, executor=None):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            rows = ex.run_grid(data, configs, seeds, "bench", ex.ResultsStore(folder),
                               progress=False, executor=executor)
            seconds = time.perf_counter() - start
        print(f"  {name:<42} {seconds:7.1f} s")
        return seconds, rows

    base, rows = timed("sequential (this process)")
    with ex.process_pool(2) as pool:
        pooled, rows_pool = timed("process_pool(2), 1 thread each", pool)
    print(f"  ratio sequential / process pool: {base / pooled:.2f}x")
    keys = ["config", "seed", "task", "metric", "split"]

    def gap(x, y):
        a, b = x.sort_values(keys)["value"].to_numpy(), y.sort_values(keys)["value"].to_numpy()
        return float(np.max(np.abs(a - b))), bool((a == b).all())

    # This process runs TensorFlow on every core; each worker on one thread, which sums in
    # another order. Training amplifies that rounding, so compare like with like.
    print("  process pool vs sequential (2 threads vs 1): largest difference "
          f"{gap(rows, rows_pool)[0]:.3g}")
    if not args.no_dask:
        from distributed import Client, LocalCluster

        with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                          dashboard_address=None) as cluster, Client(cluster) as client:
            client.run(ex.limit_threads, 1)
            dasked, rows_dask = timed("Dask LocalCluster, 2 workers x 1 thread",
                                      client.get_executor())
        print(f"  ratio sequential / Dask: {base / dasked:.2f}x")
        largest, same = gap(rows_pool, rows_dask)
        print(f"  Dask vs process pool (1 thread each): largest difference {largest:.3g}, "
              f"bit-identical: {same}")


if __name__ == "__main__":
    main()
