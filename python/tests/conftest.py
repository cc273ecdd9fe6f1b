"""Helpers for the krt package's tests: the committed real-Keras fixtures (tests/fixtures/<case>/:
model file, inputs/*.npy, expected/*.npy, case.json), compared as tests/case_check.c does."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Dict, List, NamedTuple

import numpy as np
import pytest

FIXTURES = Path(__file__).resolve().parents[2] / "tests" / "fixtures"


class Case(NamedTuple):
    name: str
    model: Path
    inputs: Dict[str, np.ndarray]
    expected: Dict[str, np.ndarray]
    rtol: float
    atol: float


def load_case(name: str) -> Case:
    folder = FIXTURES / name
    spec = json.loads((folder / "case.json").read_text())
    model = next(p for p in (folder / "model.keras", folder / "model.h5", folder / "saved_model")
                 if p.is_file() or (p / "saved_model.pb").is_file())
    inputs = {t["name"]: np.load(folder / t["file"]) for t in spec["inputs"]}
    expected = {t["name"]: np.load(folder / t["file"]) for t in spec["outputs"]}
    return Case(name, model, inputs, expected, spec.get("rtol", 1e-4), spec.get("atol", 1e-5))


def batch_of(case: Case) -> int:
    return next(iter(case.inputs.values())).shape[0]


def assert_matches(got: Dict[str, np.ndarray], case: Case, rows: slice = slice(None)) -> None:
    """Every expected output, by name: same shape, |got - expected| <= atol + rtol * |expected|
    elementwise (NaN fails), as case_check.c compares at fp32."""
    for name, expected in case.expected.items():
        assert name in got, f"{case.name}: no output '{name}' in {list(got)}"
        actual = np.asarray(got[name])
        want = expected[rows]
        assert actual.shape == want.shape, f"{case.name}/{name}: {actual.shape} != {want.shape}"
        bad = ~(np.abs(actual.astype(np.float64) - want) <= case.atol + case.rtol * np.abs(want))
        assert not bad.any(), (f"{case.name}/{name}: {int(bad.sum())} of {bad.size} values differ, "
                               f"max abs error {np.nanmax(np.abs(actual - want)):.3g}")


@pytest.fixture
def multi_output() -> Case:
    return load_case("multi_output")


@pytest.fixture
def layerscale() -> Case:
    """Two inputs of different rank, two outputs (ConvNeXt's LayerScale)."""
    return load_case("layerscale")


def cases(names: List[str]) -> List[Case]:
    return [load_case(n) for n in names]
