"""LR schedule against ml/schedules.ts's NumPy goldens (test/fixtures/ml/optim.json `schedules`)."""

from __future__ import annotations

import pytest

from conftest import ML_FIXTURES, assert_allclose, load_json
from seerflow_torch.schedules import LrSchedule

CASES = load_json(ML_FIXTURES / "optim.json")["schedules"]


def _schedule(c: dict) -> LrSchedule:
    return LrSchedule(c["baseLr"], c["finalLr"], c["startWarmupLr"], c["warmupEpochs"], c["epochs"], c["itersPerEpoch"])


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"base{c['baseLr']}-warm{c['warmupEpochs']}-it{c['itersPerEpoch']}")
def test_matches_numpy_schedule(case: dict) -> None:
    s = _schedule(case)
    assert s.total_iters == len(case["lr"])
    assert_allclose(s.values(), case["lr"], rtol=1e-12, atol=1e-15, label="lr")


def test_rejects_out_of_range_iterations_and_fractional_warmup() -> None:
    s = _schedule(CASES[0])
    with pytest.raises(ValueError):
        s.at(s.total_iters)
    with pytest.raises(ValueError):
        s.at(-1)
    with pytest.raises(ValueError):
        LrSchedule(0.6, 0.0006, 0.0, 0.5, 2, 3)  # 1.5 warmup iterations
    with pytest.raises(ValueError):
        LrSchedule(0.6, 0.0006, 0.0, 3, 2, 3)  # warmup longer than the run
