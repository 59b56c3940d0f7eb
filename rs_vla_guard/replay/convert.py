"""rosbag2 <-> LeRobot v3.0: ``rs-vla-guard convert``, and what ``sim --record-format lerobot`` writes through.

Bag -> dataset: each bag is one episode. Every camera frame becomes one dataset frame, at the camera's own rate
(its median interval); with ``fps``, frames are taken at that rate instead from the first camera frame to
the last, each the recorded frame nearest that moment. With each frame: the latest state
(JointState by joint name, Float32MultiArray, or Odometry as x, y, yaw), the command in force until the next
frame (Twist/TwistStamped as linear_x, angular_z; JointTrajectory as its first point), the latest
instruction as the task, and, when a certificate topic is given, the guard's certificate as the columns
``guard.action``, ``guard.certified``, ``guard.radius``, ``guard.reason``. Each frame keeps its origin
(``source.frame`` and info.json's ``rs_vla_guard.source``), so a replay of the dataset draws the bag's noise.

Dataset -> bags (``--to rosbag2``): one bag per episode, camera frames as sensor_msgs/Image, the task on
``/instruction``, the state as JointState, the action as TwistStamped (base) or Float32MultiArray.
"""
from __future__ import annotations

import bisect
import math
import os
from dataclasses import dataclass
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from . import bags as B
from .datasets import SOURCE_FRAME, SOURCE_KEY
from .lerobot import LeRobotDataset
from .lerobot_writer import DatasetWriter
from .timeline import NS, latest_at

GUARD_COLUMNS = {"guard.action": ("string", (1,)), "guard.certified": ("bool", (1,)),
                 "guard.radius": ("float32", (1,)), "guard.reason": ("string", (1,))}
START_NS = 1_700_000_000 * NS  # where bags written from a dataset start (as sim recordings do)


@dataclass
class BagTopics:
    """The topics of a bag to convert (the instruction: a topic, or one text for every frame)."""
    image: str
    instruction: Optional[str] = None
    instruction_topic: Optional[str] = None
    state: Optional[str] = None
    command: Optional[str] = None
    certificate: Optional[str] = None


def _odometry_state(msg) -> List[float]:
    q = msg.pose.pose.orientation
    yaw = math.atan2(2 * (q.w * q.z + q.x * q.y), 1 - 2 * (q.y * q.y + q.z * q.z))
    return [float(msg.pose.pose.position.x), float(msg.pose.pose.position.y), yaw]


def _scan_bag(path: str, topics: BagTopics) -> Dict[str, Any]:
    """A bag's frame times and its small topics, decoded (frames are decoded later, one at a time)."""
    out: Dict[str, Any] = {"frame_times": [], "instructions": [], "states": [], "commands": [], "certificates": [],
                           "state_names": None, "action_names": None}
    wanted = {B.topic_name(topics.image): "image"}
    with B.BagReader(path) as bag:
        bag.require(topics.image, (B.IMAGE, B.COMPRESSED_IMAGE), "image")
        if topics.instruction_topic:
            bag.require(topics.instruction_topic, (B.STRING,), "instruction")
            wanted[B.topic_name(topics.instruction_topic)] = "instruction"
        if topics.state:
            bag.require(topics.state, (B.JOINT_STATE, B.FLOAT_ARRAY, B.ODOMETRY), "state")
            wanted[B.topic_name(topics.state)] = "state"
        if topics.command:
            bag.require(topics.command, (B.TWIST, B.TWIST_STAMPED, B.JOINT_TRAJECTORY), "command")
            wanted[B.topic_name(topics.command)] = "command"
        if topics.certificate:
            bag.require(topics.certificate, (B.DIAGNOSTIC_STATUS,), "certificate")
            wanted[B.topic_name(topics.certificate)] = "certificate"
        for connection, time_ns, data in bag.raw(list(wanted)):
            role = wanted[connection.topic]
            if role == "image":
                out["frame_times"].append(time_ns)
                continue
            msg = bag.deserialize(data, connection.msgtype)
            if role == "instruction":
                out["instructions"].append((time_ns, msg.data))
            elif role == "state":
                if connection.msgtype == B.JOINT_STATE:
                    names, values = list(msg.name), np.asarray(msg.position, float).tolist()
                elif connection.msgtype == B.ODOMETRY:
                    names, values = ["x", "y", "yaw"], _odometry_state(msg)
                else:
                    values = np.asarray(msg.data, float).tolist()
                    names = [f"state_{i}" for i in range(len(values))]
                out["state_names"] = out["state_names"] or names
                out["states"].append((time_ns, values))
            elif role == "command":
                names, values = B.command_values(msg, connection.msgtype)
                if values:
                    out["action_names"] = out["action_names"] or names
                    out["commands"].append((time_ns, values))
            else:
                out["certificates"].append((time_ns, B.certificate_of(msg)))
    if not out["frame_times"]:
        raise B.BagError(f"image topic {B.topic_name(topics.image)} has no messages in bag {path}")
    return out


