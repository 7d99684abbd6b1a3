"""Parameter checks for papermill runs and the course runner behind `make run`."""

import importlib.util
import json
import re
from pathlib import Path

import nbformat
import pytest

from mtl_utils import course, notebook

# `course run` executes notebooks through papermill: a notebook extra, installed with the
# pinned set (make test) but not in the lower-bounds venv (make test-compat).
needs_papermill = pytest.mark.skipif(
    importlib.util.find_spec("papermill") is None,
    reason="papermill (the notebooks extra) is not installed; make test runs this")


@pytest.fixture(autouse=True)
def full_size(monkeypatch):
    """These tests check parameters as given: the test session's reduced size is unset."""
    monkeypatch.delenv(notebook.REDUCED_ENV, raising=False)


@pytest.mark.parametrize("call, message", [
    (lambda: notebook.check_epochs("EPOCHS", 0), "EPOCHS must be an integer >= 1, got 0"),
    (lambda: notebook.check_epochs("EPOCHS", {"a": 3}, ["a", "b"]), "no value for.*'b'"),
    (lambda: notebook.check_n_train("N_TRAIN", 32, 64), "N_TRAIN must be an integer >= 64"),
    (lambda: notebook.check_n_train("N_TRAIN", "[100, 100]"), "distinct integers"),
    (lambda: notebook.check_n_train("N_TRAIN", {"a": 100}, 64, ["a", "b"]), "no value"),
    (lambda: notebook.check_int("EPOCHS", 0), "EPOCHS must be an integer >= 1, got 0"),
    (lambda: notebook.check_int("EPOCHS", "10"), "got '10'"),
    (lambda: notebook.check_seeds("SEEDS", "0,1"), 'SEEDS "\\[0,1,2\\]"'),
    (lambda: notebook.check_seeds("SEEDS", "[0,1"), "could not read"),
    (lambda: notebook.check_seeds("SEEDS", [0, 0]), "distinct"),
    (lambda: notebook.check_choices("DATASETS", ["shapes", "cifar"], ["shapes"]), "cifar"),
    (lambda: notebook.per_dataset("N_TRAIN", {"shapes": 5}, ["shapes", "digits"]), "digits"),
    (lambda: notebook.check_int_list("N_TRAIN", "[100,100]", 64), "distinct integers"),
    (lambda: notebook.check_int_list("N_TRAIN", [32], 64), "in \\[64, inf\\]"),
    (lambda: notebook.check_int_list("MAGNITUDES", 11, 0, 10), "in \\[0, 10\\]"),
    (lambda: notebook.check_int_list("MAGNITUDES", [], 0, 10), "non-empty"),
    (lambda: notebook.check_bool("LEAVE_ONE_OUT", "yes"), "True or False, got 'yes'"),
    (lambda: notebook.check_bool("LEAVE_ONE_OUT", 1), "True or False, got 1"),
    (lambda: notebook.check_op_groups("OPS", ["hflip", "mixup"]), "OPS\\['mixup'\\]"),
    (lambda: notebook.check_op_groups("OPS", {"a": ["hue"], "b": ["hue"]}), "more than one"),
    (lambda: notebook.check_op_groups("OPS", {}), "group: \\[op names\\]"),
    (lambda: notebook.check_float("LEARNING_RATE", 0, 0, 1), "in \\(0, 1\\), got 0"),
    (lambda: notebook.check_float("LEARNING_RATE", "0.1", 0, 1), "got '0.1'"),
    (lambda: notebook.check_float_list("SWEEP", "[0.5, 1.0]", 0, 1), "distinct numbers"),
    (lambda: notebook.check_float_list("SWEEP", [0.5, 0.5], 0, 1), "distinct"),
    (lambda: notebook.per_dataset_tasks("TASKS", ["shape"], {"shapes": ["shape"]}),
     "\\{dataset: \\[task names\\]\\}"),
    (lambda: notebook.per_dataset_tasks("TASKS", {"cifar": ["a"]}, {"shapes": ["shape"]}),
     "unknown dataset.*cifar"),
    (lambda: notebook.per_dataset_tasks("TASKS", {"shapes": ["shap"]}, {"shapes": ["shape"]}),
     "shap"),
    (lambda: notebook.check_rand_augment_candidates("CANDIDATES", {"a": [0, 5]}), "N >= 1"),
    (lambda: notebook.check_rand_augment_candidates("CANDIDATES", {"a": [1, 11]}), "\\[0, 10\\]"),
    (lambda: notebook.check_rand_augment_candidates("CANDIDATES", []), "label: \\[N, M\\]"),
])
def test_bad_parameters_raise_errors_that_name_them(call, message):
    with pytest.raises(ValueError, match=message):
        call()


