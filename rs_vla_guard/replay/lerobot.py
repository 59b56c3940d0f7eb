"""Reading LeRobot datasets (format v3.0) with pyarrow and PyAV, without the lerobot package.

A v3.0 dataset is a folder::

    meta/info.json                      codebase_version "v3.0", fps, features, data_path / video_path templates
    meta/tasks.parquet                  task text <-> task_index (mapped by the task_index column, never by row order)
    meta/episodes/chunk-*/file-*.parquet  per episode: length, dataset_from_index / dataset_to_index (exclusive),
                                        data/chunk_index, data/file_index, and per camera videos/<key>/chunk_index,
                                        file_index, from_timestamp, to_timestamp
    data/chunk-*/file-*.parquet         several episodes per file: index, episode_index, frame_index, timestamp,
                                        task_index, observation.state, action, ...
    videos/<camera>/chunk-*/file-*.mp4  several episodes back to back (AV1, or h264 in older sets): frame i of an
                                        episode is at from_timestamp + timestamp_i in its file

A camera stored as ``image`` is PNG bytes inside the data parquet instead. Every file is bounded before it
is read (size, depth, pixels); every refusal is one line (:class:`DatasetError`).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ..frames import DEFAULT_MAX_PIXELS, InvalidImage, check_size, frame_from_compressed

CODEBASE_VERSION = "v3.0"
INFO_PATH = os.path.join("meta", "info.json")
TASKS_PATH = os.path.join("meta", "tasks.parquet")
EPISODES_DIR = os.path.join("meta", "episodes")
MAX_INFO_BYTES = 1_000_000  # an info.json is a few kB
MAX_META_BYTES = 256 * 2**20  # tasks and episode tables: a million episodes fit
MAX_DATA_BYTES = 2 * 2**30  # one data file (LeRobot rolls them over at 100 MB); only the needed columns are read
CAMERA_DTYPES = ("video", "image")


class DatasetError(Exception):
    """A dataset that cannot be read as LeRobot v3.0: the one-line message says what and where."""


def is_dataset(path: str) -> bool:
    """Whether ``path`` is a folder with ``meta/info.json`` (a LeRobot dataset, of any version)."""
    return os.path.isdir(path) and os.path.isfile(os.path.join(path, INFO_PATH))


def dataset_name(path: str) -> str:
    return os.path.basename(os.path.normpath(path))


def _read_json(path: str) -> Dict[str, Any]:
    try:
        size = os.path.getsize(path)
        if size > MAX_INFO_BYTES:
            raise DatasetError(f"{path}: {size} bytes, more than the {MAX_INFO_BYTES} an info.json may have")
        with open(path, "rb") as handle:
            document = json.loads(handle.read(MAX_INFO_BYTES + 1).decode("utf-8"))
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise DatasetError(f"{path}: not valid JSON ({str(error).splitlines()[0]})") from None
    except RecursionError:
        raise DatasetError(f"{path}: nested too deep to read") from None
    if not isinstance(document, dict):
        raise DatasetError(f"{path}: not a JSON object")
    return document


def _read_table(path: str, columns: Optional[Sequence[str]] = None, max_bytes: int = MAX_META_BYTES):
    import pyarrow.parquet as pq

    try:
        if os.path.getsize(path) > max_bytes:
            raise DatasetError(f"{path}: larger than {max_bytes // 2**20} MB")
        return pq.read_table(path, columns=list(columns) if columns is not None else None)
    except DatasetError:
        raise
    except OSError as error:
        raise DatasetError(f"{path}: cannot read: {error.strerror or str(error).splitlines()[0]}") from None
    except Exception as error:  # pyarrow's errors: not parquet, a column missing
        raise DatasetError(f"{path}: not a readable parquet table ({str(error).splitlines()[0][:160]})") from None


@dataclass
class VideoSpan:
    """Where one episode of one camera lies: a file and the time span in it."""
    path: str
    from_timestamp: float
    to_timestamp: float


@dataclass
class Episode:
    """One episode's entry of ``meta/episodes``."""
    index: int
    length: int
    data_from: int  # global ``index`` of its first frame
    data_to: int  # exclusive
    data_path: str
    tasks: List[str] = field(default_factory=list)
    videos: Dict[str, VideoSpan] = field(default_factory=dict)


