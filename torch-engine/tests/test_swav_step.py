"""One SwAV step equals the tfjs engine's (engine/swav-step.ts): from the same weights and batches, four steps of the
micro workload (prototypes frozen in step 1, queue filled by steps 1-2 and used from step 3) give the tfjs losses
(relative 1e-5) and weights, BN statistics, momentum and queue (absolute 1e-4), the parity bounds of the engines."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import assert_allclose
from micro import BATCH, MICRO, batches, state, trainer
from seerflow_torch.errors import InvalidInputError, NonFiniteLossError
from seerflow_torch.state_container import StateFile
from seerflow_torch.tensor_names import export_state


def _compare(t, ref: StateFile) -> None:
    mine = {x.name: x for x in export_state(t)}
    assert [x.name for x in ref.tensors] == list(mine)
    for x in ref.tensors:
        assert_allclose(mine[x.name].data, x.data, rtol=0, atol=1e-4, label=x.name)
    assert t.iteration == ref.step
    assert (t.queue.filled if t.queue is not None else 0) == ref.queue_filled


def test_four_steps_equal_the_tfjs_engine() -> None:
    t, bs = trainer(), batches()
    for i, want in enumerate(MICRO["steps"]):
        r = t.step(bs[i % 2], BATCH, want["lr"])
        assert r.loss == pytest.approx(want["loss"], rel=1e-5)
        assert (r.step, r.prototypes_frozen, r.queue_used) == (want["step"], want["prototypesFrozen"], want["queueUsed"])
        if i == 0:
            _compare(t, state("after1"))
    _compare(t, state("after"))
    size = MICRO["embed"]["size"]
    images = bs[0][0][:2]
    assert images.shape[-1] == size
    assert_allclose(t.embed(images), MICRO["embed"]["values"], rtol=0, atol=1e-4, label="embed")


def test_frozen_prototypes_stay_bit_identical_then_move_and_stay_normalised() -> None:
    t, bs = trainer(), batches()
    p0 = t.model.prototypes.weight.detach().clone()
    m0 = t.optimizer.state[t.model.prototypes.weight]["momentum_buffer"].clone()
    t.step(bs[0], BATCH, 0.5)  # freezePrototypesIters = 1
    assert torch.equal(t.model.prototypes.weight, p0)
    assert torch.equal(t.optimizer.state[t.model.prototypes.weight]["momentum_buffer"], m0)
    t.step(bs[1], BATCH, 0.5)
    w = t.model.prototypes.weight.detach()
    assert not torch.equal(w, p0)
    assert_allclose(w.norm(dim=1), torch.ones(w.shape[0]), rtol=0, atol=1e-6, label="prototype norms")


def test_non_finite_loss_raises_and_changes_nothing() -> None:
    t, bs = trainer(from_state="after1"), batches()
    before = export_state(t)
    bad = [x.clone() for x in bs[0]]
    bad[0].fill_(float("nan"))
    with pytest.raises(NonFiniteLossError) as err:
        t.step(bad, BATCH, 0.5)
    assert err.value.step == 1 and err.value.type == "NonFiniteLoss"
    after = export_state(t)
    assert all(np.array_equal(a.data, b.data) for a, b in zip(before, after))  # BN statistics included
    assert t.iteration == 1


def test_rejects_batches_that_do_not_fit_the_crops() -> None:
    t, bs = trainer(), batches()
    with pytest.raises(InvalidInputError):
        t.step(bs[0][:1], BATCH, 0.5)
    with pytest.raises(InvalidInputError):
        t.step(bs[0], BATCH + 1, 0.5)
    assert t.iteration == 0
