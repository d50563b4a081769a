"""SwAV model around the RegNet trunk (engine/swav-model.ts): projection MLP (hidden layers with BatchNorm1d + ReLU,
or ReLU only, then a linear layer to featureDim), L2 normalisation, prototypes W [K, d] (no bias) kept row-normalised,
and the SwAV feature queue. Names equal the tfjs tensor names (`head.l1.weight`, `prototypes.weight`)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .config import HeadConfig, RegNetSpec
from .errors import InvalidConfigError
from .regnet import RegNetTrunk, init_reference


class HeadLayer(nn.Module):
    """Linear (weight [out, in], bias), then BatchNorm1d and/or ReLU unless it is the last layer."""

    def __init__(self, cin: int, cout: int, batch_norm: bool, activate: bool) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(cout, cin))
        self.bias = nn.Parameter(torch.empty(cout))
        self.bn = nn.BatchNorm1d(cout, eps=1e-5, momentum=0.1) if batch_norm else None
        self.activate = activate

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.linear(x, self.weight, self.bias)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x) if self.activate else x


class Prototypes(nn.Module):
    """The prototype matrix W [K, d]; scores are z W^T."""

    def __init__(self, count: int, dim: int) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(count, dim))

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return F.linear(z, self.weight)


class SwavModel(nn.Module):
    """Trunk + projection head `head.l1..lN` + prototypes."""

    def __init__(self, spec: RegNetSpec, head: HeadConfig) -> None:
        super().__init__()
        self.head_config = head
        self.trunk = RegNetTrunk(spec)
        self.head = nn.Module()
        dims = [*head.hidden_dims, head.feature_dim]
        width = spec.out_width
        for i, d in enumerate(dims):
            last = i == len(dims) - 1
            self.head.add_module(f"l{i + 1}", HeadLayer(width, d, head.head_batch_norm and not last, not last))
            width = d
        self.prototypes = Prototypes(head.prototypes, head.feature_dim)

    def head_layers(self) -> list[HeadLayer]:
        return [m for m in self.head.children() if isinstance(m, HeadLayer)]

    def init(self, seed: int) -> None:
        """Reference initialisation from `seed` (see regnet.init_reference; head linears and prototypes use
        nn.Linear's default U(+-1/sqrt(fan_in)), as SwAV and the tfjs engine do), then normalise the prototypes."""
        g = torch.Generator().manual_seed(seed)
        with torch.no_grad():
            init_reference(self.trunk, g)
            for layer in self.head_layers():
                bound = 1.0 / layer.weight.shape[1] ** 0.5
                layer.weight.uniform_(-bound, bound, generator=g)
                layer.bias.uniform_(-bound, bound, generator=g)
                if layer.bn is not None:
                    layer.bn.reset_parameters()
            bound = 1.0 / self.head_config.feature_dim**0.5
            self.prototypes.weight.uniform_(-bound, bound, generator=g)
        self.normalize_prototypes()

    def project(self, h: torch.Tensor) -> torch.Tensor:
        """Projection head on trunk features, then z / max(|z|, 1e-12) in float32."""
        x = h
        for layer in self.head_layers():
            x = layer(x)
        return F.normalize(x.float(), dim=1, eps=1e-12)

    @torch.no_grad()
    def normalize_prototypes(self) -> None:
        """W <- W / max(|W_row|, 1e-12) (SwAV: every iteration; no gradient)."""
        w = self.prototypes.weight
        w.copy_(F.normalize(w, dim=1, eps=1e-12))


class FeatureQueue:
    """One [length, d] block of past normalised embeddings per assigned crop, newest first (engine/swav-model.ts).
    Created (zeros) at the start epoch; its scores are prepended before Sinkhorn once every row is filled."""

    def __init__(self, crops: int, length: int, dim: int, batch: int, device: torch.device) -> None:
        self.length = (length // batch) * batch  # a multiple of the batch, as SwAV does
        if self.length <= 0:
            raise InvalidConfigError(f"queue length {length} is shorter than one batch of {batch}")
        self.crops = crops
        self.dim = dim
        self.data = torch.zeros(crops, self.length, dim, device=device)
        self.filled = 0

    def is_full(self) -> bool:
        return self.filled >= self.length

    def rows(self, i: int) -> torch.Tensor:
        return self.data[i]

    def push(self, z: list[torch.Tensor]) -> None:
        """Shift every slot down by the batch and write `z[i]` ([batch, d]) first in slot i."""
        batch = z[0].shape[0]
        fresh = torch.stack([t.detach().float() for t in z])
        self.data = torch.cat([fresh, self.data[:, : self.length - batch]], dim=1)
        self.filled = min(self.length, self.filled + batch)
