"""The micro workload of test/fixtures/torch/step-micro.*: config, batches and tfjs states (test/torch-engine/fixtures.ts)."""

from __future__ import annotations

import numpy as np
import torch

from conftest import TORCH_FIXTURES, load_json
from seerflow_torch.config import EngineConfig
from seerflow_torch.device import DeviceOptions
from seerflow_torch.state_container import StateFile, read_state
from seerflow_torch.swav_step import SwavTrainer, crops_from_nhwc
from seerflow_torch.tensor_names import import_state

MICRO = load_json(TORCH_FIXTURES / "step-micro.json")
CONFIG = EngineConfig.from_json(MICRO["config"])
BATCH: int = MICRO["batch"]


def state(name: str) -> StateFile:
    return read_state((TORCH_FIXTURES / f"step-micro-{name}.bin").read_bytes())


def batches() -> list[list[torch.Tensor]]:
    """The tfjs batches (NHWC float32 per crop group) as NCHW tensors."""
    flat = np.fromfile(TORCH_FIXTURES / "step-micro-batches.bin", dtype="<f4")
    groups = CONFIG.step.groups()
    sizes = [g.count * BATCH * g.size * g.size * 3 for g in groups]
    out, off = [], 0
    for _ in range(MICRO["batches"]):
        arrays = []
        for n in sizes:
            arrays.append(flat[off : off + n])
            off += n
        out.append(crops_from_nhwc(arrays, groups, BATCH))
    assert off == flat.size
    return out


def trainer(opts: DeviceOptions | None = None, from_state: str = "before") -> SwavTrainer:
    """A trainer holding the tfjs engine's weights of `from_state`."""
    t = SwavTrainer(CONFIG, opts)
    s = state(from_state)
    import_state(t, s.tensors, s.step, s.queue_filled)
    return t
