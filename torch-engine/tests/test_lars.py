"""LARS against the NumPy float32 apex-LARC + torch SGD goldens of ml/lars.ts (test/fixtures/ml/optim.json), on both
the per-tensor and the multi-tensor path."""

from __future__ import annotations

import pytest
import torch

from conftest import ML_FIXTURES, assert_allclose, load_json
from seerflow_torch.config import LarsConfig
from seerflow_torch.lars import Lars

OPTIM = load_json(ML_FIXTURES / "optim.json")
# As the TS test: op-by-op float32 in the PyTorch order; float32 norms and summation order flip the last bits.
TOL = {"rtol": 1e-6, "atol": 1e-12}


def _run(steps: list[dict], foreach: bool) -> None:
    first = steps[0]
    params = [torch.nn.Parameter(torch.tensor(p, dtype=torch.float32)) for p in first["before"]]
    cfg = LarsConfig(momentum=0.9, weight_decay=first["weightDecay"], trust_coefficient=first.get("trustCoefficient", 0.001))
    opt = Lars(params, cfg, foreach=foreach)
    for s, step in enumerate(steps):
        for g in opt.param_groups:
            g["weight_decay"] = step["weightDecay"]  # the fixture changes wd per step
        for p, grad in zip(params, step["grads"]):
            p.grad = None if grad is None else torch.tensor(grad, dtype=torch.float32)
        opt.step(lr=step["lr"])
        for i, p in enumerate(params):
            assert_allclose(p.detach(), step["after"][i], label=f"step {s} param {i}", **TOL)
            assert_allclose(opt.state[p]["momentum_buffer"], step["momentum"][i], label=f"step {s} momentum {i}", **TOL)


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
def test_larc_steps_match_golden(foreach: bool) -> None:
    # regular, |p| = 0 (no weight decay), |g| = 0, and a parameter without gradient for two steps
    _run(OPTIM["larc"], foreach)


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
def test_trust_zero_is_sgd_with_coupled_weight_decay(foreach: bool) -> None:
    _run(OPTIM["sgd"], foreach)


def test_parameter_without_gradient_is_untouched() -> None:
    p = torch.nn.Parameter(torch.tensor([1.0, 2.0]))
    q = torch.nn.Parameter(torch.tensor([3.0, 4.0]))
    opt = Lars([p, q], LarsConfig(weight_decay=0.1))
    opt.state[p]["momentum_buffer"].fill_(5.0)
    q.grad = torch.tensor([0.0, 0.5])
    opt.step(lr=1.0)
    assert p.tolist() == [1.0, 2.0] and opt.state[p]["momentum_buffer"].tolist() == [5.0, 5.0]
    lam = 0.001 * 5 / (0.5 + 0.1 * 5 + 1e-8)
    assert_allclose(q.detach(), [3 - 0.3 * lam, 4 - 0.9 * lam], rtol=1e-6, atol=0, label="q")


def test_rejects_bad_hyperparameters() -> None:
    p = torch.nn.Parameter(torch.zeros(1))
    with pytest.raises(ValueError):
        Lars([p], LarsConfig(momentum=-0.1))
    p.grad = torch.zeros(1)
    with pytest.raises(ValueError):
        Lars([p], LarsConfig()).step(lr=float("nan"))
