"""A fleet may narrow an arm's chunk settings, never widen them: tube limits and joint ranges (``within``),
speeds and chunk durations (``max``); at run time they only narrow too."""
import json

import pytest

from commands import run_main
from rs_vla_guard import settings as P
from rs_vla_guard.policies.builtin_arm import PARAMETERS

ARM = {**P.defaults(), **PARAMETERS}
FLEET_LIMITS = """limits:
  chunk_tube_limits: {within: '*: 0.25'}
  joint_limits: {within: 'base_yaw: -1.6 1.6, shoulder: -0.3 1.6, elbow: 0 2.6, wrist: -0.5 2.2'}
  max_joint_speed: {max: 1.2}
  max_chunk_duration_s: {max: 0.5}
"""


def fleet_file(tmp_path, robots):
    defaults = "".join(f"  {k}: {json.dumps(v)}\n" for k, v in PARAMETERS.items())
    path = tmp_path / "fleet.yaml"
    path.write_text(FLEET_LIMITS + "defaults:\n" + defaults + "robots:\n" + robots)
    return path


def test_fleet_check_passes_narrower_arms_and_names_each_widening(tmp_path):
    path = fleet_file(tmp_path, "  narrow: {chunk_tube_limits: 'shoulder: 0.1, *: 0.2', joint_limits: "
                                "'base_yaw: -1 1, shoulder: 0 1.5, elbow: 0.1 2.5, wrist: -0.4 2'}\n"
                                "  wide_tube: {chunk_tube_limits: '*: 0.25, elbow: 0.4'}\n"
                                "  wide_joint: {joint_limits: 'base_yaw: -1.6 1.7, shoulder: -0.3 1.6, elbow: 0 2.6'}\n"
                                "  fast: {max_joint_speed: 2.0}\n")
    result = run_main("fleet", "check", path)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert "narrow: ok" in lines, result.stdout
    assert any("wide_tube" in line and "elbow 0.4 is wider than 0.25" in line for line in lines), result.stdout
    assert any("wide_joint" in line and "base_yaw -1.6 1.7 reaches outside" in line for line in lines)
    assert any("wide_joint" in line and "wrist no limits" in line for line in lines)
    assert any("fast" in line and "max_joint_speed" in line for line in lines)


@pytest.mark.parametrize("change,allowed", [
    ({"chunk_tube_limits": "*: 0.1"}, True), ({"chunk_tube_limits": "*: 0.3"}, False),
    ({"chunk_tube_limits": "base_yaw: 0.3, *: 0.25"}, False), ({"joint_limits": "base_yaw: -1 1, shoulder: -0.3 1.6, "
                                                                "elbow: 0 2.6, wrist: -0.5 2.2"}, True),
    ({"joint_limits": "base_yaw: -2 1, shoulder: -0.3 1.6, elbow: 0 2.6, wrist: -0.5 2.2"}, False),
    ({"max_joint_speed": 0.8}, True), ({"max_joint_speed": 1.5}, False), ({"max_chunk_duration_s": 0.8}, False)])
def test_run_time_changes_only_narrow(change, allowed):
    if allowed:
        assert P.runtime_change(ARM, ARM, change)[next(iter(change))] == next(iter(change.values()))
    else:
        with pytest.raises(P.ConfigError):
            P.runtime_change(ARM, ARM, change)


def test_a_within_limit_must_bind():
    for rule, says in (({"within": ""}, "non-empty"), ({"within": "a: 1 0"}, "lower < upper"),
                       ({"within": 0.2}, "non-empty")):
        assert any(says in p for p in P.validate({**ARM, "fleet_limits": json.dumps({"joint_limits": rule})})), rule
    assert any("only for" in p for p in P.validate({**ARM, "fleet_limits": json.dumps({"sigma": {"within": "x"}})}))