def test_parameter_checks_pass_good_values_through():
    assert notebook.check_seeds("SEEDS", 3) == [3]
    # papermill -p passes lists and dicts as strings
    assert notebook.check_seeds("SEEDS", "[0, 1, 2]") == [0, 1, 2]
    assert notebook.per_dataset("N", '{"a": 5, "b": 6}', ["a", "b"]) == {"a": 5, "b": 6}
    assert notebook.check_choices("D", '["b"]', ["a", "b"]) == ["b"]
    assert notebook.per_dataset("E", 4, ["a", "b"]) == {"a": 4, "b": 4}
    assert notebook.check_float("LR", 2e-3, 0, 1) == 2e-3
    assert notebook.check_float_list("SWEEP", "[0.1, 0.9]", 0, 1) == [0.1, 0.9]
    assert notebook.per_dataset_tasks("TASKS", '{"a": ["y"]}', {"a": ["x", "y"], "b": ["z"]}) == {
        "a": ["y"], "b": ["z"]}
    assert notebook.per_dataset_tasks("TASKS", None, {"a": ["x"]}) == {"a": ["x"]}
    # an entry for a dataset that is not in use is fine (the default TASKS with one dataset)
    assert notebook.per_dataset_tasks("T", {"shapes": ["s"]}, {"digits": ["l"]}) == {
        "digits": ["l"]}
    assert notebook.check_rand_augment_candidates("C", '{"N1M5": [1, 5]}') == {"N1M5": (1, 5.0)}
    assert notebook.check_choices("D", "a", ["a", "b"]) == ["a"]
    assert notebook.check_int_list("N", "[400, 100]", 64) == [400, 100]
    assert notebook.check_int_list("M", 5, 0, 10) == [5]
    assert notebook.check_bool("L", True) is True and notebook.check_bool("L", "False") is False
    assert notebook.check_op_groups("OPS", '["hflip", "hue"]') == {"hflip": ["hflip"],
                                                                    "hue": ["hue"]}
    assert notebook.check_op_groups("OPS", '{"geo": ["hflip", "zoom"]}') == {
        "geo": ["hflip", "zoom"]}


def test_reduced_size_keeps_two_seeds_a_fifth_of_the_epochs_an_eighth_of_the_data(
        monkeypatch, capsys):
    assert not notebook.reduced()
    assert notebook.check_seeds("SEEDS", [4, 5, 6]) == [4, 5, 6]
    assert notebook.check_epochs("EPOCHS", 12) == 12
    assert notebook.check_n_train("N_TRAIN", "[250, 2000]") == [250, 2000]
    assert notebook.check_repeats("ROUNDS", 3) == 3
    monkeypatch.setenv(notebook.REDUCED_ENV, "1")
    assert notebook.reduced()
    assert notebook.check_seeds("SEEDS", "[4, 5, 6]") == [4, 5]
    assert notebook.check_seeds("SEEDS", [7]) == [7]
    assert notebook.check_epochs("EPOCHS", 12) == 3  # a fifth, rounded up
    assert notebook.check_epochs("EPOCHS", 4) == 2  # at least two epochs ...
    assert notebook.check_epochs("EPOCHS", 1) == 1  # ... never more than given
    assert notebook.check_epochs("EPOCHS", {"a": 60, "b": 8}, ["a", "b"]) == {"a": 12, "b": 2}
    assert notebook.check_repeats("ROUNDS", 3) == 1  # one timing round
    with pytest.raises(ValueError, match="ROUNDS must be an integer >= 1"):
        notebook.check_repeats("ROUNDS", 0)
    assert notebook.check_n_train("N_TRAIN", 2000) == 250  # an eighth ...
    assert notebook.check_n_train("N_TRAIN", 300, minimum=64) == 64  # ... at least the minimum
    assert notebook.check_n_train("N_TRAIN", "[250, 2000]") == [64, 250]
    assert notebook.check_n_train("N_TRAIN", '{"a": 800, "b": 64}', 32, ["a", "b"]) == {
        "a": 100, "b": 32}
    out = capsys.readouterr().out
    assert "SEEDS [4, 5, 6] -> [4, 5]" in out and "EPOCHS 12 -> 3" in out
    assert "SEEDS [7]" not in out  # nothing reduced, nothing said
    monkeypatch.setenv(notebook.REDUCED_ENV, "0")
    assert not notebook.reduced() and notebook.check_epochs("EPOCHS", 12) == 12


