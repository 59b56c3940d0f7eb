"""Device selection, mixed precision, seeded generators and automatic batch sizes."""
import os

import pytest
import torch

from rs_vla_guard.policies.hf_common import autocast_dtype as _autocast_dtype, resolve_dtype as _resolve_dtype
from rs_vla_guard.policies.transformers_vlm import TransformersVLM
from rs_vla_guard.sampling import apply_torch_threads, automatic_torch_threads, make_generator, resolve_device


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


def test_mixed_precision_is_used_on_cuda_unless_float32_is_asked_for():
    cuda = torch.device("cuda")
    assert _autocast_dtype("auto", torch.device("cpu"), bf16_supported=False) is None
    assert _autocast_dtype("auto", torch.device("cpu"), bf16_supported=True) == torch.bfloat16
    assert _autocast_dtype("float32", torch.device("cpu"), bf16_supported=True) is None
    assert _autocast_dtype("auto", cuda, bf16_supported=True) == torch.bfloat16
    assert _autocast_dtype("auto", cuda, bf16_supported=False) == torch.float16
    assert _autocast_dtype("bfloat16", cuda, bf16_supported=True) == torch.bfloat16
    assert _autocast_dtype("float32", cuda, bf16_supported=True) is None


@pytest.mark.model
@pytest.mark.parametrize("mode", ["score", "generate"])
def test_forwards_under_autocast_give_the_float32_decisions(tiny_llava_dir, mode):
    # The autocast path (CUDA's default) run on CPU with bfloat16 against float32 (dtype float32: on a CPU with
    # native bfloat16, dtype auto would autocast the reference too): same code, same decisions.
    phrases = ["move forward", "turn left", "turn right", "stop"]
    pixels = torch.rand(8, 3, 64, 64, generator=torch.Generator().manual_seed(0))
    full = TransformersVLM.from_pretrained(tiny_llava_dir, device=torch.device("cpu"), dtype="float32")
    assert full.autocast_dtype is None and next(full.model.parameters()).dtype == torch.float32
    mixed = TransformersVLM(full.model, full.processor, device=torch.device("cpu"), model_id="mixed",
                            autocast_dtype=torch.bfloat16)
    if mode == "generate":
        texts, reference = mixed.generate(pixels, "go to the red block"), full.generate(pixels, "go to the red block")
        assert len(texts) == 8 and sum(a == b for a, b in zip(texts, reference)) >= 6  # bf16 may flip a near-tie
        return
    for _ in range(2):  # the first call checks the candidate-tree layout, the second uses it
        reference = full.score(pixels, "go to the red block", phrases)
        scores = mixed.score(pixels, "go to the red block", phrases)
        assert scores.dtype == torch.float32
        torch.testing.assert_close(scores, reference, atol=0.1, rtol=0.05)
    assert mixed._tree_checked[tuple(phrases)]


def test_generator_lives_on_the_device_and_is_seeded():
    device = resolve_device("auto")
    a, b = make_generator(device, 3), make_generator(device, 3)
    assert a.device.type == device.type
    assert torch.equal(torch.randn(4, generator=a, device=device), torch.randn(4, generator=b, device=device))


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


@pytest.mark.model
def test_batch_size_zero_means_automatic_and_is_fixed_once(tiny_llava_dir):
    from rs_vla_guard.guard import Guard
    from rs_vla_guard.sampling import CPU_AUTO_BATCH_SIZE

    guard = Guard.from_config({"policy": tiny_llava_dir, "allow_blind_policy": True, "batch_size": 0,
                               "device": "cpu", "n_max": 256})
    assert guard.batch_size == CPU_AUTO_BATCH_SIZE
    small = Guard.from_config({"policy": tiny_llava_dir, "allow_blind_policy": True, "batch_size": 0,
                               "device": "cpu", "n_max": 24, "radius_threshold": 0.1}, check=False)
    assert small.batch_size == 24
    with pytest.raises(Exception, match="read-only"):
        guard.update(batch_size=32)


def test_torch_threads_sets_the_process_thread_count_and_zero_takes_half_the_cores():
    before = torch.get_num_threads()
    try:
        assert apply_torch_threads(1) == 1 == torch.get_num_threads()
        assert apply_torch_threads(0) == max(1, len(os.sched_getaffinity(0)) // 2) == automatic_torch_threads()
        assert torch.get_num_threads() == automatic_torch_threads()
    finally:
        torch.set_num_threads(before)


@pytest.mark.model
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU (scripts/cuda_check.py runs it there)")
def test_on_cuda_batch_size_zero_probes_the_largest_batch_and_decides_like_float32():
    from rs_vla_guard.guard import Guard
    from rs_vla_guard.tasks import blocks

    guard = Guard.from_config({"device": "cuda", "batch_size": 0, "n_max": 1024})
    assert 8 <= guard.batch_size <= 1024 and guard.warmup["batch_seconds"] > 0
    reference = Guard.from_config({"device": "cuda", "dtype": "float32"})
    frame = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.2)]))
    a, b = guard.decide(frame, "go to the red block"), reference.decide(frame, "go to the red block")
    assert (a.action, a.certified) == (b.action, b.certified) == ("turn_left", True)
