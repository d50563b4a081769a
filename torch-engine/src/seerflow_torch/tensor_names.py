"""The one mapping between this engine's tensors and the tfjs engine's state tensors (engine/state.ts order: every
model tensor in store order, then `optim.momentum.<name>` per trainable tensor, then `queue`). Names are equal by
construction (regnet.py, swav_model.py); only layouts differ:

    hwio    k x k conv kernels: tfjs [kh, kw, cin/groups, cout]  <->  torch [cout, cin/groups, kh, kw]
    matrix  1x1 conv kernels:  tfjs [cin, cout] (run as MatMul)  <->  torch [cout, cin, 1, 1]
    linear  SE and head linears: tfjs [in, out]                  <->  torch [out, in]
    same    BN vectors, biases, prototypes [K, d], queue [crops, length, d]

BatchNorm's `num_batches_tracked` has no tfjs counterpart (momentum is fixed at 0.1, so it is never read) and is
the only torch tensor left out. A module type not listed here raises, so a new layer cannot go unmapped."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
from torch import nn

from .errors import IncompatibleStateError, InternalError
from .state_container import NamedArray
from .swav_model import FeatureQueue, HeadLayer, Prototypes
from .swav_step import SwavTrainer

Layout = Literal["hwio", "matrix", "linear", "same"]
UNMAPPED_BUFFERS = ("num_batches_tracked",)
MOMENTUM_PREFIX = "optim.momentum."


@dataclass(frozen=True)
class Mapped:
    name: str
    layout: Layout
    tensor: torch.Tensor  # the live torch tensor (parameter, buffer, momentum or queue)

    @property
    def tf_shape(self) -> tuple[int, ...]:
        return tfjs_shape(self.layout, tuple(self.tensor.shape))


def tfjs_shape(layout: Layout, shape: tuple[int, ...]) -> tuple[int, ...]:
    if layout == "hwio":
        o, i, kh, kw = shape
        return (kh, kw, i, o)
    if layout == "matrix":
        return (shape[1], shape[0])
    if layout == "linear":
        return (shape[1], shape[0])
    return shape


def to_tfjs(layout: Layout, t: torch.Tensor) -> np.ndarray:
    """A torch tensor as a C-ordered float32 array in the tfjs layout."""
    x = t.detach().to("cpu", torch.float32)
    if layout == "hwio":
        x = x.permute(2, 3, 1, 0)
    elif layout == "matrix":
        x = x[:, :, 0, 0].t()
    elif layout == "linear":
        x = x.t()
    return np.ascontiguousarray(x.numpy())


def from_tfjs(layout: Layout, a: np.ndarray, torch_shape: tuple[int, ...]) -> torch.Tensor:
    """A tfjs-layout array as a CPU float32 tensor of `torch_shape`."""
    x = torch.from_numpy(np.asarray(a, dtype=np.float32).reshape(tfjs_shape(layout, torch_shape)))
    if layout == "hwio":
        x = x.permute(3, 2, 0, 1)
    elif layout == "matrix":
        x = x.t()[:, :, None, None]
    elif layout == "linear":
        x = x.t()
    return x.contiguous()


def _layout(module: nn.Module, attr: str) -> Layout | None:
    """Layout of one direct parameter/buffer of `module`; None = deliberately unmapped; raises when unknown."""
    if isinstance(module, nn.Conv2d) and attr == "weight":
        return "matrix" if module.kernel_size == (1, 1) else "hwio"
    if isinstance(module, (nn.Linear, HeadLayer)):
        return "linear" if attr == "weight" else "same"
    if isinstance(module, (nn.BatchNorm1d, nn.BatchNorm2d)):
        return None if attr in UNMAPPED_BUFFERS else "same"
    if isinstance(module, Prototypes):
        return "same"
    raise InternalError(f"no tfjs layout for {type(module).__name__}.{attr}")


def model_tensors(model: nn.Module) -> list[Mapped]:
    """Every mapped model tensor, in the tfjs store order (= torch registration order, pre-order)."""
    out: list[Mapped] = []
    for prefix, m in model.named_modules():
        direct = [*m.named_parameters(recurse=False), *m.named_buffers(recurse=False)]
        for attr, t in direct:
            layout = _layout(m, attr)
            if layout is not None:
                out.append(Mapped(f"{prefix}.{attr}" if prefix else attr, layout, t))
    return out


def state_tensors(trainer: SwavTrainer) -> list[Mapped]:
    """The full state in engine/state.ts order: model tensors, momentum per trainable tensor, queue."""
    model = model_tensors(trainer.model)
    momentum = [
        Mapped(MOMENTUM_PREFIX + m.name, m.layout, trainer.optimizer.state[m.tensor]["momentum_buffer"])
        for m in model
        if isinstance(m.tensor, nn.Parameter) and m.tensor.requires_grad
    ]
    queue = [Mapped("queue", "same", trainer.queue.data)] if trainer.queue is not None else []
    return [*model, *momentum, *queue]


def export_state(trainer: SwavTrainer) -> list[NamedArray]:
    return [NamedArray(m.name, m.tf_shape, to_tfjs(m.layout, m.tensor)) for m in state_tensors(trainer)]


def import_state(trainer: SwavTrainer, tensors: list[NamedArray], step: int, queue_filled: int) -> None:
    """Load a tfjs-layout state into `trainer`. Every tensor must match by name and shape; nothing is changed unless
    all do (raises IncompatibleStateError)."""
    by_name = {t.name: t for t in tensors}
    if len(by_name) != len(tensors):
        raise IncompatibleStateError("state lists a tensor twice")
    queue = by_name.get("queue")
    s, d = trainer.cfg.step, trainer.cfg.head.feature_dim
    if queue is not None:
        if s.queue_length == 0:
            raise IncompatibleStateError("state has a queue, the config has none")
        if len(queue.shape) != 3 or queue.shape[0] != len(s.crops_for_assign) or queue.shape[2] != d:
            raise IncompatibleStateError(f"queue shape {queue.shape} does not fit the config")
        if queue.shape[1] > s.queue_length or not 0 <= queue_filled <= queue.shape[1]:
            raise IncompatibleStateError(f"queue length {queue.shape[1]} / filled {queue_filled} do not fit")
    expected = [m for m in state_tensors(trainer) if m.name != "queue"]
    if len(tensors) != len(expected) + (queue is not None):
        raise IncompatibleStateError(f"state has {len(tensors)} tensors, model expects {len(expected) + (queue is not None)}")
    for m in expected:
        t = by_name.get(m.name)
        if t is None:
            raise IncompatibleStateError(f"state lacks tensor {m.name}")
        if tuple(t.shape) != m.tf_shape or t.data.size != int(np.prod(m.tf_shape)):
            raise IncompatibleStateError(f"{m.name}: state shape {t.shape} != model shape {m.tf_shape}")
    with torch.no_grad():
        for m in expected:
            m.tensor.copy_(from_tfjs(m.layout, by_name[m.name].data, tuple(m.tensor.shape)))
    trainer.queue = None
    if queue is not None:
        crops, length, dim = queue.shape
        trainer.queue = FeatureQueue(crops, length, dim, 1, trainer.device)
        trainer.queue.data.copy_(torch.from_numpy(queue.data.reshape(queue.shape)))
        trainer.queue.filled = queue_filled
    trainer.iteration = step
