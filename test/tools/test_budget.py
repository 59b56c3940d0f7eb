"""``rs-vla-guard budget``: the real-time budget of a configuration on this machine (docs/theory.md, section 10)."""
import json
import os
import subprocess
import sys

import pytest

from commands import run_main
from paths import ROOT
from rs_vla_guard import params as P
from rs_vla_guard.control.budget import BUDGET_KEYS, budget_for, unanimous_radius

GUARD_YAML = os.path.join(ROOT, "config", "guard.yaml")


@pytest.mark.model
def test_budget_of_the_shipped_configuration_prints_the_five_figures_and_exits_0():
    result = subprocess.run([sys.executable, "-m", "rs_vla_guard", "budget", "--params", GUARD_YAML, "--json"],
                            capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert set(BUDGET_KEYS) <= set(figures)
    assert figures["batch_seconds"] > 0 and figures["threshold_certifiable"] is True
    assert figures["samples_within_deadline"] >= 43 and figures["min_certifiable_radius"] >= 0.25
    assert 0 < figures["decisions_per_second"] <= 5.0  # never above control_rate_hz
    assert figures["settings"]["batch_size"] == 64 and figures["settings"]["camera"] == "160x120"


@pytest.mark.model
def test_budget_exits_1_with_one_line_when_the_deadline_is_too_short():
    result = run_main("budget", "--params", GUARD_YAML, "--deadline-s", "0.001", "--json")
    assert result.returncode == 1
    assert json.loads(result.stdout)["threshold_certifiable"] is False
    lines = [line for line in result.stderr.splitlines() if line.startswith("rs-vla-guard budget:")]
    assert len(lines) == 1 and "cannot be certified within deadline_s 0.001" in lines[0]


def test_budget_refuses_bad_arguments_in_one_line(tmp_path):
    result = run_main("budget", "--camera", "640-480")
    assert result.returncode == 2 and "--camera takes WIDTHxHEIGHT" in result.stderr
    result = run_main("budget", "--fleet", str(tmp_path / "fleet.yaml"))
    assert result.returncode == 2 and "--fleet needs --robot" in result.stderr
    result = run_main("budget", "--deadline-s", "-1")
    assert result.returncode == 2 and "deadline_s" in result.stderr


def test_budget_figures_follow_the_formulas():
    params = P.effective({"deadline_s": 0.5, "batch_size": 64, "n_max": 256, "control_rate_hz": 5.0})
    # 0.1 s per batch: four batches fit after a 0.05 s frame, 256 samples (n_max); a clear frame is one batch
    budget = budget_for(params, 0.1, batch_size=64, frame_seconds=0.05)
    assert budget.samples_within_deadline == 256 and budget.samples_to_certify == 43
    assert budget.threshold_certifiable and budget.decisions_per_second == 5.0
    assert budget.min_certifiable_radius == pytest.approx(unanimous_radius(256, certify_mode="betting", sigma=0.25,
                                                                           alpha=0.001))
    # 0.3 s per batch: one batch; 1 / (0.05 + 0.3) decisions per second
    budget = budget_for(params, 0.3, batch_size=64, frame_seconds=0.05)
    assert budget.samples_within_deadline == 64 and budget.threshold_certifiable
    assert budget.decisions_per_second == pytest.approx(1 / 0.35)
    # radius 0.5 needs 323 unanimous samples: not with n_max 256 whatever the speed
    hard = P.effective({"radius_threshold": 0.5, "n_max": 512, "deadline_s": 0.5})
    slow, fast = budget_for(hard, 0.1, batch_size=64), budget_for(hard, 0.08, batch_size=64)
    assert (slow.samples_within_deadline, slow.threshold_certifiable) == (320, False)  # 5 batches < 323
    assert slow.min_certifiable_radius < 0.5 <= fast.min_certifiable_radius
    assert (fast.samples_within_deadline, fast.threshold_certifiable) == (384, True)  # 6 batches
    assert "cannot be certified" in slow.reason() and "323" in slow.reason()
