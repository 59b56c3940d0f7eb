"""Replay of real rosbag2 recordings written with ``rosbags`` (both storage formats, several encodings, a
compressed topic, a camera gap), through the command line a user runs: decisions, stops, the report,
the annotated MCAP, worker processes and Ray, and two fleet configurations compared."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from commands import run_main
from paths import ROOT
from rs_vla_guard import params as P
from rs_vla_guard.replay import engine
from rs_vla_guard.replay.bags import BagReader, BagWriter
from rs_vla_guard.replay.timeline import NS
from rs_vla_guard.tasks import blocks

pytestmark = pytest.mark.model
LEFT = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.25)]))
AHEAD = blocks.render(blocks.Scene([blocks.Block("red", 0.5, 0.25)]))
START = 1_700_000_000 * NS
PERIOD = NS // 10


def write_bag(path, storage="mcap", frames=8, encoding="rgb8", compressed=False, gap_after=None, gap_s=2.0,
              scenes=None):
    """A recording: frames at 10 Hz (a gap after frame ``gap_after``), an instruction, a command per frame;
    the frames alternate a block on the left and ahead, or are ``scenes``."""
    with BagWriter(str(path), storage) as bag:
        bag.string("/instruction", START, "go to the red block")
        now = START + 1
        for index in range(frames):
            frame = scenes[index] if scenes is not None else LEFT if index % 2 == 0 else AHEAD
            if compressed:
                bag.compressed_image("/camera/image/compressed", now, frame, "png" if index % 2 else "jpeg")
            elif encoding == "bgr8":
                bag.image("/camera/image", now, frame[:, :, ::-1], "bgr8")
            elif encoding == "mono8":
                bag.image("/camera/image", now, frame.mean(axis=2).astype(np.uint8), "mono8")
            else:
                bag.image("/camera/image", now, frame, encoding)
            bag.twist_stamped("/cmd_vel", now, 0.0 if index % 2 == 0 else 0.2, 0.6 if index % 2 == 0 else 0.0)
            now += PERIOD + (int(gap_s * NS) if index == gap_after else 0)
    return str(path)


def cli(*args, check=True, process=False):
    """The command's exit code, stdout and stderr: as its own process (``process``; one test per command
    path does), else its ``main`` in this process, which spares each call an interpreter and torch import."""
    args = [str(a) for a in args]
    if process:
        env = {**os.environ, "RS_VLA_GUARD_NO_PROGRESS": "1"}
        done = subprocess.run([sys.executable, "-m", "rs_vla_guard.tools.cli", *args], capture_output=True,
                              text=True, cwd=ROOT, env=env, timeout=600)
    else:
        done = run_main(*args, env={"RS_VLA_GUARD_NO_PROGRESS": "1"})
    if check:
        assert done.returncode == 0, done.stderr[-2000:]
    return done


def replay_json(*args, process=False):
    return json.loads(cli("replay", *args, "--json", process=process).stdout)


@pytest.mark.parametrize("storage, encoding", [("mcap", "rgb8"), ("sqlite3", "bgr8"), ("mcap", "mono8")])
def test_a_recording_replays_in_either_storage_and_encoding(tmp_path, storage, encoding):
    bag = write_bag(tmp_path / "bag", storage, encoding=encoding)
    out = replay_json(bag, "--image-topic", "camera/image", "--instruction-topic", "/instruction",
                      "--cmd-topic", "/cmd_vel", process=storage == "mcap" and encoding == "rgb8")
    summary = out["summary"]
    assert summary["decisions"] == 8 and summary["stops_by_reason"].get("invalid_image", 0) == 0
    if encoding != "mono8":  # the colour scenes certify; the agreement is judged against the recorded turns
        assert summary["certified_share"] >= 0.75, summary
        assert summary["agreement"]["agreement_when_certified"] == 1.0, summary["agreement"]


def test_a_camera_gap_is_stale_image_stops_and_compressed_frames_replay(tmp_path):
    bag = write_bag(tmp_path / "bag", compressed=True, gap_after=3, gap_s=2.0)
    result = engine.replay([bag], {}, engine.ReplayOptions(image_topic="/camera/image/compressed",
                                                           instruction="go to the red block"))
    stale = [r for r in result["decisions"] if r["reason"] == "stale_image"]
    gap_start = START + 1 + 3 * PERIOD
    assert stale and all(gap_start + 0.5 * NS < r["time_ns"] < gap_start + 2.1 * NS for r in stale)
    defaults = P.defaults()  # one stop per control period of the gap past the image timeout
    assert len(stale) >= (2.0 - defaults["image_timeout_s"]) * defaults["control_rate_hz"] - 1
    decided = [r for r in result["decisions"] if r["reason"] != "stale_image"]
    assert len(decided) == 8 and sum(r["certified"] for r in decided) >= 6
    assert {r["action"] for r in decided if r["certified"]} <= {"turn_left", "move_forward"}


def test_an_unsupported_encoding_is_invalid_image_per_frame_and_the_replay_finishes(tmp_path):
    bag = write_bag(tmp_path / "bag", encoding="16UC1", frames=5)
    summary = replay_json(bag, "--image-topic", "/camera/image", "--instruction", "go to the red block")["summary"]
    assert summary["decisions"] == 5 and summary["stops_by_reason"] == {"invalid_image": 5}


def test_missing_topics_and_unreadable_bags_exit_non_zero_with_one_line(tmp_path):
    bag = write_bag(tmp_path / "bag", frames=2)
    for args, expected in [
        ((bag, "--image-topic", "/front/image", "--instruction", "go"), "/front/image is not in bag"),
        ((bag, "--image-topic", "/camera/image", "--instruction-topic", "/task"), "/task is not in bag"),
        ((tmp_path / "nothing", "--image-topic", "/camera/image", "--instruction", "go"), "bag not found"),
    ]:
        done = cli("replay", *args, check=False)
        assert done.returncode != 0 and expected in done.stderr and len(done.stderr.strip().splitlines()) == 1, \
            done.stderr
    broken = tmp_path / "broken.mcap"
    broken.write_bytes(b"\x89MCAP0\r\n" + os.urandom(200))
    done = cli("replay", broken, "--image-topic", "/camera/image", "--instruction", "go", check=False, process=True)
    assert done.returncode != 0 and "cannot read bag" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_the_report_and_the_annotated_mcap(tmp_path):
    bag = write_bag(tmp_path / "bag", gap_after=2, gap_s=1.0)
    annotated = tmp_path / "annotated.mcap"
    cli("replay", bag, "--image-topic", "/camera/image", "--instruction-topic", "/instruction", "--cmd-topic",
        "/cmd_vel", "--report", tmp_path / "report", "--out", annotated)
    report = json.loads((tmp_path / "report" / "report.json").read_text())
    for name in ("stops_by_reason.png", "radius_histogram.png", "certified_accuracy.png", "latency_histogram.png",
                 "agreement.png"):
        assert (tmp_path / "report" / name).stat().st_size > 1000
    curve = report["summary"]["certified_accuracy_curve"]
    assert curve["certified"] == sorted(curve["certified"], reverse=True)  # fewer certified at larger radii
    assert curve["certified"][0] == report["summary"]["certified_share"]
    decisions = report["decisions"]
    # exactly the one file asked for, which Foxglove's own reader opens with the guard's channels
    assert annotated.is_file() and sorted(os.listdir(tmp_path)) == ["annotated.mcap", "bag", "report"]
    from mcap.reader import make_reader

    with open(annotated, "rb") as handle:
        summary = make_reader(handle).get_summary()
    channels = {c.topic: summary.schemas[c.schema_id].name for c in summary.channels.values()}
    assert channels["/guard/certificate"] == "diagnostic_msgs/msg/DiagnosticStatus"
    assert summary.statistics.channel_message_counts[
        next(i for i, c in summary.channels.items() if c.topic == "/guard/certificate")] == len(decisions)
    with BagReader(str(annotated)) as reader:
        assert {"/camera/image", "/instruction", "/cmd_vel", "/guard/action", "/guard/cmd_vel",
                "/guard/certificate"} <= set(reader.types)
        heard = {"/guard/action": [], "/guard/certificate": [], "/camera/image": []}
        for connection, time_ns, data in reader.raw(list(heard)):
            heard[connection.topic].append((time_ns, reader.deserialize(data, connection.msgtype)))
    assert len(heard["/camera/image"]) == 8
    assert [(t, m.data) for t, m in heard["/guard/action"]] == [(d["time_ns"], d["action"]) for d in decisions]
    assert [m.values[[kv.key for kv in m.values].index("reason")].value for _, m in heard["/guard/certificate"]] \
        == [d["reason"] for d in decisions]


def test_worker_processes_and_ray_give_the_serial_result(tmp_path):
    bags = [write_bag(tmp_path / f"robot{i}", frames=6, gap_after=1, gap_s=0.8) for i in range(2)]
    options = engine.ReplayOptions(image_topic="/camera/image", instruction_topic="/instruction", cmd_topic="/cmd_vel")
    serial = engine.replay(bags, {}, options)
    workers = engine.replay(bags, {}, options, workers=2)
    ray = engine.replay(bags, {}, options, workers=2, ray_address="local")
    for other in (workers, ray):
        assert comparable(other) == comparable(serial)
    assert len(serial["decisions"]) > 12


def comparable(result):
    """Decisions without their latencies (the only figure that depends on the machine's load)."""
    return [{**{k: v for k, v in r.items() if k != "latency_ms"},
             "certificate": {k: v for k, v in r["certificate"].items() if k != "latency_ms"}}
            for r in result["decisions"]]


def test_fleet_replay_compares_two_thresholds(tmp_path):
    rng = np.random.default_rng(7)  # scenes of every kind, some near a border: a stricter threshold stops more
    scenes = []
    for _ in range(16):
        scene, _, _ = blocks.random_scene(rng, target="red")
        scenes.append(blocks.render(scene))
    bag = write_bag(tmp_path / "bag", frames=16, scenes=scenes)
    fleets = []
    for name, threshold in (("now", 0.25), ("stricter", 0.6)):
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"limits: {{}}\ndefaults: {{radius_threshold: {threshold}, n_max: 1024}}\n"
                        "robots: {robot_1: {}}\n")
        fleets.append(path)
    done = cli("fleet", "replay", fleets[0], "--robot", "robot_1", "--compare", fleets[1], bag, "--image-topic",
               "/camera/image", "--instruction-topic", "/instruction", "--json")
    side = json.loads(done.stdout)["side_by_side"]
    assert side["stop_rate"]["other"] > side["stop_rate"]["base"], side
    assert json.loads(done.stdout)["changed"], side