def _frames(path: str, topic: str, picks: Sequence[int], max_pixels: int) -> Iterator[np.ndarray]:
    """The bag's camera frames at the indices ``picks`` (non-decreasing, repeats allowed), decoded one at a
    time as the bag is read."""
    want: Dict[int, int] = {}
    for index in picks:
        want[index] = want.get(index, 0) + 1
    last = max(picks)
    with B.BagReader(path) as bag:
        for index, (connection, _, data) in enumerate(bag.raw([B.topic_name(topic)])):
            if index in want:
                frame = B.decode_frame(bag.deserialize(data, connection.msgtype), connection.msgtype, max_pixels)
                for _ in range(want[index]):
                    yield frame
            if index >= last:
                return


class _Latest:
    """The latest of (time, value) entries at a time, by bisection over their times (taken once)."""

    def __init__(self, entries: Sequence[Tuple[int, Any]]):
        self.entries, self.times = entries, [t for t, _ in entries]

    def __call__(self, time_ns: int) -> Any:
        index = latest_at(self.times, time_ns)
        return self.entries[index][1] if index >= 0 else None


def frame_rate(times: Sequence[int]) -> int:
    """A camera's rate in whole frames per second, from its median frame interval (1 for one frame)."""
    if len(times) < 2:
        return 1
    return max(1, int(round(NS / float(np.median(np.diff(times))))))


def _picks(times: Sequence[int], fps: int) -> List[int]:
    """The frame nearest each moment 1/fps apart from the first frame to the last (index into ``times``)."""
    picks, period = [], NS / fps
    for k in range(int((times[-1] - times[0]) / period + 1e-9) + 1):
        moment = times[0] + k * period
        right = bisect.bisect_left(times, moment)
        candidates = [i for i in (right - 1, right) if 0 <= i < len(times)]
        picks.append(min(candidates, key=lambda i: (abs(times[i] - moment), i)))
    return picks