def test_results_dir_env_override(monkeypatch, tmp_path):
    monkeypatch.setenv("MTL_RESULTS_DIR", str(tmp_path))
    assert notebook.results_dir("../results") == tmp_path  # the default is replaced
    assert str(notebook.results_dir("/explicit")) == "/explicit"  # a given value wins
    monkeypatch.delenv("MTL_RESULTS_DIR")
    assert str(notebook.results_dir("../results")) == "../results"


def _notebook(path, code):
    nb = nbformat.v4.new_notebook()
    params = nbformat.v4.new_code_cell("RESULTS_DIR = 'x'\nFAIL = False")
    params.metadata["tags"] = ["parameters"]
    head = nbformat.v4.new_code_cell(code)
    head.metadata["tags"] = ["headline"]
    nb.cells = [nbformat.v4.new_markdown_cell(f"# {path.stem} title"), params, head]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.processes
@needs_papermill
def test_course_run_executes_in_order_and_writes_the_summary(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "00_first.ipynb", "print('table of 00', RESULTS_DIR.endswith('results'))")
    _notebook(nbs / "01_second.ipynb", "print('table of 01')")
    out = tmp_path / "run"
    assert course.main(["run", "--notebooks", str(nbs), "--out", str(out)]) == 0
    summary = (out / "summary.md").read_text()
    assert summary.index("00_first") < summary.index("01_second")
    assert "table of 00 True" in summary and "table of 01" in summary
    cells = json.loads((out / "00_first.ipynb").read_text())["cells"]
    injected = [c for c in cells if "injected-parameters" in c["metadata"].get("tags", [])]
    assert "results" in "".join(injected[0]["source"])  # RESULTS_DIR points into the run


