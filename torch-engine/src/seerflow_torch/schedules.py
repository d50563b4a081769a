"""SwAV learning-rate schedule, one value per iteration (ml/schedules.ts): a linear warmup that includes both end
points (np.linspace(startWarmupLr, baseLr, warmupIters)), then a half cosine from baseLr towards finalLr over the
remaining T iterations, lr_t = final + (base - final) (1 + cos(pi t / T)) / 2 for t = 0..T-1."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class LrSchedule:
    base_lr: float
    final_lr: float
    start_warmup_lr: float
    warmup_epochs: float
    epochs: float
    iters_per_epoch: int

    def __post_init__(self) -> None:
        for key in ("base_lr", "final_lr", "start_warmup_lr"):
            v = getattr(self, key)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{key} must be a finite number >= 0, got {v}")
        if not isinstance(self.iters_per_epoch, int) or self.iters_per_epoch < 1:
            raise ValueError(f"iters_per_epoch must be a positive integer, got {self.iters_per_epoch}")
        if not self.epochs > 0:
            raise ValueError(f"epochs must be > 0, got {self.epochs}")
        if not (0 <= self.warmup_epochs <= self.epochs):
            raise ValueError(f"warmup_epochs must be in [0, epochs], got {self.warmup_epochs}")
        self.warmup_iters  # noqa: B018 - validates the whole-iteration rule eagerly
        self.total_iters  # noqa: B018

    @property
    def warmup_iters(self) -> int:
        return _whole("iters_per_epoch * warmup_epochs", self.iters_per_epoch * self.warmup_epochs)

    @property
    def total_iters(self) -> int:
        return _whole("iters_per_epoch * epochs", self.iters_per_epoch * self.epochs)

    def at(self, i: int) -> float:
        """Learning rate at a 0-based global iteration in [0, total_iters)."""
        w, total = self.warmup_iters, self.total_iters
        if not isinstance(i, int) or not 0 <= i < total:
            raise ValueError(f"iteration must be an integer in [0, {total}), got {i}")
        if i < w:
            # NumPy linspace: start + i * step, the last point set to stop exactly.
            if w == 1:
                return self.start_warmup_lr
            if i == w - 1:
                return self.base_lr
            return self.start_warmup_lr + i * ((self.base_lr - self.start_warmup_lr) / (w - 1))
        t = i - w
        return self.final_lr + 0.5 * (self.base_lr - self.final_lr) * (1 + math.cos((math.pi * t) / (total - w)))

    def values(self) -> list[float]:
        return [self.at(i) for i in range(self.total_iters)]


def _whole(name: str, x: float) -> int:
    r = round(x)
    # Tolerate float noise such as 312 * 0.1 * 10; anything else is a configuration error.
    if not math.isfinite(x) or abs(x - r) > 1e-9 * max(1.0, abs(x)):
        raise ValueError(f"{name} must be a whole number of iterations, got {x}")
    return int(r)