def bags_to_dataset(paths: Sequence[str], out: str, topics: BagTopics, *, fps: Optional[int] = None,
                    camera_format: str = "video", codec: str = "av1", robot_type: str = "",
                    max_pixels: int = 4096 * 4096) -> Dict[str, Any]:
    """Each bag in ``paths`` as one episode of a new v3.0 dataset at ``out``; returns its info. Bags are read
    one at a time, twice (the small topics, then the frames a dataset frame needs), so memory holds one
    bag's small topics and one decoded frame."""
    if (topics.instruction is None) == (topics.instruction_topic is None):
        raise ValueError("give exactly one of an instruction and an instruction topic")
    first = _scan_bag(paths[0], topics)
    rate = fps or frame_rate(first["frame_times"])
    state_names = first["state_names"] if topics.state else None
    if topics.state and not state_names:
        raise B.BagError(f"state topic {topics.state} has no messages in bag {paths[0]}")
    action_names = first["action_names"] or (["linear_x", "angular_z"] if not topics.command else None)
    if action_names is None:
        raise B.BagError(f"command topic {topics.command} has no messages in bag {paths[0]}")
    shape = next(_frames(paths[0], topics.image, [0], max_pixels)).shape
    extra = {SOURCE_FRAME: ("int64", (1,)), **(GUARD_COLUMNS if topics.certificate else {})}
    source = {str(i): {"bag": B.bag_name(p), "topic": B.topic_name(topics.image)} for i, p in enumerate(paths)}
    recorded = [B.recorded_settings(p) for p in paths]  # what sim --record stored: replay applies it by default
    origin = {"source": source, **({"settings": recorded[0]} if recorded[0] and all(r == recorded[0] for r in recorded)
                                   else {})}
    writer = DatasetWriter(out, fps=rate, state_names=state_names, action_names=action_names, camera_shape=shape,
                           camera_format=camera_format, codec=codec, extra=extra, robot_type=robot_type,
                           info_extra={SOURCE_KEY: origin})
    for number, path in enumerate(paths):
        scanned = first if number == 0 else _scan_bag(path, topics)
        times = scanned["frame_times"]
        picks = _picks(times, rate) if fps else list(range(len(times)))
        rows: Dict[str, List[Any]] = {"states": [], "actions": [], "tasks": [], **{k: [] for k in extra}}
        latest = {kind: _Latest(scanned[kind]) for kind in ("states", "commands", "instructions", "certificates")}
        for index in picks:
            time_ns = times[index]
            until = times[index + 1] - 1 if index + 1 < len(times) else time_ns + NS  # in force until the next
            state = latest["states"](time_ns)
            if topics.state and (state is None or len(state) != len(state_names)):
                state = [float("nan")] * len(state_names)  # no state yet: the replay stops with invalid_state
            rows["states"].append(state)
            command = latest["commands"](until) if topics.command else None
            rows["actions"].append(command if command is not None and len(command) == len(action_names)
                                   else [0.0] * len(action_names))
            rows["tasks"].append(topics.instruction if topics.instruction is not None
                                 else latest["instructions"](time_ns) or "")
            rows[SOURCE_FRAME].append(index)
            if topics.certificate:
                certificate = latest["certificates"](until) or {}
                rows["guard.action"].append(certificate.get("action", ""))
                rows["guard.certified"].append(certificate.get("certified", "") in ("True", "true", "1"))
                rows["guard.radius"].append(_float(certificate.get("radius")))
                rows["guard.reason"].append(certificate.get("reason", ""))
        writer.add_episode(_frames(path, topics.image, picks, max_pixels), rows["states"] if topics.state else None,
                           rows["actions"], rows["tasks"], extra={k: rows[k] for k in extra})
    writer.close()
    return writer.info()


def _float(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def dataset_to_bags(path: str, out: str, *, image_key: Optional[str] = None, image_topic: str = "/camera/image",
                    instruction_topic: str = "/instruction", state_topic: str = "/joint_states",
                    cmd_topic: str = "/cmd_vel", action_topic: str = "/action") -> List[str]:
    """Each episode of the dataset at ``path`` as a bag ``out/episode_NNNNNN``; returns their paths."""
    dataset = LeRobotDataset(path)
    camera = dataset.camera(image_key)
    state_names = dataset.names("observation.state")
    action_names = dataset.names("action")
    twist = action_names[:2] == ["linear_x", "angular_z"]
    os.makedirs(out, exist_ok=True)
    written = []
    for index, episode in dataset.episodes.items():
        rows = dataset.frames(episode)
        target = os.path.join(out, f"episode_{index:06d}")
        with B.BagWriter(target) as bag:
            last_task = None
            for position, image in dataset.images(episode, camera, rows, range(episode.length)):
                time_ns = START_NS + int(round(float(rows.timestamp[position]) * NS))
                task = dataset.tasks.get(int(rows.task_index[position]), "")
                if task != last_task:
                    bag.string(instruction_topic, time_ns, task)
                    last_task = task
                if rows.state is not None:
                    names = state_names or [f"state_{i}" for i in range(len(rows.state[position]))]
                    bag.joint_state(state_topic, time_ns, names, rows.state[position])
                if not isinstance(image, Exception):  # a frame that cannot be decoded is left out, as a dropout
                    bag.image(image_topic, time_ns + 1, np.asarray(image, np.uint8))
                if rows.action is not None:
                    if twist:
                        bag.twist_stamped(cmd_topic, time_ns + 2, rows.action[position][0], rows.action[position][1])
                    else:
                        bag.float_array(action_topic, time_ns + 2, rows.action[position])
        written.append(target)
    return written