def test_robot_state_is_paired_as_the_node_pairs_it(tmp_path):
    """A policy that takes the robot state: no_state before the first joint states, decisions while they
    are fresh, stale_state once the latest is older than state_timeout_s (0.5 s)."""
    path = tmp_path / "bag"
    with BagWriter(str(path)) as bag:
        for index in range(14):
            now = START + index * PERIOD
            bag.image("/camera/image", now, LEFT)
            if 2 <= index <= 5:
                bag.joint_state("/joint_states", now - 1, ["joint_c", "joint_b", "joint_a"], [9.0, 0.0, 0.25])
    overrides = {"policy": "python:guard_test_policies:stateful_red_seeker", "state_joints": "joint_a, joint_b",
                 "continuous_command": "clean"}
    result = engine.replay([str(path)], overrides, engine.ReplayOptions(
        image_topic="/camera/image", instruction="go to the red block", state_topic="/joint_states"))
    reasons = [r["reason"] for r in result["decisions"]]
    assert reasons[:2] == ["no_state", "no_state"]
    # the last state is 1 ns before frame 5: at frame 10 it is just over 0.5 s old
    assert set(reasons[2:10]) == {"certified"} and reasons[10:] == ["stale_state"] * 4, reasons
    assert result["decisions"][2]["certificate"]["radius_covers"] == "image; state taken as given"
