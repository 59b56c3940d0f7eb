"""The chunk binning: a chunk of joint positions is move or hold; numpy and torch agree, a NaN is unmapped,
and the attack scores' argmax is the label."""
import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard.oracles import BinningOracle

ORACLE = BinningOracle(["move", "hold"], kind="chunk", dimensions=["a", "b", "c"], chunk_steps=4,
                       position_deadband=0.01)


def test_hold_when_no_joint_moves_the_deadband_over_the_executed_steps():
    still = np.zeros((1, 8, 3)) + [0.3, -0.2, 1.0]
    moving = still.copy()
    moving[0, :, 1] += 0.02 * np.arange(8)  # 0.06 between the first waypoint and the fourth
    late = still.copy()
    late[0, 5:, 0] += 1.0  # moves only after the executed steps
    labels = ORACLE(np.concatenate([still, moving, late]))
    assert [ORACLE.actions[i] for i in labels] == ["hold", "move", "hold"]
    broken = moving.copy()
    broken[0, 2, 2] = np.nan  # inside the executed steps: unmapped
    assert ORACLE(np.concatenate([broken, still]))[0] == -1


@settings(max_examples=50, deadline=None)
@given(seed=st.integers(0, 10_000), scale=st.floats(0.0, 0.05))
def test_numpy_torch_and_scores_agree(seed, scale):
    chunks = np.random.default_rng(seed).normal(0, scale, size=(16, 6, 3)).cumsum(axis=1)
    labels = ORACLE(chunks)
    assert (ORACLE(torch.from_numpy(chunks)).numpy() == labels).all()
    scores = ORACLE.scores(torch.from_numpy(chunks))
    clear = np.abs(ORACLE.reduce(chunks)).max(-1)
    decided = np.abs(clear - 0.01) > 1e-9  # exactly on the deadband the score ties
    assert (scores.argmax(-1).numpy() == labels)[decided].all()
