"""Typed errors of the engine. Each carries a `type` from the project's one error vocabulary (contracts/errors.ts,
checked by tests/test_errors.py), so the TypeScript side can turn it into the same ApplicationFailure type."""

from __future__ import annotations

from typing import Any


class SeerflowTorchError(Exception):
    """Base class: `type` names the ErrorType of contracts/errors.ts; `details` are small JSON-able facts."""

    type: str = "InternalInvariant"

    def __init__(self, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.details: dict[str, Any] = details or {}


class InvalidConfigError(SeerflowTorchError):
    """A spec or config handed to the engine is malformed or inconsistent."""

    type = "InvalidConfig"


class IncompatibleStateError(SeerflowTorchError):
    """A state does not fit the model it is loaded into (names, shapes, layout), or its bytes are corrupt."""

    type = "IncompatibleCheckpoint"


class NonFiniteLossError(SeerflowTorchError):
    """The loss of a step was NaN or infinite; the training state was left exactly as before the step."""

    type = "NonFiniteLoss"

    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"non-finite SwAV loss {loss} at step {step}", {"step": step, "loss": str(loss)})
        self.step = step
        self.loss = loss


class DeviceUnavailableError(SeerflowTorchError):
    """The configured device (CUDA) is not usable in this process; the engine never falls back to CPU silently."""

    type = "DeviceUnavailable"


class InvalidInputError(SeerflowTorchError):
    """A batch handed to the engine does not fit the configured crops (count, size, batch)."""

    type = "InvalidInput"


class InternalError(SeerflowTorchError):
    """An invariant of the engine itself broke (e.g. a module type without a tfjs layout)."""

    type = "InternalInvariant"
