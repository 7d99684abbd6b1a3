"""pyproject.toml's lower bounds are the versions `make test-compat` runs the tests on."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
tomllib = pytest.importorskip("tomllib")  # Python 3.11+


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def test_every_dependency_s_lower_bound_is_pinned_in_requirements_compat():
    deps = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = dict(re.findall(r"^([A-Za-z0-9_.-]+)==([0-9.]+)", (ROOT / "requirements-compat.txt")
                           .read_text(), flags=re.MULTILINE))
    for dep in deps:
        name, lower = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)(,<[0-9.]+)?", dep).group(1, 2)
        assert name in pins, f"{name} has no pin in requirements-compat.txt"
        assert _release(pins[name]) == _release(lower), (
            f"{name}: pyproject.toml says >={lower}, requirements-compat.txt tests {pins[name]}")
