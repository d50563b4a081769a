"""Reader and writer of the one state container (engine/state-container.ts, docs/training-kit.md; numpy only), on
lists of (name, shape, float32 array): nothing here knows about models.

    "SEERFLOWSTATE\\0\\0\\0" (16 bytes) | u32 version (2) | u32 header length | header JSON (UTF-8)
    | zero padding to a multiple of 4 | float32 data of every tensor, in header order | SHA-256 of all before (32)

Header (version 2): {format: "seerflow-state", version, kind, step, tensors: [{name, shape, dtype, offset}],
kindMeta?, meta}. Version 1 (the SwAV-only layout, header "seerflow-engine-state" with queueFilled) is still read.
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
STATE_FORMAT_VERSION = 2
LEGACY_SWAV_VERSION = 1


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
    kind: str = "swav"
    extra: dict[str, Any] = field(default_factory=dict)  # kindMeta keys this reader does not interpret


def write_state(state: StateFile) -> bytes:
    """The bytes engine/state-container.ts writes for the same kind, tensors, step, kind metadata and meta."""
    offset = 0
    entries = []
    for t in state.tensors:
        entries.append({"name": t.name, "shape": list(t.shape), "dtype": "float32", "offset": offset})
        offset += int(np.prod(t.shape, dtype=np.int64))
    kind_meta = {"queueFilled": state.queue_filled, **state.extra} if state.kind == "swav" else dict(state.extra)
    header: dict[str, Any] = {
        "format": "seerflow-state",
        "version": STATE_FORMAT_VERSION,
        "kind": state.kind,
        "step": state.step,
        "tensors": entries,
    }
    if kind_meta:
        header["kindMeta"] = kind_meta
    header["meta"] = state.meta
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
    if version not in (STATE_FORMAT_VERSION, LEGACY_SWAV_VERSION):
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
    if version == LEGACY_SWAV_VERSION:
        if header.get("format") != "seerflow-engine-state":
            raise IncompatibleStateError("state v1 header is not a SwAV state")
        return StateFile(tensors, int(header["step"]), int(header["queueFilled"]), header.get("meta"), "swav", {})
    if header.get("format") != "seerflow-state" or header.get("version") != version:
        raise IncompatibleStateError("state header is not a seerflow-state header")
    for t in header["tensors"]:
        if t.get("dtype") != "float32":
            raise IncompatibleStateError(f"state tensor {t['name']}: unsupported dtype {t.get('dtype')}")
    kind_meta = dict(header.get("kindMeta") or {})
    queue_filled = int(kind_meta.pop("queueFilled", 0))
    return StateFile(tensors, int(header["step"]), queue_filled, header.get("meta"), str(header["kind"]), kind_meta)
