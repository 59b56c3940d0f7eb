"""A node-like driver and the replay give the same stop for the same timed inputs.

The node keeps the latest of each input as messages arrive (control.inputs.InputLatch) and judges them at
each control tick; the replay looks the same inputs up in a recording (replay.pairing.inputs_at). Both hand
them to control.rules.input_stop, so for any sequence of frames, instructions and states (valid, invalid,
stale, missing) and any tick times, the reasons must be the same.
"""
import math

from hypothesis import given, settings
from hypothesis import strategies as st

from rs_vla_guard import params as P
from rs_vla_guard.control.inputs import InputLatch, joint_state_values
from rs_vla_guard.control.rules import input_stop
from rs_vla_guard.replay.pairing import inputs_at
from rs_vla_guard.replay.timeline import NS, latest_at

# Times are multiples of 10 ms and timeouts fall between them: no tie at a boundary.
PARAMS = P.effective({"image_timeout_s": 0.505, "instruction_timeout_s": 1.005, "state_timeout_s": 0.305,
                      "max_instruction_chars": 24})
JOINTS = ["shoulder", "elbow"]
TICK = 10_000_000  # 10 ms in ns

frames = st.tuples(st.just("frame"), st.sampled_from(["", "", "", "encoding 'yuv422' is not supported"]))
instructions = st.tuples(st.just("instruction"), st.sampled_from(
    ["go to the red block", "go to the blue block", "", "   ", "z" * 25, "go to the red block please!!"]))
numbers = st.one_of(st.floats(-2, 2), st.just(math.nan), st.just(math.inf))
joint_states = st.tuples(st.just("joints"), st.tuples(
    st.lists(st.sampled_from(JOINTS + ["wrist"]), min_size=0, max_size=3, unique=True),
    st.lists(numbers, min_size=0, max_size=3)))
events = st.lists(st.tuples(st.integers(0, 300), st.one_of(frames, instructions, joint_states)), max_size=40)
ticks = st.lists(st.integers(0, 320), min_size=1, max_size=30)


def state_of(payload):
    names, positions = payload
    return joint_state_values(names, positions[:len(names)] if len(positions) >= len(names) else positions, JOINTS)


def node_like(timed, tick_times, state_dim):
    """Messages delivered in time order to a latch; the rules asked at each tick, as the node asks them."""
    latch, reasons, pending = InputLatch(), [], sorted(timed, key=lambda e: e[0])
    for tick in sorted(tick_times):
        while pending and pending[0][0] <= tick:
            time, (kind, payload) = pending.pop(0)
            seconds = time * TICK / NS
            if kind == "frame":
                latch.on_frame(object(), seconds, payload)
            elif kind == "instruction":
                latch.on_instruction(payload, seconds)
            else:
                latch.on_state(*state_of(payload)[:1], seconds, state_of(payload)[1])
        inputs = latch.inputs(state_dim=state_dim, active=True, steady_now=0.0)
        stop = input_stop(inputs, PARAMS, tick * TICK / NS)
        reasons.append(stop.reason if stop else None)
    return reasons


def replay_like(timed, tick_times, state_dim):
    """The same inputs as a recording: lists of timed entries looked up at each tick by the replay."""
    ordered = sorted(timed, key=lambda e: e[0])
    frame_list = [(t * TICK, payload) for t, (kind, payload) in ordered if kind == "frame"]
    instruction_list = [(t * TICK, payload) for t, (kind, payload) in ordered if kind == "instruction"]
    state_list = [(t * TICK, *state_of(payload)) for t, (kind, payload) in ordered if kind == "joints"]
    frame_times = [t for t, _ in frame_list]
    reasons = []
    for tick in sorted(tick_times):
        tick_ns = tick * TICK
        index = latest_at(frame_times, tick_ns)
        inputs = inputs_at(tick_ns, frame_list[index][0], frame_problem=frame_list[index][1],
                           instructions=instruction_list, instruction_times=[t for t, _ in instruction_list],
                           states=state_list, state_times=[t for t, *_ in state_list], state_dim=state_dim)
        stop = input_stop(inputs, PARAMS, 0.0)
        reasons.append(stop.reason if stop else None)
    return reasons


@settings(max_examples=400, deadline=None)
@given(timed=events, tick_times=ticks, state_dim=st.sampled_from([0, 2]))
def test_node_and_replay_give_the_same_reason(timed, tick_times, state_dim):
    # A replay decides from the first recorded frame on (its ticks follow the frames)
    first = min((t for t, (kind, _) in timed if kind == "frame"), default=None)
    tick_times = [t for t in tick_times if first is not None and t >= first]
    assert node_like(timed, tick_times, state_dim) == replay_like(timed, tick_times, state_dim)


def test_the_stale_over_long_instruction_case():
    """An over-long instruction that is also stale: invalid_instruction in both (it once was
    invalid_instruction live and no_instruction in the replay)."""
    timed = [(0, ("instruction", "z" * 25)), (150, ("frame", ""))]
    assert node_like(timed, [160], 0) == replay_like(timed, [160], 0) == ["invalid_instruction"]
