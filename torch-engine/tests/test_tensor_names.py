"""The one torch <-> tfjs tensor mapping is complete and consistent: for W-tiny, W-200MF and a SEER-shaped small
config, this engine's state lists exactly the tfjs engine's tensors (test/fixtures/torch/tensor-lists.json, from
engine/state.ts via test/torch-engine/fixtures.ts), in the same order, with the same shapes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import TORCH_FIXTURES, load_json
from seerflow_torch.config import EngineConfig
from seerflow_torch.swav_step import SwavTrainer
from seerflow_torch.tensor_names import UNMAPPED_BUFFERS, from_tfjs, model_tensors, state_tensors, to_tfjs

CASES = load_json(TORCH_FIXTURES / "tensor-lists.json")["cases"]


def _trainer(case: dict) -> SwavTrainer:
    t = SwavTrainer(EngineConfig.from_json(case["config"]))
    t.ensure_queue(case["batch"])
    return t


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_state_lists_the_tfjs_tensors_in_order(case: dict) -> None:
    mine = [(m.name, list(m.tf_shape)) for m in state_tensors(_trainer(case))]
    assert mine == [(t["name"], t["shape"]) for t in case["tensors"]]


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_every_torch_tensor_is_mapped(case: dict) -> None:
    trainer = _trainer(case)
    mapped = {m.name for m in model_tensors(trainer.model)}
    keys = set(trainer.model.state_dict())
    assert {k for k in keys if k.rsplit(".", 1)[1] not in UNMAPPED_BUFFERS} == mapped
    trainable = [p for p in trainer.model.parameters() if p.requires_grad]
    momentum = [m for m in state_tensors(trainer) if m.name.startswith("optim.momentum.")]
    assert len(momentum) == len(trainable) == len(trainer.optimizer.param_groups[0]["params"])
    assert sum(m.tensor.numel() for m in momentum) == sum(p.numel() for p in trainable)


@pytest.mark.parametrize("layout,shape", [("hwio", (6, 2, 3, 3)), ("matrix", (5, 4, 1, 1)), ("linear", (3, 7))])
def test_layouts_round_trip_and_transpose(layout: str, shape: tuple[int, ...]) -> None:
    t = torch.randn(shape)
    a = to_tfjs(layout, t)  # type: ignore[arg-type]
    assert torch.equal(from_tfjs(layout, a, shape), t)  # type: ignore[arg-type]
    if layout == "hwio":  # tfjs [kh, kw, cin/g, cout][y, x, i, o] == torch [o, i, y, x]
        assert a[2, 1, 1, 4] == t[4, 1, 2, 1]
    else:
        assert a[1, 2] == t.reshape(shape[0], shape[1])[2, 1]
    assert a.flags["C_CONTIGUOUS"] and a.dtype == np.float32
