"""When a replay decides (pure functions): every N-th frame at its time, the node's stale_image stops over
camera gaps, rate-driven ticks on the latest frame, and per-frame seeds that are the same everywhere."""
from hypothesis import given, settings, strategies as st

from rs_vla_guard.replay.timeline import NS, frame_seed, latest_at, plan_ticks

gaps = st.lists(st.integers(min_value=0, max_value=3 * NS), min_size=1, max_size=40)


def times_of(steps):
    out, now = [], 10 * NS
    for step in steps:
        now += step
        out.append(now)
    return out


@settings(max_examples=200, deadline=None)
@given(gaps, st.integers(1, 5), st.floats(0.1, 2.0), st.sampled_from([5.0, 10.0, 20.0]))
def test_every_nth_frame_is_decided_and_only_gaps_beyond_the_timeout_stop_stale(steps, every, timeout, rate):
    times = times_of(steps)
    ticks = plan_ticks(times, image_timeout_s=timeout, control_rate_hz=rate, every=every)
    fresh = [t for t in ticks if not t.stale]
    assert [t.frame for t in fresh] == list(range(0, len(times), every))
    assert all(t.time_ns == times[t.frame] for t in fresh)
    for tick in ticks:
        if tick.stale:  # inside a gap, past the timeout, before the next frame
            assert tick.time_ns - times[tick.frame] > timeout * NS - 1
            assert tick.frame + 1 < len(times) and tick.time_ns < times[tick.frame + 1]
    for index in range(len(times) - 1):  # a gap longer than timeout + two periods has stale ticks
        if times[index + 1] - times[index] > (timeout + 2 / rate) * NS:
            assert any(t.stale and t.frame == index for t in ticks)


@settings(max_examples=200, deadline=None)
@given(gaps, st.floats(0.1, 2.0), st.floats(1.0, 30.0))
def test_rate_ticks_use_the_latest_frame_and_call_it_stale_past_the_timeout(steps, timeout, rate):
    times = times_of(steps)
    ticks = plan_ticks(times, image_timeout_s=timeout, control_rate_hz=10.0, rate_hz=rate)
    assert ticks[0].time_ns == times[0] and ticks[-1].time_ns <= times[-1]
    for tick in ticks:
        assert tick.frame == latest_at(times, tick.time_ns)
        assert tick.stale == (tick.time_ns - times[tick.frame] > round(timeout * NS))


def test_frame_seeds_depend_on_bag_topic_and_index_only():
    assert frame_seed(0, "bag", "/camera/image", 3) == frame_seed(0, "bag", "/camera/image", 3)
    seeds = {frame_seed(0, "bag", "/camera/image", i) for i in range(1000)}
    assert len(seeds) == 1000 and all(0 <= s < 2 ** 63 for s in seeds)
    assert frame_seed(0, "bag", "/a", 1) != frame_seed(0, "bag", "/b", 1) != frame_seed(1, "bag", "/b", 1)
