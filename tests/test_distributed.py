"""MultiTaskModel trains unchanged under tf.distribute.MirroredStrategy.

The body runs in a subprocess: two logical CPU devices must be configured before
TensorFlow initialises, which the rest of the test session has already done.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

SCRIPT = textwrap.dedent(
    """
    import json, os
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "2"
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

    import keras
    import numpy as np

    from mtl_utils import weighting as W
    from mtl_utils.models import build_shared_model
    from mtl_utils.tasks import Task

    from toys import SIZE, make_dataset

    TASKS = [Task("shape", "class", num_classes=3), Task("position", "position")]
    train = make_dataset(sample_weight=True)
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    out = {"replicas": mirrored.num_replicas_in_sync, "fit": {}, "exact": {}}

    def replica_values(variable):
        v = getattr(variable, "value", variable)
        if not isinstance(v, tf.distribute.DistributedValues):
            return None
        return [np.asarray(c) for c in v.values]

    def synced(variables):
        report = []
        for var in variables:
            vals = replica_values(var)
            report.append(vals is not None and len(vals) == 2
                          and np.array_equal(vals[0], vals[1]))
        return all(report), len(report)

    # 1. build_shared_model (with batch norm) inside the scope, fit, evaluate: the
    #    strategies that keep state (learned or adaptive weights, random task orders).
    for name in ("uncertainty", "dwa", "gradnorm", "pcgrad"):
        keras.utils.set_random_seed(0)
        with mirrored.scope():
            model = build_shared_model(TASKS, (SIZE, SIZE, 3), filters=(8, 8), hidden=16,
                                       weighting=W.get_strategy(name), learning_rate=3e-3)
        hist = model.fit(train, epochs=3, verbose=0).history
        result = model.evaluate(train, verbose=0, return_dict=True)
        strategy_ok, n_strategy_vars = synced(model.weighting.variables)
        model_ok, _ = synced(model.trainable_weights)
        out["fit"][name] = {
            "task_loss": list(np.add(hist["shape_loss"], hist["position_loss"])),
            "weights": [hist["shape_weight"][-1], hist["position_weight"][-1]],
            "strategy_vars_synced": strategy_ok, "n_strategy_vars": n_strategy_vars,
            "model_vars_synced": model_ok,
            "evaluate_finite": all(np.isfinite(v) for v in result.values()),
        }

    # 2. Without batch norm, two replicas must give what one device gives.
    def dense_model(name):
        keras.utils.set_random_seed(1)
        image = keras.Input((SIZE, SIZE, 3))
        e_in = keras.Input((SIZE, SIZE, 3))
        h = keras.layers.Conv2D(4, 3, strides=2, activation="relu")(e_in)
        h = keras.layers.Dense(8, activation="tanh")(keras.layers.Flatten()(h))
        feats = keras.Model(e_in, h, name="encoder")(image)
        outputs = {"shape": keras.layers.Dense(3, activation="softmax", name="shape")(feats),
                   "position": keras.layers.Dense(2, activation="sigmoid",
                                                  name="position")(feats)}
        model = W.MultiTaskModel(image, outputs, tasks=TASKS)
        kwargs = {"gradnorm": {"optimizer": "sgd", "learning_rate": 0.05}}.get(name, {})
        model.compile(keras.optimizers.SGD(0.3), weighting=W.get_strategy(name, **kwargs))
        return model

    for name in W.STRATEGIES:
        single = dense_model(name)
        single.fit(train, epochs=2, verbose=0)
        with mirrored.scope():
            dist = dense_model(name)
        dist.fit(train, epochs=2, verbose=0)
        diff = max(float(np.max(np.abs(a - b)))
                   for a, b in zip(single.get_weights(), dist.get_weights()))
        wdiff = max(abs(single.task_weights()[t] - dist.task_weights()[t])
                    for t in ("shape", "position"))
        out["exact"][name] = {"weights_diff": diff, "task_weight_diff": wdiff}

    print("RESULT " + json.dumps(out))
    """
)


@pytest.fixture(scope="module")
def mirrored_results(tmp_path_factory) -> dict:
    script = tmp_path_factory.mktemp("dist") / "mirrored.py"
    script.write_text(SCRIPT)
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="",
               PYTHONPATH=os.pathsep.join([str(ROOT), str(ROOT / "tests")]))  # + toys
    proc = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, (
        f"subprocess failed (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}")
    return json.loads(lines[-1][len("RESULT "):])


def test_runs_on_two_replicas(mirrored_results):
    assert mirrored_results["replicas"] == 2


@pytest.mark.parametrize("name", ["uncertainty", "dwa", "gradnorm", "pcgrad"])
def test_mirrored_fit_decreases_losses_and_keeps_weights_synchronised(mirrored_results, name):
    r = mirrored_results["fit"][name]
    assert r["task_loss"][-1] < r["task_loss"][0], r["task_loss"]
    assert r["model_vars_synced"]
    assert r["strategy_vars_synced"]
    if name != "pcgrad":  # learned / adaptive weights are mirrored variables
        assert r["n_strategy_vars"] >= 1
    assert r["evaluate_finite"]
    if name == "gradnorm":
        assert sum(r["weights"]) == pytest.approx(2.0, rel=1e-5) and min(r["weights"]) > 0


@pytest.mark.parametrize("name", ["static", "uncertainty", "dwa", "gradnorm", "pcgrad", "rlw"])
def test_two_replicas_match_one_device(mirrored_results, name):
    r = mirrored_results["exact"][name]
    assert r["weights_diff"] < 1e-5, r
    assert r["task_weight_diff"] < 1e-5, r
