"""Shared helpers: the golden fixtures live in the repository's test/fixtures (shared with the TypeScript tests)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

# Tiny shapes: a second intra-op thread only adds OpenMP spin-waiting on the shared 2-core machines (measured
# 0.5-4 s instead of 40 ms for a micro step under load), so the suite runs single-threaded.
torch.set_num_threads(1)

REPO = Path(__file__).resolve().parents[2]
ML_FIXTURES = REPO / "test" / "fixtures" / "ml"
TORCH_FIXTURES = REPO / "test" / "fixtures" / "torch"


def load_json(path: Path) -> Any:
    return json.loads(path.read_text())


def assert_allclose(actual: Any, expected: Any, rtol: float, atol: float, label: str = "") -> None:
    """numpy.allclose semantics with the worst element in the message (as the TS fixture helper reports)."""
    a = np.asarray(actual.detach().cpu() if isinstance(actual, torch.Tensor) else actual, dtype=np.float64).ravel()
    e = np.asarray(expected, dtype=np.float64).ravel()
    assert a.shape == e.shape, f"{label}: {a.shape} vs {e.shape}"
    excess = np.abs(a - e) - (atol + rtol * np.abs(e))
    worst = int(np.argmax(excess)) if excess.size else 0
    assert excess.size == 0 or excess[worst] <= 0, f"{label}: element {worst} is {a[worst]}, expected {e[worst]}"


@pytest.fixture(autouse=True)
def _deterministic() -> None:
    torch.manual_seed(0)
