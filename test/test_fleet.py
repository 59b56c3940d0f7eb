"""Fleet layering, limits, rendering and clear errors for malformed fleet files."""
import os

import pytest

from rs_vla_guard import fleet
from rs_vla_guard import params as P

from paths import ROOT


def test_example_fleet_passes_and_renders_loadable_parameter_files(tmp_path):
    document = fleet.load(os.path.join(ROOT, "config", "fleet.example.yaml"))
    assert all(problems == [] for problems in fleet.check(document).values())
    for robot in document["robots"]:
        params = P.from_ros_yaml(fleet.render(document, robot))
        assert P.validate(params) == []
    assert P.from_ros_yaml(fleet.render(document, "carter_02"))["radius_threshold"] == 0.3


def test_fleet_violations_name_robot_and_key(tmp_path):
    document = {
        "limits": {"radius_threshold": {"min": 0.2}, "action_linear_x": {"max_abs": 0.5},
                   "safe_action": {"equals": "stop"}},
        "defaults": {},
        "robots": {"ok": {}, "timid": {"radius_threshold": 0.1}, "fast": {"action_linear_x": [0.9, 0, 0, 0]},
                   "broken": {"sigma": 0.0}},
    }
    report = fleet.check(document)
    assert report["ok"] == []
    assert report["timid"] == ["radius_threshold: 0.1 is below the fleet limit min 0.2"]
    assert "max_abs 0.5" in report["fast"][0]
    assert "sigma" in report["broken"][0]
    with pytest.raises(fleet.FleetError, match="timid"):
        fleet.render(document, "timid")
    with pytest.raises(fleet.FleetError, match="no robot"):
        fleet.render(document, "ghost")


@pytest.mark.parametrize("text,needle", [
    ("robots: {}", "names no robots"), ("- a list", "mapping"), ("robots: {a: {}}\nextra: 1", "unknown top-level"),
    ("robots: {a: {}}\nlimits: {sigma: {least: 1}}", "limits.sigma"), (": : :", "not valid YAML"),
])
def test_malformed_fleet_files_are_clear_errors(tmp_path, text, needle):
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    with pytest.raises(fleet.FleetError, match=needle):
        fleet.check(fleet.load(str(path)))


def test_fleet_check_refuses_a_robot_that_could_never_certify():
    document = {"limits": {}, "defaults": {}, "robots": {"hopeful": {"radius_threshold": 0.5},
                                                         "patient": {"radius_threshold": 0.5, "n_max": 400}}}
    report = fleet.check(document)
    assert report["patient"] == []
    assert report["hopeful"] == ["n_max: 256 samples can never certify radius_threshold 0.5 at sigma 0.25, alpha "
                                 "0.001: unanimous samples first do at n = 323; raise n_max to at least 323 or "
                                 "lower radius_threshold"]
