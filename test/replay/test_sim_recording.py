"""`sim --record` writes real rosbag2 episodes; replaying a guarded one with the same parameters and seed
reproduces the guard's live certificates frame for frame."""
import json
import os
import subprocess
import sys

import pytest

from paths import ROOT
from rs_vla_guard.replay import engine
from rs_vla_guard.replay.bags import BagReader, certificate_of

pytestmark = [pytest.mark.sim, pytest.mark.model]
COMPARED = ("action", "candidate", "certified", "radius", "p_lower", "n_samples", "counts", "reason", "linear_x",
            "angular_z")


def test_a_recorded_episode_replays_to_the_live_decisions(tmp_path):
    record = tmp_path / "episodes"
    env = {**os.environ, "MUJOCO_GL": "egl"}
    done = subprocess.run([sys.executable, "-m", "rs_vla_guard.tools.cli", "sim", "--episodes", "1", "--seed", "3",
                           "--max-time", "8", "--record", str(record), "--json"], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert sorted(os.listdir(record)) == ["guarded_seed0003", "unguarded_seed0003"]
    with BagReader(str(record / "unguarded_seed0003")) as bag:
        assert {"/camera/image", "/instruction", "/cmd_vel", "/odom"} <= set(bag.types)
    bag_path = str(record / "guarded_seed0003")
    live = {}
    with BagReader(bag_path) as bag:
        for connection, time_ns, data in bag.raw(["/guard/certificate"]):
            live[time_ns] = certificate_of(bag.deserialize(data, connection.msgtype))
    steps = json.loads(done.stdout)["guarded_episodes"][0]["steps"]
    assert len(live) == steps > 10
    result = engine.replay([bag_path], {"seed": 3}, engine.ReplayOptions(image_topic="/camera/image",
                                                                          instruction_topic="/instruction"))
    replayed = {r["time_ns"]: r for r in result["decisions"]}
    same = sum(all(certificate_of_replay(replayed[t], key) == values[key] for key in COMPARED)
               for t, values in live.items() if t in replayed)
    assert same >= 0.99 * len(live), (same, len(live))
    # the only decisions without a live twin are the node's stale_image stops while the robot spun in
    # place with no frame (the recovery behaviour), past the image timeout
    extra = [r for t, r in replayed.items() if t not in live]
    assert all(r["reason"] == "stale_image" for r in extra)
    # the recording stores its seed and settings: a replay without flags reproduces the same certificates
    from rs_vla_guard.replay.bags import recorded_settings
    from rs_vla_guard.tools.cli import main

    assert recorded_settings(bag_path)["seed"] == 3
    report = tmp_path / "report"
    assert main(["replay", bag_path, "--image-topic", "/camera/image", "--instruction-topic", "/instruction",
                 "--report", str(report), "--json"]) == 0
    unflagged = {r["time_ns"]: r for r in json.loads((report / "report.json").read_text())["decisions"]}
    assert all(unflagged[t]["action"] == r["action"] and unflagged[t]["radius"] == r["radius"]
               for t, r in replayed.items())


def certificate_of_replay(record, key):
    return record["action"] if key == "action" else record["certificate"][key]
