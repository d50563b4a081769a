"""The trunk built from the TypeScript spec equals `seerflow plan --json` (test/fixtures/torch/regnet-plans.json, from
test/torch-engine/fixtures.ts) for every RegNet layout of the tfjs tests, both roundings, and the seer-256gf preset.
Built on the meta device: shapes without memory, so the 1.3-billion-parameter SEER trunk costs nothing."""

from __future__ import annotations

import copy

import pytest
import torch

from conftest import ML_FIXTURES, TORCH_FIXTURES, load_json
from seerflow_torch.config import RegNetSpec
from seerflow_torch.errors import InvalidConfigError
from seerflow_torch.regnet import RegNetTrunk, trainable_param_count

PLANS = load_json(TORCH_FIXTURES / "regnet-plans.json")["cases"]


def _meta_trunk(spec: RegNetSpec) -> RegNetTrunk:
    with torch.device("meta"):
        return RegNetTrunk(spec)


@pytest.mark.parametrize("case", PLANS, ids=[f"{c['name']} {c['options'].get('rounding', '')}" for c in PLANS])
def test_built_trunk_equals_plan(case: dict) -> None:
    trunk = _meta_trunk(RegNetSpec.from_json(case["spec"]))
    stages = trunk.stages()
    plan = case["plan"]
    assert [len(s) for s in stages] == plan["stageDepths"]
    assert [s[-1].c.conv.out_channels for s in stages] == plan["stageWidths"]
    assert [s[0].b.conv.in_channels // s[0].b.conv.groups for s in stages] == plan["groupWidths"]
    assert trainable_param_count(trunk) == plan["params"]


def test_fixture_covers_the_ml_regnet_layouts_and_the_seer_preset() -> None:
    ml = {(c["name"], c["rounding"]) for c in load_json(ML_FIXTURES / "regnet.json")["cases"]}
    here = {(c["name"], c["options"].get("rounding")) for c in PLANS}
    assert ml <= here
    seer = next(c for c in PLANS if c["name"] == "preset seer-256gf")
    assert seer["plan"]["params"] > 1.2e9  # the SEER trunk, ~1.27 billion parameters


def test_forward_shapes_and_se_width_from_block_input() -> None:
    case = next(c for c in PLANS if c["name"] == "RegNetY-200MF" and c["options"]["rounding"] == "pycls")
    trunk = RegNetTrunk(RegNetSpec.from_json(case["spec"]))
    first = trunk.stages()[0][0]
    assert first.se is not None and first.se.reduce.out_features == 8  # round(0.25 * stem width 32)
    assert first.proj is not None and first.proj.conv.stride == (2, 2)
    out = trunk(torch.randn(2, 3, 32, 32))
    assert out.shape == (2, 368)


def test_rejects_an_inconsistent_spec() -> None:
    spec = load_json(TORCH_FIXTURES / "regnet-plans.json")["cases"][0]["spec"]
    for mutate in (
        lambda s: s["blocks"][1].update(wIn=s["blocks"][1]["wIn"] + 8),
        lambda s: s["blocks"][0].update(groups=5),
        lambda s: s.update(outWidth=1),
        lambda s: s["blocks"].pop(),
        lambda s: s["stages"][0].pop("groups"),
    ):
        bad = copy.deepcopy(spec)
        mutate(bad)
        with pytest.raises(InvalidConfigError):
            RegNetSpec.from_json(bad)