@pytest.mark.processes
@needs_papermill
def test_course_run_stops_at_a_failing_notebook_naming_it(tmp_path, capsys):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "00_ok.ipynb", "print(1)")
    _notebook(nbs / "01_broken.ipynb", "raise ValueError('parameter N_TRAIN is bad')")
    _notebook(nbs / "02_never.ipynb", "print(2)")
    out = tmp_path / "run"
    assert course.main(["run", "--notebooks", str(nbs), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "01_broken.ipynb" in err and "ValueError: parameter N_TRAIN is bad" in err
    assert not (out / "02_never.ipynb").exists() and not (out / "summary.md").exists()


def test_results_md_is_written_from_headline_cells(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "00_first.ipynb", "print('x')")
    nb = nbformat.read(nbs / "00_first.ipynb", as_version=4)
    nb.cells[2].outputs = [nbformat.v4.new_output("stream", name="stdout", text="accuracy 91%\n")]
    nbformat.write(nb, nbs / "00_first.ipynb")
    results = tmp_path / "RESULTS.md"
    results.write_text("old results\n")
    assert course.main(["readme", "--results", str(results), "--notebooks", str(nbs)]) == 0
    text = results.read_text()
    assert "accuracy 91%" in text and "old results" not in text
    assert text.startswith("# Results\n") and "[README.md](README.md)" in text
    assert "## 00_first" in text and text.endswith("```\n")


def test_the_readme_is_short_and_links_the_other_documents():
    root = Path(course.ROOT)
    readme = (root / "README.md").read_text()
    assert len(readme.splitlines()) <= 230, "the README is for a newcomer: keep it short"
    for doc in ("RESULTS.md", "ARCHITECTURE.md", "docs/grids.md"):
        assert f"]({doc})" in readme, f"README.md does not link {doc}"
        assert (root / doc).exists(), doc
    for doc in ("ARCHITECTURE.md", "docs/grids.md", "RESULTS.md"):
        assert "README.md" in (root / doc).read_text(), f"{doc} does not link back"
    for nb in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):  # the course table
        assert f"(notebooks/{nb.name})" in readme, f"the course table misses {nb.name}"


@pytest.mark.processes
@needs_papermill
def test_adopt_copies_a_run_into_notebooks_without_the_run_s_paths(tmp_path):
    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "00_first.ipynb", "print(RESULTS_DIR)")
    out = tmp_path / "run"
    assert course.main(["run", "--notebooks", str(nbs), "--out", str(out)]) == 0
    target = tmp_path / "committed"
    target.mkdir()
    assert course.main(["adopt", str(out), "--notebooks", str(target)]) == 0
    text = (target / "00_first.ipynb").read_text()
    assert str(out) not in text and str(tmp_path) not in text
    nb = json.loads(text)
    assert not [c for c in nb["cells"]
                if "injected-parameters" in c["metadata"].get("tags", [])]
    printed = "".join("".join(o.get("text", "")) for c in nb["cells"]
                      for o in c.get("outputs", []))
    assert "../results" in printed  # the run's results folder, shown as the default


@pytest.mark.processes
def test_importing_the_package_filters_only_tensorflows_start_up_chatter():
    import os
    import subprocess
    import sys

    import mtl_utils

    chatter = ["WARNING: All log messages before absl::InitializeLog() is called are written "
               "to STDERR",
               "I0000 00:00:1.1 1 port.cc:153] oneDNN custom operations are on. You may see",
               "I0000 00:00:1.2 1 cudart_stub.cc:31] Could not find cuda drivers on your machine",
               "E0000 00:00:1.3 1 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA"]
    real = ["E0000 00:00:1.4 1 op_kernel.cc:1] OP_REQUIRES failed: out of memory",
            "Traceback (most recent call last):"]
    assert all(mtl_utils._CHATTER.search(line) for line in chatter)
    assert not any(mtl_utils._CHATTER.search(line) for line in real)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    err = subprocess.run([sys.executable, "-c", "import mtl_utils, tensorflow as tf; "
                          "tf.constant(1) + 1"], capture_output=True, text=True, env=env,
                         timeout=120).stderr
    assert "oneDNN" not in err and "cuInit" not in err and "cuda drivers" not in err, err


@pytest.mark.processes
@needs_papermill
def test_course_run_keeps_tensorflow_start_up_chatter_off_the_console(tmp_path):
    # A notebook whose first cell imports TensorFlow itself (as 04 and 05 do) must not put
    # TensorFlow's start-up lines (oneDNN, cuInit, absl) on the console of `make run`.
    import os
    import subprocess
    import sys

    nbs = tmp_path / "nbs"
    nbs.mkdir()
    _notebook(nbs / "00_tf_first.ipynb",
              "import tensorflow as tf\nprint(len(tf.config.list_physical_devices('CPU')))")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([sys.executable, "-m", "mtl_utils.course", "run", "--notebooks",
                           str(nbs), "--out", str(tmp_path / "run")],
                          capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    chatter = [line for line in done.stderr.splitlines()
               if re.search(r"oneDNN|cuInit|cuda drivers|absl::InitializeLog", line)]
    assert not chatter, chatter
    assert "00_tf_first: " in done.stderr + done.stdout  # the notebook's time is still shown
