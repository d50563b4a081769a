"""One SwAV training step with the semantics of engine/swav-step.ts: every crop-size group (consecutive crops of one
size) is one trunk pass (BN statistics are per pass), the head and prototypes run on all crops together, Sinkhorn
codes of the assigned crops without gradient (the queue's scores, with the current prototypes, prepended once the
queue is full), the swapped-prediction loss averaged as SwAV does, backward, LARS, then the queue push and prototype
normalisation. Prototypes get no update at all while frozen. A non-finite loss raises NonFiniteLossError before any
state changes (the BN running statistics the forward pass moved are restored)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from .config import CropGroup, EngineConfig
from .device import DeviceOptions, assert_on_device, autocast, resolve_device
from .errors import InvalidInputError, NonFiniteLossError
from .lars import Lars
from .sinkhorn import sinkhorn
from .swav_loss import swapped_prediction_loss
from .swav_model import FeatureQueue, SwavModel


@dataclass(frozen=True)
class StepResult:
    loss: float
    step: int  # completed steps after this one
    prototypes_frozen: bool
    queue_used: bool


class SwavTrainer:
    """Model, optimizer, step counter and queue of one training run on one device."""

    def __init__(self, cfg: EngineConfig, opts: DeviceOptions | None = None) -> None:
        self.cfg = cfg
        self.opts = opts or DeviceOptions()
        self.device = resolve_device(self.opts.device)
        self.model = SwavModel(cfg.spec, cfg.head).to(self.device)
        if self.opts.channels_last:
            self.model.to(memory_format=torch.channels_last)
        assert_on_device(self.model, self.device)
        self.optimizer = Lars([p for p in self.model.parameters() if p.requires_grad], cfg.optim)
        self.groups: list[CropGroup] = cfg.step.groups()
        self.iteration = 0
        self.queue: FeatureQueue | None = None
        # Compiled trunk: one graph per crop resolution; the BN buffers it updates are the module's own.
        trunk = self.model.trunk
        self.trunk = torch.compile(trunk, backend=self.opts.compile_backend) if self.opts.compile else trunk
        self._buffers = list(self.model.buffers())
        self._saved = [b.clone() for b in self._buffers]

    def init(self, seed: int) -> None:
        """Reference initialisation from `seed`; step counter, momentum and queue start fresh."""
        self.model.init(seed)
        for group in self.optimizer.param_groups:
            for p in group["params"]:
                self.optimizer.state[p]["momentum_buffer"].zero_()
        self.iteration = 0
        self.queue = None

    def ensure_queue(self, batch: int) -> FeatureQueue | None:
        """Create the queue (zeros) if the config asks for one; called by `step` and by state restore."""
        s = self.cfg.step
        if self.queue is None and s.queue_length > 0:
            self.queue = FeatureQueue(len(s.crops_for_assign), s.queue_length, self.cfg.head.feature_dim, batch, self.device)
        return self.queue

    def _inputs(self, crops: Sequence[torch.Tensor], batch: int) -> list[torch.Tensor]:
        if not isinstance(batch, int) or batch < 1:
            raise InvalidInputError(f"batch must be a positive integer, got {batch}")
        if len(crops) != len(self.groups):
            raise InvalidInputError(f"expected {len(self.groups)} crop size groups, got {len(crops)}")
        fmt = torch.channels_last if self.opts.channels_last else torch.contiguous_format
        out = []
        for i, (g, x) in enumerate(zip(self.groups, crops)):
            want = (g.count * batch, 3, g.size, g.size)
            if tuple(x.shape) != want:
                raise InvalidInputError(f"crop group {i} ({g.count}x{g.size}px): shape {tuple(x.shape)}, expected {want}")
            out.append(x.to(self.device, torch.float32, non_blocking=True).contiguous(memory_format=fmt))
        return out

    def step(self, crops: Sequence[torch.Tensor], batch: int, lr: float, epoch: int = 0) -> StepResult:
        """One training step at learning rate `lr`; `crops[g]` is [count_g * batch, 3, size_g, size_g], crop-major."""
        xs = self._inputs(crops, batch)
        s = self.cfg.step
        A = s.crops_for_assign
        frozen = self.iteration < s.freeze_prototypes_iters
        queue = self.ensure_queue(batch) if epoch >= s.epoch_queue_starts else self.queue
        queue_used = queue is not None and queue.is_full()
        model = self.model
        torch._foreach_copy_(self._saved, self._buffers)

        with autocast(self.device, self.opts.precision):
            h = torch.cat([self.trunk(x) for x in xs]) if len(xs) > 1 else self.trunk(xs[0])
            z = model.project(h)  # [V*B, d], float32
        with torch.autocast(self.device.type, enabled=False):
            scores = model.prototypes(z)  # [V*B, K], float32: Sinkhorn's exp(s/eps) needs it
            with torch.no_grad():
                codes = []
                for i, a in enumerate(A):
                    sa = scores[a * batch : (a + 1) * batch].detach()
                    if queue_used and queue is not None:
                        sa = torch.cat([model.prototypes(queue.rows(i)), sa])
                    codes.append(sinkhorn(sa, s.epsilon, s.sinkhorn_iterations, batch))
            loss = swapped_prediction_loss(scores, codes, batch, A, s.temperature)

        value = float(loss.item())
        if not np.isfinite(value):
            torch._foreach_copy_(self._buffers, self._saved)
            raise NonFiniteLossError(self.iteration, value)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if frozen:
            model.prototypes.weight.grad = None  # SwAV's way: no update at all, and DDP-safe (no requires_grad flip)
        self.optimizer.step(lr=lr)
        if queue is not None:
            queue.push([z[a * batch : (a + 1) * batch] for a in A])
        if not frozen:
            model.normalize_prototypes()
        self.iteration += 1
        return StepResult(value, self.iteration, frozen, queue_used)

    @torch.no_grad()
    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """Trunk features [n, outWidth] of [n, 3, H, W] images with eval-mode BN."""
        self.model.eval()
        try:
            with autocast(self.device, self.opts.precision):
                return self.trunk(images.to(self.device, torch.float32)).float()
        finally:
            self.model.train()


def crops_from_nhwc(arrays: Sequence[np.ndarray], groups: Sequence[CropGroup], batch: int) -> list[torch.Tensor]:
    """The tfjs engine's batch layout (one flat NHWC float32 array per size group) as NCHW tensors, without a copy
    (their strides are channels_last)."""
    out = []
    for a, g in zip(arrays, groups):
        t = torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).view(g.count * batch, g.size, g.size, 3)
        out.append(t.permute(0, 3, 1, 2))
    return out
