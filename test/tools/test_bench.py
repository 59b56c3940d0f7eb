"""The bench report's shape (speed figures are measured by ``rs-vla-guard bench``, never asserted here)."""
import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.model
from paths import ROOT


def test_bench_json_has_exactly_the_documented_keys(tmp_path):
    plot = tmp_path / "bench.png"
    result = subprocess.run([sys.executable, "-m", "rs_vla_guard", "bench", "--scenes", "4", "--repeats", "1",
                             "--json", "--plot", str(plot)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    from rs_vla_guard.tools.bench import KEYS

    assert set(report) == set(KEYS) | {"settings", "precision_why"}
    assert 0 < report["throughput_ratio"] and 0 < report["sample_ratio"] <= 1
    assert report["fixed_samples"] == report["settings"]["n0"] + report["settings"]["n_max"]
    # the configured test (betting) against both older tests, the precision against float32, the whole
    # decision against the baseline guard (float32, sequential test): ratios from this one run
    assert report["mean_samples"] / report["sequential_mean_samples"] == pytest.approx(
        report["sample_ratio_vs_sequential"], abs=1e-3)
    assert report["mean_samples"] < report["fixed_samples"]  # the betting test stops early on clear scenes
    # dtype auto's precision (bfloat16 where native, else int8 only when it agrees) keeps float32's labels
    assert report["precision"] in ("bfloat16", "int8", "float32") and report["precision_why"].startswith("dtype auto")
    assert report["label_agreement"] >= 0.99 and report["dtype_speedup"] > 0
    assert report["latency_ratio"] == pytest.approx(report["latency_ms_p50"] / report["baseline_latency_ms_p50"],
                                                    abs=2e-3)
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"
