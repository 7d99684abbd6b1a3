"""The committed notebooks keep the course's conventions: a ``parameters`` cell papermill can
override, ``headline`` cells the README is built from, outputs of a real run, and nbval
markers that nbval actually reads (a marker after code on the same line is ignored)."""

import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))
MARKERS = ("NBVAL_CHECK_OUTPUT", "NBVAL_IGNORE_OUTPUT", "NBVAL_SKIP", "NBVAL_RAISES_EXCEPTION")


def _code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def _tagged(path: Path, tag: str) -> list[dict]:
    return [c for c in _code_cells(path) if tag in c.get("metadata", {}).get("tags", [])]


def test_the_course_has_its_notebooks():
    assert len(NOTEBOOKS) >= 11, [p.name for p in NOTEBOOKS]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_has_one_parameters_cell_and_a_headline(path):
    assert len(_tagged(path, "parameters")) == 1, "tag exactly one cell `parameters`"
    assert _tagged(path, "headline"), "tag the cell(s) that show the lesson's result `headline`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_is_committed_with_outputs_of_a_run(path):
    cells = _code_cells(path)
    assert all(c.get("execution_count") for c in cells), "some code cells never ran"
    assert all(o.get("output_type") != "error" for c in cells for o in c.get("outputs", []))
    assert any(c.get("outputs") for c in _tagged(path, "headline")), "headline cells are empty"
    meta = json.loads(path.read_text())["metadata"].get("papermill", {})
    assert meta.get("duration"), "run it with `python -m mtl_utils.course run`, then `adopt`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_nbval_markers_stand_on_their_own_line(path):
    for cell in _code_cells(path):
        for line in "".join(cell["source"]).splitlines():
            stripped = line.strip()
            for marker in MARKERS:
                if marker in stripped:
                    assert re.fullmatch(r"#+\s*" + marker, stripped), (
                        f"nbval ignores {marker!r} after code: put it on a line of its own "
                        f"({line!r})")
