"""RegNetY trunk in PyTorch, built from a resolved spec (ml/regnet.ts) with the structure of engine/regnet-model.ts:
stem 3x3/s2 conv + BN + ReLU; per block a (1x1, BN, ReLU) -> b (3x3 grouped, stride, BN, ReLU) -> SE -> c (1x1, BN),
plus identity or 1x1/stride + BN projection shortcut, ReLU after the sum; global average pool. No conv bias except
in SE. BN eps 1e-5, momentum 0.1 (PyTorch's defaults, as in tfjs). Module names equal the tfjs tensor names
(`trunk.s1.b1.a.conv.weight`, ...) and are registered in the tfjs creation order (shortcut first), so the state
mapping (tensor_names.py) changes layouts only."""

from __future__ import annotations

from collections import OrderedDict

import torch
import torch.nn.functional as F
from torch import nn

from .config import BlockSpec, RegNetSpec


class ConvBn(nn.Module):
    """k x k conv (padding k // 2, no bias) + BatchNorm2d."""

    def __init__(self, cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=1e-5, momentum=0.1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


class SqueezeExcite(nn.Module):
    """Global pool, Linear(w, se) + ReLU, Linear(se, w) + sigmoid, channel scale (the 1x1 convs at 1x1 as linears)."""

    def __init__(self, width: int, se_width: int) -> None:
        super().__init__()
        self.reduce = nn.Linear(width, se_width)
        self.expand = nn.Linear(se_width, width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = x.mean((2, 3))
        e = torch.sigmoid(self.expand(F.relu(self.reduce(s))))
        return x * e[:, :, None, None].to(x.dtype)


class Block(nn.Module):
    """Residual bottleneck block with grouped 3x3 conv and optional SE."""

    def __init__(self, spec: BlockSpec) -> None:
        super().__init__()
        # Registration order = tfjs creation order: shortcut, a, b, se, c.
        self.proj = ConvBn(spec.w_in, spec.w_out, 1, spec.stride) if spec.projection else None
        self.a = ConvBn(spec.w_in, spec.w_b, 1)
        self.b = ConvBn(spec.w_b, spec.w_b, 3, spec.stride, spec.groups)
        self.se = SqueezeExcite(spec.w_b, spec.se_width) if spec.se_width > 0 else None
        self.c = ConvBn(spec.w_b, spec.w_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.a(x))
        h = F.relu(self.b(h))
        if self.se is not None:
            h = self.se(h)
        h = self.c(h)
        shortcut = self.proj(x) if self.proj is not None else x
        return F.relu(h + shortcut)


class RegNetTrunk(nn.Module):
    """Stem + stages `s1..sN` (each `b1..bM`) + global average pool: [N, 3, H, W] -> [N, outWidth]."""

    def __init__(self, spec: RegNetSpec) -> None:
        super().__init__()
        self.spec = spec
        self.stem = ConvBn(3, spec.stem_width, 3, 2)
        for s in range(len(spec.stages)):
            blocks = OrderedDict((f"b{b.index + 1}", Block(b)) for b in spec.blocks if b.stage == s)
            self.add_module(f"s{s + 1}", nn.Sequential(blocks))

    def stages(self) -> list[nn.Sequential]:
        return [getattr(self, f"s{s + 1}") for s in range(len(self.spec.stages))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.stem(x))
        for stage in self.stages():
            h = stage(h)
        return h.mean((2, 3))


def trainable_param_count(module: nn.Module) -> int:
    """Trainable scalars (conv/linear weights, biases, BN gamma/beta); BN running statistics are buffers."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)


def init_reference(module: nn.Module, generator: torch.Generator) -> None:
    """Reference initialisation of engine/params.ts: conv ~ N(0, sqrt(2 / fan_out)) (SE linears count as 1x1 convs),
    BN gamma 1, beta 0, running mean 0, var 1, zero SE bias. The random streams differ from tfjs's (its keyed RNG):
    engines are compared from the same loaded weights, not from the same seed."""
    with torch.no_grad():
        for m in module.modules():
            if isinstance(m, nn.Conv2d):
                fan_out = m.kernel_size[0] * m.kernel_size[1] * m.out_channels
                m.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=generator)
            elif isinstance(m, SqueezeExcite):
                for lin in (m.reduce, m.expand):
                    lin.weight.normal_(0.0, (2.0 / lin.out_features) ** 0.5, generator=generator)
                    lin.bias.zero_()
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()
