"""Device selection and the bench report's shape (speed figures are measured, never asserted here)."""
import json
import os
import subprocess
import sys

import pytest
import torch

from rs_vla_guard.policies.transformers_vlm import _resolve_dtype
from rs_vla_guard.sampling import make_generator, resolve_device

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_auto_device_is_cuda_only_when_present():
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu").type == "cpu"


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_asking_for_cuda_without_it_is_a_clear_error():
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda")
    with pytest.raises(ValueError, match="CUDA is not available"):
        resolve_device("cuda:1")


def test_dtype_follows_the_device():
    assert _resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert _resolve_dtype("bfloat16", torch.device("cpu")) == torch.bfloat16
    if torch.cuda.is_available():
        assert _resolve_dtype("auto", torch.device("cuda")) in (torch.bfloat16, torch.float16)


def test_generator_lives_on_the_device_and_is_seeded():
    device = resolve_device("auto")
    a, b = make_generator(device, 3), make_generator(device, 3)
    assert a.device.type == device.type
    assert torch.equal(torch.randn(4, generator=a, device=device), torch.randn(4, generator=b, device=device))


def test_bench_json_has_exactly_the_documented_keys(tmp_path):
    plot = tmp_path / "bench.png"
    result = subprocess.run([sys.executable, "-m", "rs_vla_guard.cli", "bench", "--scenes", "4", "--repeats", "1",
                             "--json", "--plot", str(plot)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout)
    from rs_vla_guard.bench import KEYS

    assert set(report) == set(KEYS) | {"settings"}
    assert 0 < report["throughput_ratio"] and 0 < report["sample_ratio"] <= 1
    assert report["fixed_samples"] == report["settings"]["n0"] + report["settings"]["n_max"]
    assert plot.stat().st_size > 10_000 and plot.read_bytes()[:4] == b"\x89PNG"
