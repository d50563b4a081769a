"""Every error type the engine raises is in the project's one vocabulary (contracts/errors.ts `ErrorType`)."""

from __future__ import annotations

import re

from conftest import REPO
from seerflow_torch import errors


def test_error_types_are_in_the_typescript_vocabulary() -> None:
    ts = (REPO / "contracts" / "errors.ts").read_text()
    block = ts[ts.index("export const ErrorType") : ts.index("} as const")]
    vocabulary = {value for _, value in re.findall(r"^\s+(\w+): '(\w+)',", block, re.M)}
    assert "NonFiniteLoss" in vocabulary
    classes = [c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.SeerflowTorchError)]
    assert len(classes) >= 6
    for cls in classes:
        assert cls.type in vocabulary, f"{cls.__name__}.type {cls.type!r} is not an ErrorType"
