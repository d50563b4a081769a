"""Reader and writer of the tfjs engine's state bytes (numpy only) (engine/state.ts, format version 1), on lists of
(name, shape, float32 array): nothing here knows about models, so a redefined container only replaces this file.

    "SEERFLOWSTATE\\0\\0\\0" (16 bytes) | u32 version | u32 header length | header JSON (UTF-8)
    | zero padding to a multiple of 4 | float32 data of every tensor, in header order | SHA-256 of all before (32)
"""

from __future__ import annotations

import hashlib
import json
import struct
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .errors import IncompatibleStateError

MAGIC = b"SEERFLOWSTATE\0\0\0"
STATE_FORMAT_VERSION = 1


@dataclass(frozen=True)
class NamedArray:
    """One tensor of a state in tfjs layout (tensor_names.py converts to and from the torch layouts)."""

    name: str
    shape: tuple[int, ...]
    data: np.ndarray  # float32, C order, data.size == prod(shape)


@dataclass
class StateFile:
    tensors: list[NamedArray]
    step: int = 0
    queue_filled: int = 0
    meta: Any = None
    extra: dict[str, Any] = field(default_factory=dict)  # header keys this reader does not interpret


def write_state(state: StateFile) -> bytes:
    """The bytes engine/state.ts `serializeState` writes for the same tensors, step, queue fill and meta."""
    offset = 0
    entries = []
    for t in state.tensors:
        entries.append({"name": t.name, "shape": list(t.shape), "offset": offset})
        offset += int(np.prod(t.shape, dtype=np.int64))
    header = {
        "format": "seerflow-engine-state",
        "version": STATE_FORMAT_VERSION,
        "step": state.step,
        "queueFilled": state.queue_filled,
        "tensors": entries,
        "meta": state.meta,
    }
    js = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    pre = len(MAGIC) + 8 + len(js)
    parts = [MAGIC, struct.pack("<II", STATE_FORMAT_VERSION, len(js)), js, b"\0" * (-pre % 4)]
    parts += [np.ascontiguousarray(t.data, dtype="<f4").tobytes() for t in state.tensors]
    body = b"".join(parts)
    return body + hashlib.sha256(body).digest()


def read_state(data: bytes) -> StateFile:
    """Verify magic, version and checksum, parse the header and slice every tensor (copies, float32)."""
    if len(data) < len(MAGIC) + 8 + 32 or data[: len(MAGIC)] != MAGIC:
        raise IncompatibleStateError("not a seerflow engine state (bad magic)")
    if hashlib.sha256(data[:-32]).digest() != data[-32:]:
        raise IncompatibleStateError("engine state checksum mismatch")
    version, jlen = struct.unpack_from("<II", data, len(MAGIC))
    if version != STATE_FORMAT_VERSION:
        raise IncompatibleStateError(f"unsupported engine state version {version}")
    start = len(MAGIC) + 8
    header = json.loads(data[start : start + jlen].decode("utf-8"))
    data_start = -(-(start + jlen) // 4) * 4
    values = np.frombuffer(data, dtype="<f4", count=(len(data) - 32 - data_start) // 4, offset=data_start)
    tensors = []
    for t in header["tensors"]:
        shape = tuple(int(x) for x in t["shape"])
        size, off = int(np.prod(shape, dtype=np.int64)), int(t["offset"])
        if off < 0 or off + size > values.size:
            raise IncompatibleStateError(f"{t['name']}: data out of range")
        tensors.append(NamedArray(t["name"], shape, values[off : off + size].astype(np.float32).reshape(shape)))
    known = {"format", "version", "step", "queueFilled", "tensors", "meta"}
    extra = {k: v for k, v in header.items() if k not in known}
    return StateFile(tensors, int(header["step"]), int(header["queueFilled"]), header.get("meta"), extra)
