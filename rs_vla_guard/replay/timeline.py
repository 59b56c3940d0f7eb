"""When the guard decides during a replay, and on what: pure functions of the recorded times.

The node decides once per control period on the latest frame; a frame older than ``image_timeout_s`` at
that moment is a ``stale_image`` stop. A replay decides at

* ``every=N`` (default 1): every N-th recorded frame, at its own time; where the camera falls silent for
  longer than ``image_timeout_s``, also at every control period of the gap past that timeout (the
  ``stale_image`` stops the node would have published there);
* ``rate=HZ``: every 1/HZ seconds from the first frame to the last, on the latest frame then (stale when
  it is older than the timeout).

Every decision on frame ``i`` of topic ``T`` in bag ``B`` draws its noise from :func:`frame_seed` (seed, B,
T, i), so a serial run, worker processes and Ray shards decide identically.
"""
from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass
from typing import Optional, Sequence, List

NS = 1_000_000_000


@dataclass(frozen=True)
class Tick:
    """One decision of a replay: at ``time_ns``, on frame ``frame`` (index on the image topic), which is
    ``stale`` when older than the image timeout then."""
    time_ns: int
    frame: int
    stale: bool


def frame_seed(seed: int, bag: str, topic: str, index: int) -> int:
    """The noise seed of every decision on one recorded frame (63 bits of a hash: the same everywhere)."""
    digest = hashlib.blake2b(f"{seed}\0{bag}\0{topic}\0{index}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & (2 ** 63 - 1)


def plan_ticks(frame_times_ns: Sequence[int], *, image_timeout_s: float, control_rate_hz: float,
               every: int = 1, rate_hz: Optional[float] = None) -> List[Tick]:
    """The decisions of a replay of frames recorded at ``frame_times_ns`` (non-decreasing)."""
    if every < 1:
        raise ValueError(f"every must be >= 1, not {every}")
    if rate_hz is not None and not rate_hz > 0:
        raise ValueError(f"rate must be > 0 Hz, not {rate_hz}")
    times = list(frame_times_ns)
    if not times:
        return []
    timeout_ns = int(round(image_timeout_s * NS))
    if rate_hz is not None:
        period_ns = max(1, int(round(NS / rate_hz)))
        ticks, now = [], times[0]
        while now <= times[-1]:
            latest = bisect.bisect_right(times, now) - 1
            ticks.append(Tick(now, latest, now - times[latest] > timeout_ns))
            now += period_ns
        return ticks
    period_ns = max(1, int(round(NS / control_rate_hz)))
    ticks = []
    for index, time_ns in enumerate(times):
        if index % every == 0:
            ticks.append(Tick(time_ns, index, False))
        if index + 1 < len(times):  # a silent camera: the node's stops over the gap, once per control period
            now = time_ns + period_ns
            while now < times[index + 1]:
                if now - time_ns > timeout_ns:
                    ticks.append(Tick(now, index, True))
                now += period_ns
    return ticks


def latest_at(times_ns: Sequence[int], time_ns: int) -> int:
    """Index of the latest of ``times_ns`` (non-decreasing) at or before ``time_ns``; -1 when none."""
    return bisect.bisect_right(times_ns, time_ns) - 1
