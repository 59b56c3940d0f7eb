"""Parameter schema, the shipped YAML files, fleet layering and the config hash."""
import os

import pytest
import yaml

from rs_vla_guard import config, fleet

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_guard_yaml_documents_every_parameter_with_its_default():
    text = open(os.path.join(ROOT, "config", "guard.yaml")).read()
    assert config.from_ros_yaml(text) == config.defaults()
    for param in config.PARAMETERS:
        assert f"# {param.description}" in text, param.name


def test_defaults_match_the_design_contract():
    d = config.defaults()
    assert (d["sigma"], d["alpha"], d["radius_threshold"], d["n_max"], d["batch_size"]) == (0.25, 0.001, 0.25, 256, 64)
    assert d["actions"] == ["move_forward", "turn_left", "turn_right", "stop"] and d["safe_action"] == "stop"
    assert (d["control_rate_hz"], d["image_timeout_s"], d["deadline_s"], d["use_stamped"]) == (5.0, 0.5, 0.5, True)
    assert config.validate(d) == []


def test_config_hash_ignores_order_and_number_spelling_but_not_values():
    a = config.defaults()
    b = dict(reversed(list(a.items())))
    b["n_max"] = 256.0
    assert config.config_hash(a) == config.config_hash(b)
    b["radius_threshold"] = 0.3
    assert config.config_hash(a) != config.config_hash(b)


def test_validate_reports_every_problem_at_once():
    problems = config.validate({**config.defaults(), "sigma": -1.0, "alpha": 0.7, "safe_action": "dance"})
    assert {p.split(":")[0] for p in problems} == {"sigma", "alpha", "safe_action"}


def test_example_fleet_passes_and_renders_loadable_parameter_files(tmp_path):
    document = fleet.load(os.path.join(ROOT, "config", "fleet.example.yaml"))
    assert all(problems == [] for problems in fleet.check(document).values())
    for robot in document["robots"]:
        params = config.from_ros_yaml(fleet.render(document, robot))
        assert config.validate(params) == []
    assert config.from_ros_yaml(fleet.render(document, "carter_02"))["radius_threshold"] == 0.3


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


def test_launch_file_declares_the_documented_arguments():
    source = open(os.path.join(ROOT, "launch", "guard.launch.py")).read()
    compile(source, "guard.launch.py", "exec")
    for argument in ("params_file", "namespace", "use_sim_time", "autostart", "log_level", "image_topic",
                     "cmd_vel_topic"):
        assert f'DeclareLaunchArgument("{argument}"' in source
    assert 'executable="guard_node"' in source and 'name="rs_vla_guard"' in source


def test_package_manifest_and_entry_points():
    import xml.etree.ElementTree as ElementTree

    package = ElementTree.parse(os.path.join(ROOT, "package.xml")).getroot()
    assert package.get("format") == "3" and package.findtext("name") == "rs_vla_guard"
    assert package.find("export/build_type").text == "ament_python"
    depends = {e.text for e in package.findall("exec_depend")}
    assert {"rclpy", "sensor_msgs", "geometry_msgs", "diagnostic_msgs", "std_msgs", "lifecycle_msgs"} <= depends
    setup = open(os.path.join(ROOT, "setup.py")).read()
    assert "guard_node = rs_vla_guard.node:main" in setup and "rs-vla-guard = rs_vla_guard.cli:main" in setup
    assert os.path.exists(os.path.join(ROOT, "resource", "rs_vla_guard"))
