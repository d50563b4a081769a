"""Where and how the engine computes: the device is named by the caller and asserted, never chosen silently
(a CUDA request without a usable CUDA device raises DeviceUnavailableError, it does not fall back to CPU), plus the
speed settings for GPUs: bf16 autocast, channels_last and optional torch.compile. Only features of torch >= 2.11."""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Literal

import torch
from torch import nn

from .errors import DeviceUnavailableError, InvalidConfigError

Precision = Literal["float32", "bf16"]


@dataclass(frozen=True)
class DeviceOptions:
    """`device` is 'cpu', 'cuda' or 'cuda:N'. bf16 autocasts the trunk and head (weights, optimizer, Sinkhorn and
    loss stay float32). channels_last stores conv activations NHWC (faster convs on GPUs and oneDNN)."""

    device: str = "cpu"
    precision: Precision = "float32"
    channels_last: bool = False
    compile: bool = False
    # torch.compile backend; "inductor" generates kernels (needs a C++ compiler on CPU, Triton on GPU).
    compile_backend: str = "inductor"

    def __post_init__(self) -> None:
        if self.precision not in ("float32", "bf16"):
            raise InvalidConfigError(f"precision must be float32 or bf16, got {self.precision!r}")


def resolve_device(name: str) -> torch.device:
    """The torch.device for `name`, checked to be usable in this process."""
    try:
        dev = torch.device(name)
    except RuntimeError as err:
        raise InvalidConfigError(f"unknown device {name!r}") from err
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise InvalidConfigError(f"device {name!r}: only cpu and cuda are supported")
    facts = {
        "torch": torch.__version__,
        "torchCuda": torch.version.cuda,
        "CUDA_VISIBLE_DEVICES": os.environ.get("CUDA_VISIBLE_DEVICES"),
    }
    if torch.version.cuda is None:
        raise DeviceUnavailableError(f"device {name!r} requested but this torch {torch.__version__} has no CUDA", facts)
    if not torch.cuda.is_available():
        raise DeviceUnavailableError(f"device {name!r} requested but CUDA reports no usable device", facts)
    index = 0 if dev.index is None else dev.index
    if index >= torch.cuda.device_count():
        raise DeviceUnavailableError(f"device {name!r}: only {torch.cuda.device_count()} CUDA device(s)", facts)
    return torch.device("cuda", index)


def assert_on_device(module: nn.Module, device: torch.device) -> None:
    """Every parameter and buffer of `module` lives on `device` (the engine's check after moving the model)."""
    for name, t in [*module.named_parameters(), *module.named_buffers()]:
        if t.device.type != device.type or (device.index is not None and t.device.index != device.index):
            raise DeviceUnavailableError(f"{name} is on {t.device}, expected {device}")


def autocast(device: torch.device, precision: Precision) -> contextlib.AbstractContextManager[Any]:
    """bf16 autocast on the device's type (CPU autocast exists too, so the bf16 path is testable without a GPU)."""
    if precision == "float32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def device_report(device: torch.device, opts: DeviceOptions) -> dict[str, Any]:
    """What ran the step, for checkpoints and reports (the tfjs engine's BackendInfo counterpart)."""
    report: dict[str, Any] = {
        "package": "torch",
        "version": torch.__version__,
        "device": str(device),
        "precision": opts.precision,
        "channelsLast": opts.channels_last,
        "compiled": opts.compile_backend if opts.compile else None,
        "threads": torch.get_num_threads(),
    }
    if device.type == "cuda":
        props = torch.cuda.get_device_properties(device)
        report.update({"cuda": torch.version.cuda, "name": props.name, "capability": f"{props.major}.{props.minor}"})
    return report
