"""The parameter schema, the shipped guard.yaml and the config hash."""
import os

from rs_vla_guard import params as P

from paths import ROOT


def test_guard_yaml_documents_every_parameter_with_its_default():
    text = open(os.path.join(ROOT, "config", "guard.yaml")).read()
    assert P.from_ros_yaml(text) == P.defaults()
    for param in P.PARAMETERS:
        assert f"# {param.description}" in text, param.name


def test_defaults_match_the_design_contract():
    d = P.defaults()
    assert (d["sigma"], d["alpha"], d["radius_threshold"], d["n_max"], d["batch_size"]) == (0.25, 0.001, 0.25, 256, 64)
    assert d["actions"] == ["move_forward", "turn_left", "turn_right", "stop"] and d["safe_action"] == "stop"
    assert (d["control_rate_hz"], d["image_timeout_s"], d["deadline_s"], d["use_stamped"]) == (5.0, 0.5, 0.5, True)
    assert P.validate(d) == []


def test_config_hash_ignores_order_and_number_spelling_but_not_values():
    a = P.defaults()
    b = dict(reversed(list(a.items())))
    b["n_max"] = 256.0
    assert P.config_hash(a) == P.config_hash(b)
    b["radius_threshold"] = 0.3
    assert P.config_hash(a) != P.config_hash(b)


def test_validate_reports_every_problem_at_once():
    problems = P.validate({**P.defaults(), "sigma": -1.0, "alpha": 0.7, "safe_action": "dance"})
    assert {p.split(":")[0] for p in problems} == {"sigma", "alpha", "safe_action"}
