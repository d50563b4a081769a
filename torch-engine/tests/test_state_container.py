"""The state container reader/writer against bytes the tfjs engine wrote (test/fixtures/torch/step-micro-*.bin), and
loading states into this engine: all-or-nothing, typed errors."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import TORCH_FIXTURES, load_json
from seerflow_torch.config import EngineConfig
from seerflow_torch.errors import IncompatibleStateError
from seerflow_torch.state_container import NamedArray, StateFile, read_state, write_state
from seerflow_torch.swav_step import SwavTrainer
from seerflow_torch.tensor_names import export_state, import_state

MICRO = load_json(TORCH_FIXTURES / "step-micro.json")


def _bytes(name: str) -> bytes:
    return (TORCH_FIXTURES / name).read_bytes()


def _trainer() -> SwavTrainer:
    return SwavTrainer(EngineConfig.from_json(MICRO["config"]))


@pytest.mark.parametrize("name", ["step-micro-before.bin", "step-micro-after.bin"])
def test_reads_and_rewrites_tfjs_bytes_exactly(name: str) -> None:
    data = _bytes(name)
    assert write_state(read_state(data)) == data


@pytest.mark.parametrize("name", ["step-micro-before.bin", "step-micro-after.bin"])
def test_through_torch_layouts_and_back_is_byte_identical(name: str) -> None:
    state = read_state(_bytes(name))
    t = _trainer()
    import_state(t, state.tensors, state.step, state.queue_filled)
    filled = t.queue.filled if t.queue is not None else 0
    assert write_state(StateFile(export_state(t), t.iteration, filled, state.meta)) == _bytes(name)


def test_corruption_is_a_typed_error() -> None:
    data = bytearray(_bytes("step-micro-before.bin"))
    data[100] ^= 1
    with pytest.raises(IncompatibleStateError, match="checksum"):
        read_state(bytes(data))
    with pytest.raises(IncompatibleStateError, match="magic"):
        read_state(b"NOTASTATE" + bytes(64))


def test_mismatches_change_nothing() -> None:
    state = read_state(_bytes("step-micro-after.bin"))
    t = _trainer()
    before = export_state(t)
    by_name = {x.name: x for x in state.tensors}
    w = by_name["trunk.stem.conv.weight"]
    cases = {
        "lacks": [x for x in state.tensors if x.name != "head.l1.bias"] + [NamedArray("extra", (1,), np.zeros(1, np.float32))],
        "shape": [dataclasses.replace(x, shape=(1, *x.shape)) if x is w else x for x in state.tensors],
        "count": state.tensors[:-2],
        "queue": [dataclasses.replace(x, shape=(3, 8, 8), data=np.zeros((3, 8, 8), np.float32)) if x.name == "queue" else x for x in state.tensors],
    }
    for label, tensors in cases.items():
        with pytest.raises(IncompatibleStateError):
            import_state(t, tensors, 4, state.queue_filled)
        after = export_state(t)
        assert all(np.array_equal(a.data, b.data) for a, b in zip(before, after)), label
        assert t.iteration == 0 and t.queue is None, label
