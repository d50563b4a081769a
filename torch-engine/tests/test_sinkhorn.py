"""Sinkhorn-Knopp against the float64 NumPy goldens of ml/sinkhorn.ts (test/fixtures/ml/sinkhorn.json)."""

from __future__ import annotations

import pytest
import torch

from conftest import ML_FIXTURES, assert_allclose, load_json
from seerflow_torch.sinkhorn import sinkhorn

CASES = load_json(ML_FIXTURES / "sinkhorn.json")["cases"]


def _scores(case: dict, dtype: torch.dtype) -> tuple[torch.Tensor, int]:
    # The inputs are float32 values (the goldens were computed from them), widened exactly for the float64 path.
    s = torch.tensor(case["scores"], dtype=torch.float32).to(dtype).view(case["B"], case["K"])
    if "queue" in case:
        q = torch.tensor(case["queue"], dtype=torch.float32).to(dtype).view(case["queueRows"], case["K"])
        s = torch.cat([q, s])
    return s, case["B"]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_float32_matches_golden(case: dict) -> None:
    # Same tolerance as the TS float32 path: kernel and output stored in float32.
    s, B = _scores(case, torch.float32)
    q = sinkhorn(s, case["epsilon"], case["iterations"], B)
    assert_allclose(q, case["codes"], rtol=1e-5, atol=1e-7, label=case["name"])
    assert_allclose(q.sum(1), torch.ones(B), rtol=0, atol=1e-5, label="row sums")


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_float64_matches_golden(case: dict) -> None:
    s, B = _scores(case, torch.float64)
    q = sinkhorn(s, case["epsilon"], case["iterations"], B)
    assert_allclose(q, case["codes"], rtol=1e-9, atol=1e-300, label=case["name"])


@pytest.mark.parametrize("scale,shift", [(40.0, 0.0), (1.0, -3.0), (1.0, 2.0)])
def test_stabilised_kernel_outside_the_direct_range(scale: float, shift: float) -> None:
    # Scores far beyond cosines: exp(s/eps) overflows, or its sums leave [1e-17, 1e30]; the stabilised kernel
    # must give the float64 result and stay finite (as the engine's sinkhornTf test checks).
    g = torch.Generator().manual_seed(3)
    s = (torch.rand(32, 48, generator=g) * 2 - 1) * scale + shift
    q32 = sinkhorn(s, 0.05, 3)
    assert torch.isfinite(q32).all()
    assert_allclose(q32, sinkhorn(s.double(), 0.05, 3), rtol=0, atol=1e-5, label=f"scale {scale} shift {shift}")


def test_rejects_bad_options() -> None:
    with pytest.raises(ValueError):
        sinkhorn(torch.zeros(2, 3), 0.0, 3)
    with pytest.raises(ValueError):
        sinkhorn(torch.zeros(2, 3), 0.05, 0)
