"""The arm from the command line: a seeded arm-world frame, a certificate with its chunk, and the samples a
tube needs."""
import json
import subprocess
import sys

import numpy as np
import pytest

from commands import run_main
from paths import ROOT


def run(*args, timeout=600):
    return subprocess.run([sys.executable, "-m", "rs_vla_guard", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


def test_plan_answers_the_samples_a_tube_needs():
    result = run_main("plan", "--radius", "0.25", "--tube-width", "0.25", "--output-std", "0.05", "--chunk-steps", "5",
                      "--joints", "4", "--json")
    assert result.returncode == 0, result.stderr
    plan = json.loads(result.stdout)
    assert plan["dimensions"] == 20 and plan["what"].startswith("tube")
    one = json.loads(run_main("plan", "--radius", "0.25", "--envelope-width", "0.25", "--output-std", "0.05",
                              "--json").stdout)
    assert one["samples_needed"] < plan["samples_needed"] < 3 * one["samples_needed"]
    result = run_main("plan", "--radius", "0.25", "--tube-width", "0.25")
    assert result.returncode == 2 and "--tube-width needs --output-std" in result.stderr


@pytest.mark.sim
@pytest.mark.model
def test_an_arm_scene_certifies_with_a_chunk_and_an_absent_colour_holds(tmp_path):
    frame = str(tmp_path / "arm.png")
    made = run("scene", "--world", "arm", "--target", "red", "--seed", "4", "-o", frame)
    assert made.returncode == 0 and "'reach the red block' -> reach it" in made.stdout, made.stderr
    certified = run("certify", frame, "--instruction", "reach the red block", "--policy", "builtin-arm", "--state",
                    "0,0.3,1.4,1.2", "--json")
    assert certified.returncode == 0, certified.stderr[-2000:]
    decision = json.loads(certified.stdout)
    assert decision["certified"] and len(decision["chunk"]["waypoints"]) == 5, decision
    absent = str(tmp_path / "absent.png")
    assert run("scene", "--world", "arm", "--target", "red", "--no-target", "--seed", "4", "-o", absent).returncode == 0
    held = json.loads(run("certify", absent, "--instruction", "reach the red block", "--policy", "builtin-arm",
                          "--state", "0,0.3,1.4,1.2", "--json").stdout)
    assert np.abs(np.asarray(held["chunk"]["waypoints"]) - [0, 0.3, 1.4, 1.2]).max() < 0.02, held
