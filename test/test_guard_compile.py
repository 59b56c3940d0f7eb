"""torch_compile: the policy's forwards compiled and warmed at configure, decisions unchanged and never compiling.

The tests compile with the ``eager`` backend (dynamo's graph capture, torch's kernels): the same capture,
padding and warm-up as ``inductor`` without minutes of kernel generation on a 2-core CI machine. The
inductor speed-up is a bench figure (README, Performance)."""
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from rs_vla_guard.guard import Guard
from rs_vla_guard.policies.base import PolicyError, _attribute
from rs_vla_guard.sampling import compile_batch_sizes

pytestmark = pytest.mark.model


@given(batch_size=st.integers(1, 4096), first_look=st.integers(1, 4096), rows=st.integers(1, 4096))
def test_every_batch_pads_to_a_warmed_size_at_most_half_again_as_large(batch_size, first_look, rows):
    first_rows = min(first_look, batch_size) + 1  # the clean frame rides on the first noisy batch
    sizes = compile_batch_sizes(batch_size, first_rows)
    assert batch_size in sizes and first_rows in sizes and max(sizes) == batch_size + (first_look >= batch_size)
    rows = min(rows, batch_size)  # later batches: at most batch_size noisy rows
    padded = next(s for s in sizes if s >= rows)
    assert padded <= max(16, 1.5 * rows)
    assert len(sizes) <= 2 * batch_size.bit_length() + 1  # few compiled graphs, whatever the batch size


def _graphs() -> int:
    from torch._dynamo.utils import counters

    return int(counters["stats"]["unique_graphs"])


@pytest.mark.parametrize("policy,batch_size", [("builtin-clip", 16), ("builtin-pi0", 16)])
def test_a_compiled_guard_decides_as_the_uncompiled_one_and_never_compiles_while_deciding(policy, batch_size):
    options = {"policy": policy, "batch_size": batch_size, "n_max": 128}
    eager = Guard.from_config(options)
    compiled = Guard.from_config({**options, "torch_compile": "eager"})
    try:
        report = compiled.compile_report
        assert report["backend"] == "eager" and report["label_agreement"] == 1.0
        assert tuple(report["batch_sizes"]) == compiled.compiled_sizes == compile_batch_sizes(batch_size, batch_size + 1)
        assert eager.compiled_sizes == () and eager.compile_report == {"backend": "off"}
        probes = compiled.probes()
        assert report["instructions"] == probes.instructions  # the prompt's shape is part of each graph
        graphs = _graphs()
        module = _attribute(compiled.policy, compiled.policy.compiled_modules[-1])
        compiled_forward = module.forward
        calls = []
        module.forward = lambda *args, **kwargs: (calls.append(1), compiled_forward(*args, **kwargs))[1]
        # a warmed instruction runs compiled, padded; any other runs the original forwards: neither compiles
        for frame, instruction in zip(probes.frames[:3], [*probes.instructions[:2], "please go to the red block"]):
            eager.generator.manual_seed(3)
            compiled.generator.manual_seed(3)
            want = eager.decide(frame, instruction)
            calls.clear()
            got = compiled.decide(frame, instruction)
            assert bool(calls) == (instruction in probes.instructions)  # the compiled forward ran, or not
            assert got.reason != "policy_error", got.error
            if compiled.mode == "score":  # action mode: padded rows draw flow noise too, so the streams part
                assert (got.certified, got.action, got.n_samples, got.reason) == (
                    want.certified, want.action, want.n_samples, want.reason)
        # batches of 16, the cut first look and the last look's remainder all ran on warmed graphs
        assert _graphs() == graphs
        # the bench's baseline: the same policy with its original forwards, then compiled again
        module.forward = compiled_forward
        pixels = torch.rand(16, compiled.channels, *compiled.policy.input_size)
        with compiled.policy.uncompiled():
            assert module.forward is not compiled_forward
            assert torch.equal(compiled._fixed_labels(pixels, probes.instructions[0]),
                               eager._fixed_labels(pixels, probes.instructions[0]))
        assert module.forward is compiled_forward and _graphs() == graphs
    finally:
        compiled.release()
        eager.release()


def test_compiling_a_generating_policy_is_refused_with_the_reason():
    with pytest.raises(PolicyError, match="torch_compile needs policy_mode score or action"):
        Guard.from_config({"policy_mode": "generate", "torch_compile": "eager"})


def test_a_policy_without_the_named_module_cannot_be_compiled():
    guard = Guard.from_config({"policy": "builtin-clip"})
    try:
        guard.policy.compiled_modules = ("model.vision_model", "no_such_module")
        with pytest.raises(PolicyError, match="no torch module 'no_such_module'"):
            guard._compile("eager")
        assert guard.compiled_sizes == () and guard.compile_report == {"backend": "off"}
        assert not hasattr(guard.policy.model.vision_model.forward, "_torchdynamo_orig_callable")  # untouched
    finally:
        guard.release()
        torch._dynamo.reset()
