"""Device assertion and the GPU speed settings, as far as a CPU can check them: a CUDA request never runs on CPU,
bf16 autocast keeps float32 weights and a loss near the float32 one, channels_last and a compiled trunk compute the
same step as the plain path."""

from __future__ import annotations

import pytest
import torch

from micro import BATCH, CONFIG, MICRO, batches, trainer
from seerflow_torch.device import DeviceOptions, assert_on_device, resolve_device
from seerflow_torch.errors import DeviceUnavailableError, InvalidConfigError
from seerflow_torch.swav_step import SwavTrainer


def test_cuda_is_asserted_never_replaced_by_cpu() -> None:
    if torch.cuda.is_available():
        t = SwavTrainer(CONFIG, DeviceOptions(device="cuda"))
        assert t.device.type == "cuda"
        assert_on_device(t.model, t.device)
        assert all(p.is_cuda for p in t.model.parameters())
    else:
        with pytest.raises(DeviceUnavailableError) as err:
            SwavTrainer(CONFIG, DeviceOptions(device="cuda"))
        assert err.value.type == "DeviceUnavailable" and err.value.details["torch"] == torch.__version__
    with pytest.raises(DeviceUnavailableError):
        resolve_device(f"cuda:{torch.cuda.device_count()}")  # one past the last device
    with pytest.raises(InvalidConfigError):
        resolve_device("tpu")
    with pytest.raises(InvalidConfigError):
        DeviceOptions(precision="fp16")  # type: ignore[arg-type]


def test_a_module_left_on_another_device_is_caught() -> None:
    m = torch.nn.Linear(2, 2)
    with pytest.raises(DeviceUnavailableError):
        assert_on_device(m, torch.device("meta"))


def _two_steps(opts: DeviceOptions | None) -> tuple[list[float], SwavTrainer]:
    t, bs = trainer(opts), batches()
    losses = [t.step(bs[i], BATCH, MICRO["steps"][i]["lr"]).loss for i in range(2)]
    return losses, t


def test_bf16_autocast_keeps_float32_state_and_a_close_loss() -> None:
    ref, _ = _two_steps(None)
    got, t = _two_steps(DeviceOptions(precision="bf16"))
    assert got == pytest.approx(ref, rel=2e-2)  # bf16 keeps 8 mantissa bits in the trunk
    assert all(p.dtype == torch.float32 for p in t.model.parameters())
    assert all(s["momentum_buffer"].dtype == torch.float32 for s in t.optimizer.state.values())


@pytest.mark.parametrize(
    "opts",
    [DeviceOptions(channels_last=True), DeviceOptions(compile=True, compile_backend="eager")],
    ids=["channels_last", "compiled"],
)
def test_speed_settings_compute_the_same_step(opts: DeviceOptions) -> None:
    ref, r = _two_steps(None)
    got, t = _two_steps(opts)
    assert got == pytest.approx(ref, rel=1e-5)
    if opts.channels_last:
        assert t.model.trunk.stem.conv.weight.is_contiguous(memory_format=torch.channels_last)
    for a, b in zip(t.model.parameters(), r.model.parameters()):
        assert torch.allclose(a, b, rtol=0, atol=1e-5)