@dataclass
class Frames:
    """An episode's rows of the data files (numpy arrays, in frame order)."""
    frame_index: np.ndarray
    timestamp: np.ndarray
    task_index: np.ndarray
    state: Optional[np.ndarray]
    action: Optional[np.ndarray]
    columns: Dict[str, Any] = field(default_factory=dict)  # any other column asked for, as Python lists


class LeRobotDataset:
    """A LeRobot v3.0 dataset opened for reading: ``info``, ``fps``, ``features``, ``cameras``, ``tasks``
    (task_index -> text) and ``episodes`` (by episode index); :meth:`frames` and :meth:`images` read one
    episode's rows and camera frames."""

    def __init__(self, root: str, max_pixels: int = DEFAULT_MAX_PIXELS):
        if not os.path.isdir(root):
            raise DatasetError(f"dataset not found: {root}")
        if not os.path.isfile(os.path.join(root, INFO_PATH)):
            raise DatasetError(f"{root}: no {INFO_PATH}; not a LeRobot dataset")
        self.root, self.name, self.max_pixels = root, dataset_name(root), max_pixels
        self.info = _read_json(os.path.join(root, INFO_PATH))
        version = self.info.get("codebase_version")
        if version != CODEBASE_VERSION:
            raise DatasetError(f"{root}: LeRobot codebase_version {version!r}; only {CODEBASE_VERSION} is read "
                               f"(convert older datasets with lerobot's convert_dataset_v21_to_v30)")
        try:
            self.fps = float(self.info["fps"])
            self.features: Dict[str, Dict[str, Any]] = dict(self.info["features"])
            self.data_template = str(self.info["data_path"])
            if not self.fps > 0:
                raise ValueError("fps must be > 0")
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"{root}: {INFO_PATH} lacks a valid {error}") from None
        self.video_template = str(self.info.get("video_path") or "")
        self.cameras = [key for key, spec in self.features.items()
                        if isinstance(spec, dict) and spec.get("dtype") in CAMERA_DTYPES]
        self.tasks = self._read_tasks()
        self.episodes = self._read_episodes()

    # ------------------------------------------------------------------ metadata

    def _path(self, relative: str) -> str:
        path = os.path.normpath(os.path.join(self.root, relative))
        if os.path.commonpath([os.path.abspath(path), os.path.abspath(self.root)]) != os.path.abspath(self.root):
            raise DatasetError(f"{self.root}: path {relative!r} points outside the dataset")
        return path

    def _read_tasks(self) -> Dict[int, str]:
        path = os.path.join(self.root, TASKS_PATH)
        if not os.path.isfile(path):
            raise DatasetError(f"{self.root}: no {TASKS_PATH}")
        table = _read_table(path)
        names = table.column_names
        if "task_index" not in names:
            raise DatasetError(f"{path}: no task_index column")
        # pandas writes the task text as its index: a column named "task" or "__index_level_0__"
        text = next((n for n in ("task", "__index_level_0__") if n in names), None)
        if text is None:
            raise DatasetError(f"{path}: no task text column (task)")
        return {int(i): str(t) for i, t in zip(table.column("task_index").to_pylist(), table.column(text).to_pylist())}

    def _read_episodes(self) -> Dict[int, Episode]:
        folder = os.path.join(self.root, EPISODES_DIR)
        paths = sorted(os.path.join(d, f) for d, _, files in os.walk(folder) for f in files if f.endswith(".parquet"))
        if not paths:
            raise DatasetError(f"{self.root}: no {EPISODES_DIR}/chunk-*/file-*.parquet")
        episodes: Dict[int, Episode] = {}
        for path in paths:  # every file, in path order
            table = _read_table(path)
            wanted = [n for n in table.column_names if not n.startswith("stats/")]
            rows = table.select(wanted).to_pylist()
            for row in rows:
                episode = self._episode(row, path)
                if episode.index in episodes:
                    raise DatasetError(f"{path}: episode {episode.index} listed twice")
                episodes[episode.index] = episode
        return dict(sorted(episodes.items()))

    def _episode(self, row: Dict[str, Any], source: str) -> Episode:
        try:
            index = int(row["episode_index"])
            start, stop, length = int(row["dataset_from_index"]), int(row["dataset_to_index"]), int(row["length"])
            data_path = self._path(self.data_template.format(chunk_index=int(row["data/chunk_index"]),
                                                             file_index=int(row["data/file_index"])))
        except (KeyError, TypeError, ValueError) as error:
            raise DatasetError(f"{source}: an episode entry lacks a valid {error}") from None
        if stop - start != length:
            raise DatasetError(f"{source}: episode {index}: dataset_to_index - dataset_from_index = {stop - start}, "
                               f"but length {length}")
        episode = Episode(index, length, start, stop, data_path, [str(t) for t in row.get("tasks") or []])
        for camera in self.cameras:
            if self.features[camera]["dtype"] != "video":
                continue
            prefix = f"videos/{camera}/"
            try:
                path = self._path(self.video_template.format(video_key=camera,
                                                             chunk_index=int(row[prefix + "chunk_index"]),
                                                             file_index=int(row[prefix + "file_index"])))
                episode.videos[camera] = VideoSpan(path, float(row[prefix + "from_timestamp"]),
                                                   float(row[prefix + "to_timestamp"]))
            except (KeyError, TypeError, ValueError) as error:
                raise DatasetError(f"{source}: episode {index} lacks a valid {error} for camera {camera}") from None
        return episode

    def camera(self, key: Optional[str]) -> str:
        """``key``, checked, or the first camera feature."""
        if key is None:
            if not self.cameras:
                raise DatasetError(f"{self.root}: no video or image feature")
            return self.cameras[0]
        if key not in self.cameras:
            raise DatasetError(f"{self.root}: no camera {key!r} (cameras: {', '.join(self.cameras) or 'none'})")
        return key

    def names(self, key: str) -> List[str]:
        """A vector feature's element names (``features[key]["names"]``), [] when not given."""
        names = (self.features.get(key) or {}).get("names")
        if isinstance(names, dict):  # older sets: {"motors": [...]}
            names = next(iter(names.values()), [])
        return [str(n) for n in names] if isinstance(names, list) else []

    # ------------------------------------------------------------------ rows and frames

    def frames(self, episode: Episode, extra: Sequence[str] = ()) -> Frames:
        """The episode's rows (global ``index`` in [data_from, data_to)), checked against its length."""
        import pyarrow.compute as pc
        import pyarrow.parquet as pq

        if not os.path.isfile(episode.data_path):
            raise DatasetError(f"episode {episode.index}: data file missing: {episode.data_path}")
        try:
            schema = pq.read_schema(episode.data_path).names
        except Exception as error:
            raise DatasetError(f"{episode.data_path}: not a readable parquet file ({str(error)[:120]})") from None
        wanted = ["index", "frame_index", "timestamp", "task_index"]
        missing = [c for c in wanted if c not in schema]
        if missing:
            raise DatasetError(f"{episode.data_path}: no column {missing[0]}")
        wanted += [c for c in ("observation.state", "action", *extra) if c in schema and c not in wanted]
        table = _read_table(episode.data_path, wanted, max_bytes=MAX_DATA_BYTES)
        index = table.column("index")
        table = table.filter(pc.and_(pc.greater_equal(index, episode.data_from), pc.less(index, episode.data_to)))
        table = table.sort_by("index")
        if table.num_rows != episode.length:
            raise DatasetError(f"episode {episode.index}: {table.num_rows} rows in {episode.data_path}, "
                               f"but length {episode.length}")
        vector = lambda name: np.asarray(table.column(name).to_pylist(), np.float64) \
            if name in table.column_names else None  # noqa: E731
        return Frames(np.asarray(table.column("frame_index").to_pylist(), np.int64),
                      np.asarray(table.column("timestamp").to_pylist(), np.float64),
                      np.asarray(table.column("task_index").to_pylist(), np.int64),
                      vector("observation.state"), vector("action"),
                      {c: table.column(c).to_pylist() for c in extra if c in table.column_names})

    def images(self, episode: Episode, camera: str, frames: Frames, positions: Sequence[int]
               ) -> Iterator[Tuple[int, Any]]:
        """``(position, HxWx3 uint8 frame)`` for each of ``positions`` (rows of ``frames``), in order; a frame
        that cannot be read comes as an :class:`~rs_vla_guard.frames.InvalidImage` instead (the replay stops
        there with a reason and goes on)."""
        if self.features[camera]["dtype"] == "image":
            yield from self._png_images(episode, camera, positions)
            return
        span = episode.videos.get(camera)
        if span is None:
            raise DatasetError(f"episode {episode.index}: no video entry for camera {camera}")
        times = [span.from_timestamp + float(frames.timestamp[p]) for p in positions]
        yield from zip(positions, decode_video(span.path, times, self.fps, self.max_pixels))

    def _png_images(self, episode: Episode, camera: str, positions: Sequence[int]) -> Iterator[Tuple[int, Any]]:
        table = _read_table(episode.data_path, ["index", camera], max_bytes=MAX_DATA_BYTES)
        by_index = dict(zip(table.column("index").to_pylist(), table.column(camera).to_pylist()))
        for position in positions:
            cell = by_index.get(episode.data_from + position)
            try:
                data = cell.get("bytes") if isinstance(cell, dict) else cell
                if not data:
                    raise InvalidImage(f"no image bytes for {camera} at frame {position}")
                yield position, frame_from_compressed(np.frombuffer(data, np.uint8), "png", self.max_pixels)
            except InvalidImage as error:
                yield position, error


