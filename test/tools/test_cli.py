"""The rs-vla-guard command as a user runs it: real processes, exit codes, JSON, one-line errors."""
import json
import subprocess
import sys

import pytest

from commands import run_main
from paths import ROOT


def run(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "rs_vla_guard", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.fixture
def run_here():
    """The same command in this process (:func:`commands.run_main`), for the argument, planning and most
    certify checks; the tests that use ``run`` run it as a process."""
    return run_main


@pytest.fixture(scope="module")
def left_scene(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("scenes") / "left.png")
    result = run("scene", "--target", "red", "--x", "0.15", "--width", "0.2", "--distractors", "blue:0.7:0.15",
                 "-o", path)
    assert result.returncode == 0, result.stderr
    assert "turn_left" in result.stdout
    return path


@pytest.mark.model
def test_certify_json_carries_the_decision(left_scene):
    result = run("certify", left_scene, "--instruction", "go to the red block", "--json")
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    for key in ("action", "candidate", "certified", "radius", "p_lower", "n_samples", "counts", "reason", "latency_ms"):
        assert key in decision
    assert decision["action"] == "turn_left" and decision["certified"]
    assert sum(decision["counts"].values()) == decision["n_samples"]


@pytest.mark.model
def test_certify_prints_the_certified_envelopes_of_a_continuous_policy(left_scene, run_here):
    run = run_here
    common = ("certify", left_scene, "--instruction", "go to the red block", "--policy", "builtin-pi0",
              "--continuous-command", "median", "--certify-target", "both", "--envelope-limits", "angular_z: 2.0")
    result = run(*common, "--json")
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert [e["name"] for e in decision["envelopes"]] == ["linear_x", "angular_z"]
    yaw = decision["envelopes"][1]
    assert yaw["low"] <= yaw["median"] <= yaw["high"] and yaw["limit"] == 2.0 and yaw["samples"] == 256
    assert decision["certified"] and decision["action"] == "turn_left" and decision["twist"][1] > 0
    text = run(*common)
    assert text.returncode == 0 and "envelope angular_z: [" in text.stdout and "limit 2" in text.stdout
    refused = run(*common[:8], "--certify-target", "envelope")
    assert refused.returncode != 0 and len(refused.stderr.strip().splitlines()) == 1
    assert "envelope_limits" in refused.stderr


@pytest.mark.model
def test_certify_on_a_border_frame_reports_the_fallback_set(tmp_path, run_here):
    run = run_here
    border = str(tmp_path / "border.png")
    assert run("scene", "--target", "red", "--x", "0.31", "--width", "0.15", "-o", border).returncode == 0
    result = run("certify", border, "--instruction", "go to the red block", "--json",
                 "--fallback-sets", "move_forward+turn_left, move_forward+turn_right")
    assert result.returncode == 0, result.stderr
    decision = json.loads(result.stdout)
    assert decision["action"] == "move_forward+turn_left" and decision["certified"]
    assert decision["candidate"] in ("move_forward", "turn_left")


@pytest.mark.model
def test_certify_on_a_border_frame_without_sets_stops(tmp_path, run_here):
    run = run_here
    border = str(tmp_path / "border.png")
    assert run("scene", "--target", "red", "--x", "0.31", "--width", "0.15", "-o", border).returncode == 0
    decision = json.loads(run("certify", border, "--instruction", "go to the red block", "--json").stdout)
    assert (decision["action"], decision["certified"]) == ("stop", False)
    assert decision["reason"] in ("below_threshold", "abstain")


def test_a_threshold_that_can_never_certify_is_refused_before_any_model_loads(left_scene):
    result = run("certify", left_scene, "--instruction", "go to the red block", "--radius-threshold", "0.5")
    assert result.returncode == 2 and "raise n_max to at least 323" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


@pytest.mark.parametrize("args,needle", [
    (["certify", "/no/such.png", "--instruction", "go"], "image not found"),
    (["certify", __file__, "--instruction", "go"], "not a readable image"),
    (["certify", "SCENE", "--instruction", "go", "--sigma", "-1"], "sigma"),
    (["plan", "--radius", "0.5", "--p", "1.5"], "must be in [0, 1]"),
    (["plan", "--radius", "-1", "--p", "0.9"], "must be > 0"),
    (["plan", "--radius", "0.25"], "--p (the assumed probability of the action) is required"),
    (["plan", "--radius", "0.25", "--envelope-width", "0.3"], "--envelope-width needs --output-std"),
    (["certify", "SCENE", "--instruction", "go", "--policy", "/no/model"], "not found"),
    (["certify", "SCENE", "--instruction", "go", "--fallback-sets", "move_forward+stop"],
     "fallback_sets: the safe action may not be a member"),
])
def test_bad_input_exits_non_zero_with_a_message(args, needle, left_scene, run_here):
    result = run_here(*[left_scene if arg == "SCENE" else arg for arg in args])  # SCENE: a readable image
    assert result.returncode != 0
    assert needle in result.stderr
    assert "Traceback" not in result.stderr


def test_plan_reports_samples_needed_and_a_table(run_here):
    run = run_here
    result = run("plan", "--radius", "0.5", "--sigma", "0.25", "--alpha", "0.001", "--p", "0.99", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert 500 < plan["samples_needed"] < 5000
    radii = [row["expected_radius"] for row in plan["table"]]
    assert radii == sorted(radii)
    text = run("plan", "--radius", "0.9", "--p", "0.99")
    assert text.returncode == 0 and "out of reach" in text.stdout


def test_plan_envelope_width_reports_the_samples_a_command_bound_needs(run_here):
    run = run_here
    result = run("plan", "--radius", "0.25", "--envelope-width", "0.3", "--output-std", "0.1", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert 100 < plan["samples_needed"] < 300 and plan["width_floor"] == pytest.approx(0.2)
    widths = [row["expected_width"] for row in plan["table"] if row["expected_width"] is not None]
    assert widths == sorted(widths, reverse=True) and plan["table"][0]["expected_width"] is None  # n = 30
    text = run("plan", "--radius", "0.25", "--envelope-width", "0.15", "--output-std", "0.1")
    assert text.returncode == 0 and "out of reach" in text.stdout


def test_every_command_prints_its_help():
    """Parameter descriptions become help texts; one with a bare % once broke every command's --help."""
    import argparse

    from rs_vla_guard.tools.cli import build_parser

    parser = build_parser()
    commands = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction)).choices
    for name, command in commands.items():
        assert command.format_help().startswith("usage: rs-vla-guard"), name
        for action in command._actions:
            if isinstance(action, argparse._SubParsersAction):
                for inner in action.choices.values():
                    inner.format_help()
