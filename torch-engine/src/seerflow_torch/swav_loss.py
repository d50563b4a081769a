"""SwAV swapped-prediction loss (ml/swav-loss.ts, engine/swav-step.ts `swappedPredictionLoss`):

    L = 1/|A| sum_{a in A} 1/(V-1) sum_{v != a} [ -1/B sum_n sum_k q^a_nk log softmax_k(s^v_n / tau) ]

with the codes q^a = Sinkhorn(s^a) held constant. Computed as sum_{v != a} log p_v = sum_v log p_v - log p_a, so the
cost does not grow with |A| x V."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from .sinkhorn import sinkhorn


def swapped_prediction_loss(
    scores: torch.Tensor, codes: Sequence[torch.Tensor], batch: int, crops_for_assign: Sequence[int], temperature: float
) -> torch.Tensor:
    """`scores` [V*B, K] crop-major; `codes[i]` [B, K] for crop `crops_for_assign[i]`. Returns a 0-d tensor."""
    rows, K = scores.shape
    V = rows // batch
    logp = torch.log_softmax(scores / temperature, dim=1).view(V, batch, K)
    sum_logp = logp.sum(0)
    total = sum((codes[i] * (sum_logp - logp[a])).sum() for i, a in enumerate(crops_for_assign))
    return total * (-1.0 / (batch * (V - 1) * len(crops_for_assign)))


@dataclass
class SwavLossResult:
    loss: torch.Tensor
    codes: list[torch.Tensor]


def swav_loss(
    scores_per_crop: Sequence[torch.Tensor],
    temperature: float,
    epsilon: float,
    iterations: int,
    crops_for_assign: Sequence[int],
    queue_scores: Sequence[torch.Tensor | None] | None = None,
) -> SwavLossResult:
    """ml/swav-loss.ts `swavLoss` over per-crop score matrices [B, K]: codes from Sinkhorn (queue scores prepended
    when given, only the batch's codes kept), then the swapped-prediction loss. Differentiable in the scores."""
    B = scores_per_crop[0].shape[0]
    codes = []
    for i, a in enumerate(crops_for_assign):
        s = scores_per_crop[a].detach()
        q = queue_scores[i] if queue_scores is not None else None
        codes.append(sinkhorn(torch.cat([q, s]) if q is not None and q.numel() > 0 else s, epsilon, iterations, B))
    loss = swapped_prediction_loss(torch.cat(list(scores_per_crop)), codes, B, crops_for_assign, temperature)
    return SwavLossResult(loss, codes)
