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


def test_automatic_batch_size_is_the_largest_that_fits():
    from rs_vla_guard.sampling import largest_batch_size

    tried = []

    def run_batch(size):  # a device whose memory holds 300 images
        tried.append(size)
        if size > 300:
            raise torch.OutOfMemoryError("CUDA out of memory")

    assert largest_batch_size(run_batch, start=8, limit=4096) == 256
    assert tried == [8, 16, 32, 64, 128, 256, 512]  # stops probing at the first failure
    assert largest_batch_size(run_batch, start=8, limit=64) == 64  # never beyond what a decision needs
    with pytest.raises(RuntimeError, match="not even a batch of 512"):
        largest_batch_size(run_batch, start=512)


def test_batch_size_zero_means_automatic_and_is_fixed_once(tiny_llava_dir):
    from rs_vla_guard.guard import Guard
    from rs_vla_guard.sampling import CPU_AUTO_BATCH_SIZE

    guard = Guard.from_config({"policy": tiny_llava_dir, "allow_blind_policy": True, "batch_size": 0,
                               "device": "cpu", "n_max": 256})
    assert guard.batch_size == CPU_AUTO_BATCH_SIZE
    small = Guard.from_config({"policy": tiny_llava_dir, "allow_blind_policy": True, "batch_size": 0,
                               "device": "cpu", "n_max": 24}, check=False)
    assert small.batch_size == 24
    with pytest.raises(Exception, match="read-only"):
        guard.update(batch_size=32)