def decode_video(path: str, times: Sequence[float], fps: float, max_pixels: int = DEFAULT_MAX_PIXELS
                 ) -> Iterator[Any]:
    """The frames of the video at ``path`` shown at ``times`` (seconds, non-decreasing), as HxWx3 uint8 RGB:
    for each time, the decoded frame whose presentation time is nearest, within a quarter of a frame period
    (an episode whose times run past the end of its video gets :class:`~rs_vla_guard.frames.InvalidImage` for
    the frames it lacks). One seek to the first time, then one pass."""
    import av

    if not times:
        return
    tolerance = min(1e-3, 0.25 / fps)
    if not os.path.isfile(path):
        raise DatasetError(f"video missing: {path}")
    try:
        container = av.open(path)
    except Exception as error:
        raise DatasetError(f"{path}: not a readable video ({str(error).splitlines()[0][:120]})") from None
    with container:
        if not container.streams.video:
            raise DatasetError(f"{path}: no video stream")
        stream = container.streams.video[0]
        check_size(stream.codec_context.width, stream.codec_context.height, max_pixels)
        base = float(stream.time_base)
        container.seek(max(0, int((times[0] - tolerance) / base)), stream=stream, backward=True, any_frame=False)
        wanted = 0
        try:
            for decoded in container.decode(stream):
                if decoded.pts is None:
                    continue
                shown = decoded.pts * base
                while wanted < len(times) and times[wanted] < shown - tolerance:  # fell between two frames
                    yield InvalidImage(f"{os.path.basename(path)}: no frame at {times[wanted]:.4f} s")
                    wanted += 1
                if wanted < len(times) and abs(shown - times[wanted]) <= tolerance:
                    image = decoded.to_ndarray(format="rgb24")
                    while wanted < len(times) and abs(shown - times[wanted]) <= tolerance:
                        yield image
                        wanted += 1
                if wanted >= len(times):
                    return
        except av.error.FFmpegError as error:
            for time in times[wanted:]:
                yield InvalidImage(f"{os.path.basename(path)}: undecodable at {time:.4f} s ({error})")
            return
        for time in times[wanted:]:  # the video ended first
            yield InvalidImage(f"{os.path.basename(path)}: the video ends before {time:.4f} s")
