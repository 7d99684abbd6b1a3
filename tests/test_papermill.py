"""Notebooks run headless through papermill with overridden parameters, and a bad
parameter stops the run with an error that names it."""

import json
from pathlib import Path

import pytest

papermill = pytest.importorskip("papermill")
NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
pytestmark = pytest.mark.notebook


def _outputs(path: Path) -> str:
    nb = json.loads(path.read_text())
    return "\n".join("".join(o.get("text", "")) for c in nb["cells"] if c["cell_type"] == "code"
                     for o in c.get("outputs", []))


def test_notebook_runs_with_overridden_parameters(tmp_path, monkeypatch):
    monkeypatch.delenv("MTL_REDUCED", raising=False)  # the parameters as given, not reduced
    out = tmp_path / "01.ipynb"
    papermill.execute_notebook(
        str(NOTEBOOKS / "01_single_task_baselines.ipynb"), str(out), cwd=str(NOTEBOOKS),
        kernel_name="python3", progress_bar=False,
        parameters={"DATASETS": ["digits"], "N_TRAIN": 64, "EPOCHS": 1, "SEEDS": [4],
                    "RESULTS_DIR": str(tmp_path / "results")})
    text = _outputs(out)
    assert "digits (N_TRAIN=64, 1 epochs, 1 seeds and data draws)" in text and "reduced size" not in text
    assert "Seeds: [4]" in text and "shapes" not in text.split("Seeds: [4]")[1][:200]
    stored = list((tmp_path / "results").glob("baselines_digits_n64_*_e1_*/*.csv"))
    assert stored, "results were not written to the RESULTS_DIR given as a parameter"


def test_bad_parameter_stops_with_an_error_naming_it(tmp_path):
    with pytest.raises(papermill.PapermillExecutionError) as info:
        papermill.execute_notebook(
            str(NOTEBOOKS / "02_shared_encoder.ipynb"), str(tmp_path / "02.ipynb"),
            cwd=str(NOTEBOOKS), kernel_name="python3", progress_bar=False,
            parameters={"SEEDS": "0,1", "RESULTS_DIR": str(tmp_path)})
    assert info.value.ename == "ValueError"
    assert "SEEDS must be a non-empty list" in info.value.evalue


def test_figures_of_the_plotting_module_leave_later_figures_shown(tmp_path, monkeypatch):
    # The plotting module styles its own figures; a notebook's later figures must still
    # show (restoring all of matplotlib's settings would switch the inline display off).
    import nbformat

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
                    "import pandas as pd\nfrom mtl_utils import plotting\n"
                    "for i in range(2):\n    plotting.plot_heatmap(pd.DataFrame([[i, 2.0]]))"),
                nbformat.v4.new_code_cell(
                    "import matplotlib.pyplot as plt\nfor i in range(2):\n"
                    "    fig, ax = plt.subplots()\n    ax.plot([1, i])")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3",
                                 "language": "python"}
    nbformat.write(nb, tmp_path / "figs.ipynb")
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's own inline backend
    papermill.execute_notebook(str(tmp_path / "figs.ipynb"), str(tmp_path / "out.ipynb"),
                               kernel_name="python3", progress_bar=False)
    out = json.loads((tmp_path / "out.ipynb").read_text())
    shown = [sum("image/png" in o.get("data", {}) for o in c["outputs"]) for c in out["cells"]]
    assert shown == [2, 2]
