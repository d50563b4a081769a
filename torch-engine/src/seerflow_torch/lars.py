"""LARC (apex, clip=False) over SGD with momentum and coupled weight decay: the semantics of ml/lars.ts and
engine/lars.ts. Per parameter p with gradient g (trust coefficient eta, weight decay wd):

    eta > 0:  if |p| != 0 and |g| != 0:  lambda = eta |p| / (|g| + wd |p| + eps);  g = (g + wd p) * lambda
              else g is used as is (no weight decay either)
    eta = 0:  g = g + wd p                              (plain SGD with coupled weight decay)
    buf = momentum * buf + g;  p = p - lr * buf

Every trainable tensor is treated alike (no BN/bias exclusion: the tfjs engine and SwAV's LARC exclude nothing).
A parameter without a gradient (frozen prototypes) is not touched at all: no decay, no momentum update. Momentum
buffers exist (zero) from the start, as in tfjs, so a checkpoint always has one per parameter; m * 0 + g == g is
PyTorch's cloned first buffer. The multi-tensor path (torch._foreach_*) computes every norm and trust ratio on the
device without a host sync (norms accumulate in float64); the per-tensor loop is the plain reference (tests check they agree)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from .config import LarsConfig


class Lars(torch.optim.Optimizer):
    """LARC + SGD momentum. `lr` is set per step (`step(lr=...)`, the SwAV schedule)."""

    def __init__(self, params: Iterable[torch.nn.Parameter], cfg: LarsConfig, foreach: bool | None = None) -> None:
        for k, v in {"momentum": cfg.momentum, "weightDecay": cfg.weight_decay, "trust": cfg.trust_coefficient}.items():
            if not v >= 0 or v != v or v == float("inf"):
                raise ValueError(f"LARS {k} must be a finite number >= 0, got {v}")
        defaults: dict[str, Any] = {
            "lr": 0.0,
            "momentum": cfg.momentum,
            "weight_decay": cfg.weight_decay,
            "trust_coefficient": cfg.trust_coefficient,
            "eps": cfg.eps,
            "foreach": foreach,
        }
        super().__init__(list(params), defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self.state[p]["momentum_buffer"] = torch.zeros_like(p, memory_format=torch.preserve_format)

    @torch.no_grad()
    def step(self, closure: None = None, lr: float | None = None) -> None:  # type: ignore[override]
        if closure is not None:
            raise ValueError("Lars.step takes no closure")
        for group in self.param_groups:
            if lr is not None:
                group["lr"] = lr
            if not group["lr"] >= 0 or group["lr"] == float("inf"):
                raise ValueError(f"learning rate must be a finite number >= 0, got {group['lr']}")
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            grads = [p.grad for p in params]
            bufs = [self.state[p]["momentum_buffer"] for p in params]
            use_foreach = group["foreach"] if group["foreach"] is not None else params[0].is_cuda
            (_step_foreach if use_foreach else _step_loop)(params, grads, bufs, group)


def _factors(
    pn: torch.Tensor, gn: torch.Tensor, eta: float, wd: float, eps: float, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor]:
    """Trust ratio lambda and the weight-decay factor (wd, or 0 under the skip rule), from float64 norms and
    rounded once to the parameter dtype, as ml/lars.ts does (float32 norms drift by ~1e-7 relative, which a
    momentum update that cancels can amplify past the goldens' 1e-6)."""
    ok = (pn != 0) & (gn != 0)
    lam = torch.where(ok, eta * pn / (gn + pn * wd + eps), torch.ones_like(pn))
    return lam.to(dtype), torch.where(ok, wd, 0.0).to(dtype)


def _step_loop(params: list[torch.Tensor], grads: list[torch.Tensor], bufs: list[torch.Tensor], g: dict) -> None:
    eta, wd, eps, m, lr = g["trust_coefficient"], g["weight_decay"], g["eps"], g["momentum"], g["lr"]
    for p, grad, buf in zip(params, grads, bufs):
        if eta == 0:
            d = grad + p * wd
        else:
            pn = torch.linalg.vector_norm(p, dtype=torch.float64)
            gn = torch.linalg.vector_norm(grad, dtype=torch.float64)
            lam, decay = _factors(pn, gn, eta, wd, eps, p.dtype)
            d = (grad + p * decay) * lam
        buf.mul_(m).add_(d)
        p.sub_(buf * lr)


def _step_foreach(params: list[torch.Tensor], grads: list[torch.Tensor], bufs: list[torch.Tensor], g: dict) -> None:
    eta, wd, eps, m, lr = g["trust_coefficient"], g["weight_decay"], g["eps"], g["momentum"], g["lr"]
    if eta == 0:
        d = torch._foreach_add(grads, torch._foreach_mul(params, wd))
    else:
        pn = torch.stack(torch._foreach_norm(params, 2, dtype=torch.float64))
        gn = torch.stack(torch._foreach_norm(grads, 2, dtype=torch.float64))
        lam, decay = _factors(pn, gn, eta, wd, eps, params[0].dtype)
        d = torch._foreach_add(grads, torch._foreach_mul(params, decay.unbind()))
        torch._foreach_mul_(d, lam.unbind())
    torch._foreach_mul_(bufs, m)
    torch._foreach_add_(bufs, d)
    torch._foreach_add_(params, torch._foreach_mul(bufs, lr), alpha=-1.0)
