"""Writing LeRobot datasets (format v3.0) with pyarrow and PyAV: what ``sim --record --record-format lerobot``
and ``convert`` produce, and what LeRobot's own loader and training scripts read.

Episodes are appended one at a time (:meth:`DatasetWriter.add_episode`); their rows go to
``data/chunk-000/file-NNN.parquet`` and their frames to ``videos/<camera>/chunk-000/file-NNN.mp4`` back to
back, each file rolling over on its own after ``frames_per_file`` frames (as LeRobot's files roll over by
size). :meth:`DatasetWriter.close` writes ``meta/`` (info, tasks, episodes, stats). A camera can instead be
stored as ``image`` (PNG bytes in the data parquet: lossless, larger).
"""
from __future__ import annotations

import json
import os
from typing import Any, Dict, Iterable, List, Optional, Sequence

import numpy as np

from .lerobot import CODEBASE_VERSION, EPISODES_DIR, INFO_PATH, TASKS_PATH

DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
CAMERA_KEY = "observation.images.camera"
CODECS = {"av1": "libsvtav1", "h264": "libx264"}  # LeRobot's default is AV1; h264 for older tools
DATA_FILE_BYTES = 100 * 2**20  # a data file holding PNG frames rolls over past this (LeRobot's data file size)


class _VideoFile:
    """One mp4 being written: frames at pts 0, 1, 2 ... in units of 1/fps."""

    def __init__(self, path: str, fps: int, width: int, height: int, codec: str, crf: int):
        import av
        from fractions import Fraction

        os.makedirs(os.path.dirname(path), exist_ok=True)
        os.environ.setdefault("SVT_LOG", "1")  # SVT-AV1 prints its banner on stderr otherwise
        self.path, self.frames = path, 0
        self.container = av.open(path, "w")
        options = {"g": "2", "crf": str(crf)}  # LeRobot's choice: a key frame every 2 frames, fast seeks
        if codec == "libsvtav1":
            options["preset"] = "10"
        self.stream = self.container.add_stream(codec, rate=fps, options=options)
        self.stream.width, self.stream.height, self.stream.pix_fmt = width, height, "yuv420p"
        self.stream.time_base = Fraction(1, fps)

    def add(self, image: np.ndarray) -> None:
        import av

        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image, np.uint8), format="rgb24")
        frame.pts = self.frames
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        for packet in self.stream.encode():
            self.container.mux(packet)
        self.container.close()


