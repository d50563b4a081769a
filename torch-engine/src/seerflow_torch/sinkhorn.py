"""Sinkhorn-Knopp codes (SwAV `distributed_sinkhorn`, single process) with the algorithm of ml/sinkhorn.ts and
engine/swav-step.ts `sinkhornTf`: Q = Diag(a) E Diag(b) for a kernel E computed once; only the scaling vectors a (K)
and b (B) iterate. E is SwAV's own exp(s / eps) when every row and column sum of it lies in [1e-17, 1e30] (cosine
scores with SwAV's or SEER's eps always do); otherwise the kernel is stabilised by per-prototype and per-sample
maxima (every entry <= 1), the per-sample factor carried into the starting b. Both equal the reference in exact
arithmetic (docs/training-engine.md, "Objective and optimizer")."""

from __future__ import annotations

import torch

DIRECT_KERNEL_SUM_RANGE = (1e-17, 1e30)


def _in_range(sums: torch.Tensor) -> bool:
    lo, hi = DIRECT_KERNEL_SUM_RANGE
    # One host sync per call: the kernel choice must be known before iterating (NaN fails the test too).
    return bool(((sums >= lo) & (sums <= hi)).all())


@torch.no_grad()
def sinkhorn(scores: torch.Tensor, epsilon: float, iterations: int, out_rows: int | None = None) -> torch.Tensor:
    """Codes of the last `out_rows` rows (queue rows are prepended by the caller) of `scores` [B, K]; each row sums
    to 1. Runs in the dtype of `scores` (float32 in training; float64 for checks); autocast is disabled inside."""
    if epsilon <= 0 or iterations < 1:
        raise ValueError(f"sinkhorn: epsilon must be > 0 and iterations >= 1, got {epsilon}, {iterations}")
    with torch.autocast(scores.device.type, enabled=False):
        B, K = scores.shape
        E = torch.exp(scores * (1.0 / epsilon))
        row_acc = E.sum(0, keepdim=True)  # [1, K]: prototype sums with b = 1
        if not (_in_range(row_acc) and _in_range(E.sum(1))):
            d = scores - scores.max(0, keepdim=True).values  # s - m_k
            c = d.max(1, keepdim=True).values  # [B, 1], <= 0
            E = torch.exp((d - c) / epsilon)
            row_acc = torch.exp(c / epsilon).t() @ E
        rows = B if out_rows is None else out_rows
        for it in range(iterations):
            a = 1.0 / (row_acc * K)  # [1, K]
            col = E @ a.t()  # [B, 1]
            if it == iterations - 1:
                return E[B - rows :] * a / col[B - rows :]
            b = 1.0 / (col * B)
            row_acc = b.t() @ E
    raise AssertionError("unreachable")
