"""Reading and writing rosbag2 recordings (MCAP and sqlite3 directories, bare ``.mcap`` files) with
``rosbags``: pure Python, no ROS install; messages are ROS 2 Jazzy's, so ``ros2 bag play`` and Foxglove
open what is written here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..control.inputs import joint_state_values
from ..frames import DEFAULT_MAX_PIXELS, frame_from_compressed, frame_from_image_msg, image_fields

IMAGE = "sensor_msgs/msg/Image"
COMPRESSED_IMAGE = "sensor_msgs/msg/CompressedImage"
STRING = "std_msgs/msg/String"
JOINT_STATE = "sensor_msgs/msg/JointState"
FLOAT_ARRAY = "std_msgs/msg/Float32MultiArray"
TWIST = "geometry_msgs/msg/Twist"
TWIST_STAMPED = "geometry_msgs/msg/TwistStamped"
ODOMETRY = "nav_msgs/msg/Odometry"
DIAGNOSTIC_STATUS = "diagnostic_msgs/msg/DiagnosticStatus"
JOINT_TRAJECTORY = "trajectory_msgs/msg/JointTrajectory"
STORAGES = ("mcap", "sqlite3")
RECORDING_KEY = "rs_vla_guard"  # metadata.yaml custom_data: the guard settings a recording was made with (JSON)


class BagError(Exception):
    """A bag that cannot be read, or a topic it lacks: the one-line message says which."""


def typestore():
    from rosbags.typesys import Stores, get_typestore

    return get_typestore(Stores.ROS2_JAZZY)


def topic_name(topic: str) -> str:
    """``camera/image`` and ``/camera/image`` name the same recorded topic."""
    return topic if topic.startswith("/") else "/" + topic


def bag_name(path: str) -> str:
    """A bag's name in seeds and reports: its directory's (or bare file's) name, without extension."""
    return Path(os.path.normpath(path)).stem


class BagReader:
    """One recording opened for reading: ``with BagReader(path) as bag: bag.messages([topic, ...])``."""

    def __init__(self, path: str):
        from rosbags.highlevel import AnyReader

        if not os.path.exists(path):
            raise BagError(f"bag not found: {path}")
        self.path, self.name = path, bag_name(path)
        try:
            self._reader = AnyReader([Path(path)], default_typestore=typestore())
            self._reader.open()
        except Exception as error:  # rosbags raises its own errors and OSErrors alike
            raise BagError(f"cannot read bag {path}: {str(error).splitlines()[0] if str(error) else type(error).__name__}")
        self.types = {c.topic: c.msgtype for c in self._reader.connections}

    def __enter__(self) -> "BagReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._reader.close()

    def require(self, topic: str, allowed: Sequence[str], what: str) -> str:
        """The message type of ``topic``: BagError when the bag lacks it or it has another type."""
        topic = topic_name(topic)
        if topic not in self.types:
            known = ", ".join(sorted(self.types)) or "none"
            raise BagError(f"{what} topic {topic} is not in bag {self.path} (topics: {known})")
        if self.types[topic] not in allowed:
            raise BagError(f"{what} topic {topic} has type {self.types[topic]}, expected {' or '.join(allowed)}")
        return self.types[topic]

    def raw(self, topics: Optional[Sequence[str]] = None) -> Iterator[Tuple[Any, int, Any]]:
        """(connection, time ns, raw CDR bytes) of ``topics`` (all when None) in time order."""
        wanted = None if topics is None else {topic_name(t) for t in topics}
        connections = [c for c in self._reader.connections if wanted is None or c.topic in wanted]
        try:
            for connection, time_ns, data in self._reader.messages(connections=connections):
                yield connection, int(time_ns), data
        except Exception as error:  # a truncated or corrupt file mid-read
            raise BagError(f"cannot read bag {self.path}: {error}")

    def deserialize(self, data, msgtype: str):
        return self._reader.deserialize(data, msgtype)


def decode_frame(msg, msgtype: str, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """An Image (any encoding the node accepts) or CompressedImage (jpeg/png) -> HxWx3 uint8 RGB, refused
    above ``max_pixels`` (a compressed image by the size its header declares, before decoding). Raises
    InvalidImage, like the node."""
    if msgtype == IMAGE:
        return frame_from_image_msg(msg, max_pixels)
    return frame_from_compressed(msg.data, msg.format, max_pixels)


def state_values(msg, msgtype: str, joints: Sequence[str]) -> Tuple[Optional[List[float]], str]:
    """(values, problem) of a JointState (the named joints, in order) or Float32MultiArray (all values), read
    as the node reads them (:func:`~rs_vla_guard.control.inputs.joint_state_values`)."""
    if msgtype == JOINT_STATE:
        return joint_state_values(list(msg.name), np.asarray(msg.position, dtype=float).tolist(), joints)
    return np.asarray(msg.data, dtype=float).tolist(), ""


def twist_values(msg, msgtype: str) -> Tuple[float, float]:
    twist = msg.twist if msgtype == TWIST_STAMPED else msg
    return float(twist.linear.x), float(twist.angular.z)


def recorded_settings(path: str) -> Optional[Dict[str, Any]]:
    """The guard settings stored with a rosbag2 folder by :meth:`BagWriter.set_recording` (None: none stored,
    or not a folder). The metadata file is read under the configuration files' bounds."""
    import json

    from ..settings.yaml_files import YamlFileError, load_yaml_file

    metadata = os.path.join(path, "metadata.yaml")
    if not os.path.isfile(metadata):
        return None
    try:
        document = load_yaml_file(metadata)
        text = document["rosbag2_bagfile_information"]["custom_data"][RECORDING_KEY]
        settings = json.loads(text)
    except (YamlFileError, KeyError, TypeError, ValueError):
        return None
    return settings if isinstance(settings, dict) else None


def command_values(msg, msgtype: str) -> Tuple[List[str], List[float]]:
    """(names, values) of a recorded command: a Twist or TwistStamped (linear_x, angular_z), or a
    JointTrajectory (its joints at the first point: what the arm was sent to next)."""
    if msgtype == JOINT_TRAJECTORY:
        first = msg.points[0].positions if len(msg.points) else []
        return list(msg.joint_names), np.asarray(first, dtype=float).tolist()
    return ["linear_x", "angular_z"], list(twist_values(msg, msgtype))


class BagWriter:
    """A rosbag2 being written (MCAP by default): typed helpers for the messages this package records,
    and ``raw`` for copying messages of another bag unchanged."""

    def __init__(self, path: str, storage: str = "mcap"):
        from rosbags.rosbag2 import StoragePlugin, Writer

        if storage not in STORAGES:
            raise BagError(f"unknown storage {storage!r}; choose one of {', '.join(STORAGES)}")
        if os.path.exists(path):
            raise BagError(f"output exists: {path}")
        # A path ending in .mcap is one MCAP file (what Foxglove and `mcap` tools take): the bag is written
        # in a folder beside it and its one .mcap moved there at close. Any other path is a rosbag2 folder.
        self.file = path if path.lower().endswith(".mcap") and storage == "mcap" else None
        self._folder = path + ".partial" if self.file else path
        if self.file and os.path.exists(self._folder):
            raise BagError(f"output exists: {self._folder}")
        self.store = typestore()
        self.types = self.store.types
        plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
        self._writer = Writer(Path(self._folder), version=9, storage_plugin=plugin)
        self._writer.open()
        self._connections: Dict[str, Any] = {}

    def __enter__(self) -> "BagWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self._writer.close()
        if self.file:
            import shutil

            inner = [name for name in os.listdir(self._folder) if name.endswith(".mcap")]
            os.replace(os.path.join(self._folder, inner[0]), self.file)
            shutil.rmtree(self._folder)

    def set_recording(self, settings: Dict[str, Any]) -> None:
        """Store the guard settings (seed included) this recording was made with in the bag's metadata
        (rosbag2 ``custom_data``), so that ``replay`` reproduces its certificates without extra flags."""
        import json

        self._writer.set_custom_data(RECORDING_KEY, json.dumps(settings, sort_keys=True))

    def _connection(self, topic: str, msgtype: str, source=None):
        topic = topic_name(topic)
        if topic not in self._connections:
            if msgtype in self.types or source is None:
                self._connections[topic] = self._writer.add_connection(topic, msgtype, typestore=self.store)
            else:  # a type this typestore lacks: the source bag's own definition travels with it
                self._connections[topic] = self._writer.add_connection(
                    topic, msgtype, msgdef=source.msgdef.data, rihs01=source.digest)
        return self._connections[topic]

    def write(self, topic: str, msgtype: str, time_ns: int, msg) -> None:
        self._writer.write(self._connection(topic, msgtype), int(time_ns), self.store.serialize_cdr(msg, msgtype))

    def raw(self, connection, time_ns: int, data, topic: Optional[str] = None) -> None:
        """A message of another bag, unchanged (on ``topic`` when given, else its own)."""
        self._writer.write(self._connection(topic or connection.topic, connection.msgtype, connection), int(time_ns),
                           data)

    # ---- typed helpers
    def header(self, time_ns: int, frame_id: str = ""):
        stamp = self.types["builtin_interfaces/msg/Time"](sec=int(time_ns // 10 ** 9), nanosec=int(time_ns % 10 ** 9))
        return self.types["std_msgs/msg/Header"](stamp=stamp, frame_id=frame_id)

    def image(self, topic: str, time_ns: int, frame: np.ndarray, encoding: str = "rgb8", frame_id: str = "camera"):
        height, width, step, data = image_fields(frame, encoding)
        self.write(topic, IMAGE, time_ns, self.types[IMAGE](
            header=self.header(time_ns, frame_id), height=height, width=width, encoding=encoding, is_bigendian=0,
            step=step, data=np.frombuffer(data, np.uint8)))

    def compressed_image(self, topic: str, time_ns: int, frame_rgb: np.ndarray, fmt: str = "jpeg"):
        import cv2

        ok, data = cv2.imencode(".jpg" if fmt == "jpeg" else f".{fmt}", np.ascontiguousarray(frame_rgb[:, :, ::-1]))
        if not ok:
            raise BagError(f"cannot encode a frame as {fmt}")
        self.write(topic, COMPRESSED_IMAGE, time_ns, self.types[COMPRESSED_IMAGE](
            header=self.header(time_ns, "camera"), format=fmt, data=np.asarray(data, np.uint8).ravel()))

    def string(self, topic: str, time_ns: int, text: str):
        self.write(topic, STRING, time_ns, self.types[STRING](data=text))

    def twist_stamped(self, topic: str, time_ns: int, linear_x: float, angular_z: float, frame_id: str = "base_link"):
        vector = self.types["geometry_msgs/msg/Vector3"]
        twist = self.types[TWIST](linear=vector(x=float(linear_x), y=0.0, z=0.0),
                                  angular=vector(x=0.0, y=0.0, z=float(angular_z)))
        self.write(topic, TWIST_STAMPED, time_ns, self.types[TWIST_STAMPED](header=self.header(time_ns, frame_id),
                                                                            twist=twist))

    def float_array(self, topic: str, time_ns: int, values: Sequence[float]):
        self.write(topic, FLOAT_ARRAY, time_ns, self.types[FLOAT_ARRAY](
            layout=self.types["std_msgs/msg/MultiArrayLayout"](dim=[], data_offset=0),
            data=np.asarray(values, np.float32)))

    def joint_state(self, topic: str, time_ns: int, names: Sequence[str], positions: Sequence[float]):
        self.write(topic, JOINT_STATE, time_ns, self.types[JOINT_STATE](
            header=self.header(time_ns), name=list(names), position=np.asarray(positions, float),
            velocity=np.zeros(0), effort=np.zeros(0)))

    def joint_trajectory(self, topic: str, time_ns: int, names: Sequence[str], waypoints, dt_s: float):
        """The K x D ``waypoints`` at ``dt_s`` apart (zero stamp: start now), the last at rest, as the node
        sends them to ros2_control (:func:`rs_vla_guard.ros.node_trajectory.trajectory_msg`)."""
        t = self.types
        duration = t["builtin_interfaces/msg/Duration"]
        rows = np.atleast_2d(np.asarray(waypoints, float))
        points = []
        for k, row in enumerate(rows):
            nanoseconds = int(round((k + 1) * dt_s * 1e9))
            points.append(t["trajectory_msgs/msg/JointTrajectoryPoint"](
                positions=row, velocities=np.zeros(len(row) if k == len(rows) - 1 else 0), accelerations=np.zeros(0),
                effort=np.zeros(0), time_from_start=duration(sec=nanoseconds // 10**9, nanosec=nanoseconds % 10**9)))
        self.write(topic, JOINT_TRAJECTORY, time_ns, t[JOINT_TRAJECTORY](
            header=self.header(0), joint_names=list(names), points=points))

    def odometry(self, topic: str, time_ns: int, x: float, y: float, yaw: float, linear_x: float, angular_z: float):
        t = self.types
        point = t["geometry_msgs/msg/Point"](x=float(x), y=float(y), z=0.0)
        orientation = t["geometry_msgs/msg/Quaternion"](x=0.0, y=0.0, z=float(np.sin(yaw / 2)), w=float(np.cos(yaw / 2)))
        pose = t["geometry_msgs/msg/PoseWithCovariance"](pose=t["geometry_msgs/msg/Pose"](position=point,
                                                                                        orientation=orientation),
                                                          covariance=np.zeros(36))
        vector = t["geometry_msgs/msg/Vector3"]
        twist = t["geometry_msgs/msg/TwistWithCovariance"](
            twist=t[TWIST](linear=vector(x=float(linear_x), y=0.0, z=0.0), angular=vector(x=0.0, y=0.0, z=float(angular_z))),
            covariance=np.zeros(36))
        self.write(topic, ODOMETRY, time_ns, t[ODOMETRY](header=self.header(time_ns, "odom"), child_frame_id="base_link",
                                                         pose=pose, twist=twist))

    def certificate(self, topic: str, time_ns: int, name: str, action: str, certified: bool, values: Dict[str, str],
                    hardware_id: str = ""):
        """The certificate as the node publishes it (diagnostic_msgs/DiagnosticStatus: OK when certified)."""
        t = self.types
        status = t[DIAGNOSTIC_STATUS](level=0 if certified else 1, name=name, message=action,
                                      hardware_id=hardware_id,
                                      values=[t["diagnostic_msgs/msg/KeyValue"](key=k, value=str(v))
                                              for k, v in values.items()])
        self.write(topic, DIAGNOSTIC_STATUS, time_ns, status)


def certificate_of(msg) -> Dict[str, str]:
    """A recorded certificate's key/values, plus ``action`` (its message)."""
    values = {kv.key: kv.value for kv in msg.values}
    values["action"] = msg.message
    return values
