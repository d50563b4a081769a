"""The engine's inputs, parsed from the JSON the TypeScript side produces: the RegNet spec exactly as
ml/regnet.ts `regnetSpec()` returns it (the engine builds from it and never re-derives it) and the `swav` / `optim`
config slices of config/schema.ts (engine/index.ts `SwavEngineConfig`). camelCase keys, as in TypeScript."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .errors import InvalidConfigError


def _int(d: dict[str, Any], key: str, lo: int = 0) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < lo:
        raise InvalidConfigError(f"{key} must be an integer >= {lo}, got {v!r}")
    return v


def _num(d: dict[str, Any], key: str, lo: float = 0.0, strict: bool = False) -> float:
    v = d.get(key)
    if not isinstance(v, (int, float)) or isinstance(v, bool) or v != v or v < lo or (strict and v == lo):
        raise InvalidConfigError(f"{key} must be a number {'>' if strict else '>='} {lo}, got {v!r}")
    return float(v)


@dataclass(frozen=True)
class BlockSpec:
    """One residual bottleneck block (ml/regnet.ts `RegNetBlockSpec`)."""

    stage: int
    index: int
    w_in: int
    w_out: int
    w_b: int
    groups: int
    stride: int
    se_width: int
    projection: bool


@dataclass(frozen=True)
class StageSpec:
    """One stage (ml/regnet.ts `RegNetStage`)."""

    depth: int
    width: int
    bottleneck_width: int
    group_width: int
    groups: int
    stride: int


@dataclass(frozen=True)
class RegNetSpec:
    """A resolved RegNet trunk (ml/regnet.ts `RegNetSpec`): stem, stages, blocks in forward order."""

    stem_width: int
    se_ratio: float
    stages: tuple[StageSpec, ...]
    blocks: tuple[BlockSpec, ...]
    out_width: int

    @staticmethod
    def from_json(d: dict[str, Any]) -> RegNetSpec:
        """Parse and check a `regnetSpec()` result; raises InvalidConfigError on any inconsistency."""
        try:
            stages = tuple(
                StageSpec(
                    _int(s, "depth", 1),
                    _int(s, "width", 1),
                    _int(s, "bottleneckWidth", 1),
                    _int(s, "groupWidth", 1),
                    _int(s, "groups", 1),
                    _int(s, "stride", 1),
                )
                for s in d["stages"]
            )
            blocks = tuple(
                BlockSpec(
                    _int(b, "stage"),
                    _int(b, "index"),
                    _int(b, "wIn", 1),
                    _int(b, "wOut", 1),
                    _int(b, "wB", 1),
                    _int(b, "groups", 1),
                    _int(b, "stride", 1),
                    _int(b, "seWidth"),
                    bool(b["projection"]),
                )
                for b in d["blocks"]
            )
            spec = RegNetSpec(_int(d, "stemWidth", 1), _num(d, "seRatio"), stages, blocks, _int(d, "outWidth", 1))
        except (KeyError, TypeError) as err:
            raise InvalidConfigError(f"RegNet spec lacks or mistypes a field: {err}") from err
        spec.check()
        return spec

    def check(self) -> None:
        """The invariants the model builder relies on (every block chained, groups dividing the bottleneck)."""
        if not self.stages or sum(s.depth for s in self.stages) != len(self.blocks):
            raise InvalidConfigError("RegNet spec: stage depths do not add up to the block list")
        w_in = self.stem_width
        for blk in self.blocks:
            st = self.stages[blk.stage] if blk.stage < len(self.stages) else None
            ok = (
                st is not None
                and blk.w_in == w_in
                and blk.w_out == st.width
                and blk.w_b == st.bottleneck_width
                and blk.groups == st.groups
                and blk.w_b % blk.groups == 0
                and blk.stride == (st.stride if blk.index == 0 else 1)
                and blk.projection == (blk.w_in != blk.w_out or blk.stride != 1)
                and (blk.se_width > 0) == (self.se_ratio > 0)
            )
            if not ok:
                raise InvalidConfigError(f"RegNet spec: block s{blk.stage + 1}.b{blk.index + 1} is inconsistent")
            w_in = blk.w_out
        if w_in != self.out_width:
            raise InvalidConfigError(f"RegNet spec: outWidth {self.out_width} != last block width {w_in}")


@dataclass(frozen=True)
class HeadConfig:
    """Projection head and prototypes (engine/swav-model.ts `SwavHeadConfig`)."""

    hidden_dims: tuple[int, ...]
    head_batch_norm: bool
    feature_dim: int
    prototypes: int


@dataclass(frozen=True)
class CropGroup:
    """`count` consecutive crops of `size` px starting at crop index `first` (engine/swav-step.ts `CropGroup`)."""

    size: int
    count: int
    first: int


@dataclass(frozen=True)
class SwavStepConfig:
    """SwAV loss, queue and freezing settings (engine/swav-step.ts `SwavStepConfig`)."""

    crops: tuple[tuple[int, int], ...]  # (size, count) in crop order
    crops_for_assign: tuple[int, ...]
    temperature: float
    epsilon: float
    sinkhorn_iterations: int
    freeze_prototypes_iters: int
    queue_length: int
    epoch_queue_starts: int

    @property
    def num_crops(self) -> int:
        return sum(c for _, c in self.crops)

    def groups(self) -> list[CropGroup]:
        """Consecutive crops of equal size, one trunk pass each (BN statistics are per pass, as in tfjs/SwAV)."""
        out: list[CropGroup] = []
        first = 0
        for size, count in self.crops:
            if out and out[-1].size == size:
                out[-1] = CropGroup(size, out[-1].count + count, out[-1].first)
            else:
                out.append(CropGroup(size, count, first))
            first += count
        return out


@dataclass(frozen=True)
class LarsConfig:
    """LARC + SGD hyperparameters (engine/lars.ts `LarsConfig`); the learning rate is given per step."""

    momentum: float = 0.9
    weight_decay: float = 0.0
    trust_coefficient: float = 0.001
    eps: float = 1e-8


@dataclass(frozen=True)
class EngineConfig:
    """Everything the engine builds from: {spec, swav, optim} as the TypeScript side sends them."""

    spec: RegNetSpec
    head: HeadConfig
    step: SwavStepConfig
    optim: LarsConfig

    @staticmethod
    def from_json(d: dict[str, Any]) -> EngineConfig:
        """`d` = {"spec": regnetSpec(...), "swav": SwavConfig slice, "optim": OptimConfig slice}."""
        try:
            s, o = d["swav"], d["optim"]
            head = HeadConfig(
                tuple(int(x) for x in s["hiddenDims"]),
                bool(s["headBatchNorm"]),
                _int(s, "featureDim", 1),
                _int(s, "prototypes", 1),
            )
            step = SwavStepConfig(
                tuple((int(c["size"]), int(c["count"])) for c in s["crops"]),
                tuple(int(a) for a in s["cropsForAssign"]),
                _num(s, "temperature", strict=True),
                _num(s, "epsilon", strict=True),
                _int(s, "sinkhornIterations", 1),
                _int(s, "freezePrototypesIters"),
                _int(s, "queueLength"),
                _int(s, "epochQueueStarts"),
            )
            optim = LarsConfig(_num(o, "momentum"), _num(o, "weightDecay"), _num(o, "larsTrustCoefficient"))
        except (KeyError, TypeError, ValueError) as err:
            raise InvalidConfigError(f"engine config lacks or mistypes a field: {err}") from err
        if step.num_crops < 2:
            raise InvalidConfigError("swapped prediction needs at least 2 crops")
        if not step.crops_for_assign or any(not 0 <= a < step.num_crops for a in step.crops_for_assign):
            raise InvalidConfigError(f"cropsForAssign {list(step.crops_for_assign)} out of range")
        return EngineConfig(RegNetSpec.from_json(d["spec"]), head, step, optim)