def _png(image: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", np.ascontiguousarray(image[:, :, ::-1]))
    if not ok:
        raise ValueError("PNG encoding failed")
    return data.tobytes()


class DatasetWriter:
    """A v3.0 dataset written episode by episode: one camera (``camera_format`` video or image), a state and
    an action vector with element names, and ``extra`` columns (name -> (dtype, shape)) per frame."""

    def __init__(self, root: str, *, fps: int, state_names: Optional[Sequence[str]], action_names: Sequence[str],
                 camera_shape: Sequence[int], camera_key: str = CAMERA_KEY, camera_format: str = "video",
                 codec: str = "av1", crf: int = 20, extra: Optional[Dict[str, tuple]] = None,
                 robot_type: str = "", frames_per_file: int = 100_000, info_extra: Optional[Dict[str, Any]] = None):
        if os.path.exists(root):
            raise FileExistsError(f"{root} exists")
        if camera_format not in ("video", "image"):
            raise ValueError(f"camera format {camera_format!r}: video or image")
        if codec not in CODECS:
            raise ValueError(f"codec {codec!r}: one of {', '.join(CODECS)}")
        height, width = int(camera_shape[0]), int(camera_shape[1])
        if camera_format == "video" and (height % 2 or width % 2):
            raise ValueError(f"a {width}x{height} camera cannot be stored as yuv420p video (odd size); use image")
        self.root, self.fps, self.camera_key, self.camera_format = root, int(fps), camera_key, camera_format
        self.codec, self.crf, self.frames_per_file = CODECS[codec], crf, max(1, int(frames_per_file))
        self.height, self.width = height, width
        self.state_names, self.action_names = list(state_names or []), list(action_names)
        self.extra = dict(extra or {})
        self.robot_type, self.info_extra = robot_type, dict(info_extra or {})
        self.tasks: Dict[str, int] = {}
        self.episodes: List[Dict[str, Any]] = []
        self.total = 0
        self._rows: Dict[str, list] = {}
        self._data_file = self._data_rows = self._data_bytes = 0
        self._video: Optional[_VideoFile] = None
        self._video_file = 0
        os.makedirs(root)

    # ------------------------------------------------------------------ episodes

    def add_episode(self, images: Iterable[np.ndarray], states: Optional[Sequence[Sequence[float]]],
                    actions: Sequence[Sequence[float]], task, extra: Optional[Dict[str, Sequence]] = None) -> int:
        """Append one episode: ``images`` is iterated once (a generator keeps one frame in memory), one per
        action; ``task`` one text, or one per frame; ``states`` None when the dataset has no state. Returns its
        episode index."""
        length = len(actions)
        states = states if self.state_names else [()] * length
        tasks = [task] * length if isinstance(task, str) else list(task)
        if not length or len(states) != length or len(tasks) != length:
            raise ValueError(f"an episode needs equal, non-zero numbers of actions ({length}), states ({len(states)}) "
                             f"and tasks ({len(tasks)})")
        extra = dict(extra or {})
        if set(extra) != set(self.extra) or any(len(v) != length for v in extra.values()):
            raise ValueError(f"extra columns: give {sorted(self.extra)}, each of length {length}")
        index = len(self.episodes)
        task_indices = [self.tasks.setdefault(text, len(self.tasks)) for text in tasks]
        if self._data_rows and (self._data_rows + length > self.frames_per_file or self._data_bytes > DATA_FILE_BYTES):
            self._flush_data()
        entry: Dict[str, Any] = {"episode_index": index, "tasks": list(dict.fromkeys(tasks)), "length": length,
                                 "data/chunk_index": 0, "data/file_index": self._data_file,
                                 "dataset_from_index": self.total, "dataset_to_index": self.total + length}
        video_start = self._open_video(length) if self.camera_format == "video" else 0
        columns = self._rows
        written = 0
        for frame, image in enumerate(images):
            if frame >= length or image.shape[:2] != (self.height, self.width):
                raise ValueError(f"frame {frame}: more frames than actions ({length}), or not "
                                 f"{self.width}x{self.height}")
            row = {"index": self.total + frame, "episode_index": index, "frame_index": frame,
                   "timestamp": np.float32(frame / self.fps), "task_index": task_indices[frame],
                   "action": [float(v) for v in actions[frame]]}
            if self.state_names:
                row["observation.state"] = [float(v) for v in states[frame]]
            if self.camera_format == "image":
                row[self.camera_key] = {"bytes": _png(image), "path": None}
                self._data_bytes += len(row[self.camera_key]["bytes"])
            else:
                self._video.add(image)
            for name, values in extra.items():
                row[name] = values[frame]
            for key, value in row.items():
                columns.setdefault(key, []).append(value)
            written += 1
        if written != length:
            raise ValueError(f"{written} frames for {length} actions")
        if self.camera_format == "video":
            prefix = f"videos/{self.camera_key}/"
            entry.update({prefix + "chunk_index": 0, prefix + "file_index": self._video_file,
                          prefix + "from_timestamp": video_start / self.fps,
                          prefix + "to_timestamp": (video_start + length) / self.fps})
        self._data_rows += length
        self.total += length
        self.episodes.append(entry)
        return index

    def _open_video(self, length: int) -> int:
        """The video file an episode of ``length`` frames goes into (a new one past ``frames_per_file``), and the
        frame it starts at there."""
        if self._video is not None and self._video.frames + length > self.frames_per_file:
            self._video.close()
            self._video, self._video_file = None, self._video_file + 1
        if self._video is None:
            path = os.path.join(self.root, VIDEO_PATH.format(video_key=self.camera_key, chunk_index=0,
                                                             file_index=self._video_file))
            self._video = _VideoFile(path, self.fps, self.width, self.height, self.codec, self.crf)
        return self._video.frames

    def _flush_data(self) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        if not self._data_rows:
            return
        types = {"index": pa.int64(), "episode_index": pa.int64(), "frame_index": pa.int64(),
                 "timestamp": pa.float32(), "task_index": pa.int64(),
                 "observation.state": pa.list_(pa.float32(), len(self.state_names)),
                 "action": pa.list_(pa.float32(), len(self.action_names)),
                 self.camera_key: pa.struct([("bytes", pa.binary()), ("path", pa.string())])}
        for name, (dtype, shape) in self.extra.items():
            types[name] = _arrow_type(dtype, shape)
        table = pa.table({key: pa.array(values, type=types[key]) for key, values in self._rows.items()})
        path = os.path.join(self.root, DATA_PATH.format(chunk_index=0, file_index=self._data_file))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        pq.write_table(table, path)
        self._rows, self._data_rows, self._data_bytes, self._data_file = {}, 0, 0, self._data_file + 1

    # ------------------------------------------------------------------ metadata

    def close(self) -> None:
        """Finish the open files and write ``meta/``."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._flush_data()
        if self._video is not None:
            self._video.close()
            self._video = None
        os.makedirs(os.path.join(self.root, EPISODES_DIR, "chunk-000"), exist_ok=True)
        for entry in self.episodes:
            entry.update({"meta/episodes/chunk_index": 0, "meta/episodes/file_index": 0})
        pq.write_table(pa.Table.from_pylist(self.episodes),
                       os.path.join(self.root, EPISODES_DIR, "chunk-000", "file-000.parquet"))
        tasks = sorted(self.tasks.items(), key=lambda item: item[1])
        pq.write_table(pa.table({"task_index": pa.array([i for _, i in tasks], pa.int64()),
                                 "task": [t for t, _ in tasks]}), os.path.join(self.root, TASKS_PATH))
        with open(os.path.join(self.root, INFO_PATH), "w") as handle:
            json.dump(self.info(), handle, indent=4)
        with open(os.path.join(self.root, "meta", "stats.json"), "w") as handle:
            json.dump(self._stats(), handle)

    def info(self) -> Dict[str, Any]:
        camera = {"dtype": self.camera_format, "shape": [self.height, self.width, 3],
                  "names": ["height", "width", "channels"]}
        if self.camera_format == "video":
            camera["info"] = {"video.height": self.height, "video.width": self.width,
                              "video.codec": "av1" if self.codec == "libsvtav1" else "h264",
                              "video.pix_fmt": "yuv420p", "video.is_depth_map": False, "video.fps": self.fps,
                              "video.channels": 3, "has_audio": False}
        scalar = lambda dtype: {"dtype": dtype, "shape": [1], "names": None}  # noqa: E731
        state = {"observation.state": {"dtype": "float32", "shape": [len(self.state_names)],
                                       "names": self.state_names}} if self.state_names else {}
        features = {self.camera_key: camera, **state,
                    "action": {"dtype": "float32", "shape": [len(self.action_names)], "names": self.action_names},
                    **{name: {"dtype": dtype, "shape": list(shape), "names": None}
                       for name, (dtype, shape) in self.extra.items()},
                    "timestamp": scalar("float32"), "frame_index": scalar("int64"),
                    "episode_index": scalar("int64"), "index": scalar("int64"), "task_index": scalar("int64")}
        return {"codebase_version": CODEBASE_VERSION, "robot_type": self.robot_type,
                "total_episodes": len(self.episodes), "total_frames": self.total, "total_tasks": len(self.tasks),
                "chunks_size": 1000, "data_files_size_in_mb": 100, "video_files_size_in_mb": 500,
                "fps": self.fps, "splits": {"train": f"0:{len(self.episodes)}"},
                "data_path": DATA_PATH, "video_path": VIDEO_PATH if self.camera_format == "video" else None,
                "features": features, **self.info_extra}

    def _stats(self) -> Dict[str, Any]:
        """Per-feature min/max/mean/std over the numeric columns (what LeRobot normalises with)."""
        import pyarrow.parquet as pq

        stats: Dict[str, Any] = {}
        folder = os.path.join(self.root, "data")
        paths = sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files)
        for key in ("observation.state", "action")[0 if self.state_names else 1:]:
            values = np.concatenate([np.asarray(pq.read_table(p, columns=[key]).column(key).to_pylist(), np.float64)
                                     for p in paths]) if paths else np.zeros((0, 1))
            if values.size:
                stats[key] = {"min": values.min(0).tolist(), "max": values.max(0).tolist(),
                              "mean": values.mean(0).tolist(), "std": values.std(0).tolist(),
                              "count": [int(values.shape[0])]}
        return stats


def _arrow_type(dtype: str, shape: Sequence[int]):
    import pyarrow as pa

    base = {"float32": pa.float32(), "float64": pa.float64(), "int64": pa.int64(), "bool": pa.bool_(),
            "string": pa.string()}[dtype]
    return base if list(shape) == [1] else pa.list_(base, int(shape[0]))
