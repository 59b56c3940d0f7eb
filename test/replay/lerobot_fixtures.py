"""An independent LeRobot v3.0 writer for the tests: pyarrow and PyAV used directly, laid out after LeRobot's
own v3.0 code (and not through rs_vla_guard.replay.lerobot_writer), so the reader is checked against a
second implementation of the format: tasks stored with the text as a pandas-style index and rows out of
task_index order, episode metadata over two files, data over two files, all episodes in one video file
(h264, a different time base than the project's writer uses)."""
import json
import os
from fractions import Fraction

import av
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq


def marker_frame(episode: int, frame: int, height: int = 64, width: int = 96) -> np.ndarray:
    """A frame that says which (episode, frame) it is: colour bands wide enough to survive compression."""
    image = np.zeros((height, width, 3), np.uint8)
    image[:, :, 0] = 60 + 60 * episode
    image[:, : width // 2, 1] = 10 * frame
    image[:, width // 2:, 2] = 250 - 10 * frame
    return image


def identify(image: np.ndarray, episodes: int, frames: int) -> tuple:
    """The (episode, frame) whose marker frame is nearest ``image``."""
    errors = {(e, f): float(np.abs(image.astype(int) - marker_frame(e, f, *image.shape[:2])).mean())
              for e in range(episodes) for f in range(frames)}
    return min(errors, key=errors.get)


def write_independent_dataset(root: str, episodes, fps: int = 10,
                              version: str = "v3.0", camera: str = "observation.images.top") -> None:
    """``episodes``: a list of (task text, frames (list of HxWx3), states (N x S), actions (N x A))."""
    height, width = episodes[0][1][0].shape[:2]
    os.makedirs(os.path.join(root, "meta", "episodes", "chunk-000"))
    os.makedirs(os.path.join(root, "data", "chunk-000"))
    video_path = os.path.join(root, "videos", camera, "chunk-000", "file-000.mp4")
    os.makedirs(os.path.dirname(video_path))
    tasks = sorted({task for task, *_ in episodes}, reverse=True)  # task_index follows first appearance ...
    order = {}
    for task, *_ in episodes:
        order.setdefault(task, len(order))
    # ... while the rows are written in reverse alphabetical order: a reader must map by the task_index column
    pq.write_table(pa.table({"__index_level_0__": tasks, "task_index": [order[t] for t in tasks]}),
                   os.path.join(root, "meta", "tasks.parquet"))
    container = av.open(video_path, "w")
    stream = container.add_stream("libx264", rate=fps, options={"g": "2", "crf": "18"})
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    stream.time_base = Fraction(1, 90000)  # mp4's usual clock, not 1/fps
    shown = 0
    rows, entries = [], []
    for index, (task, frames, states, actions) in enumerate(episodes):
        start_index, start_time = len(rows), shown / fps
        for f, image in enumerate(frames):
            video_frame = av.VideoFrame.from_ndarray(image, format="rgb24")
            video_frame.pts = shown  # in the encoder's 1/fps; the file keeps 1/90000
            for packet in stream.encode(video_frame):
                container.mux(packet)
            shown += 1
            rows.append({"observation.state": [float(v) for v in states[f]], "action": [float(v) for v in actions[f]],
                         "timestamp": float(np.float32(f / fps)), "frame_index": f, "episode_index": index,
                         "index": len(rows), "task_index": order[task]})
        entries.append({"episode_index": index, "tasks": [task], "length": len(frames),
                        "data/chunk_index": 0, "data/file_index": 0 if index == 0 else 1,
                        "dataset_from_index": start_index, "dataset_to_index": len(rows),
                        f"videos/{camera}/chunk_index": 0, f"videos/{camera}/file_index": 0,
                        f"videos/{camera}/from_timestamp": start_time, f"videos/{camera}/to_timestamp": shown / fps,
                        "stats/action/mean": [0.0]})
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    state_dim, action_dim = len(rows[0]["observation.state"]), len(rows[0]["action"])
    schema = pa.schema([("observation.state", pa.list_(pa.float32(), state_dim)),
                        ("action", pa.list_(pa.float32(), action_dim)), ("timestamp", pa.float32()),
                        ("frame_index", pa.int64()), ("episode_index", pa.int64()), ("index", pa.int64()),
                        ("task_index", pa.int64())])
    first = [r for r in rows if r["episode_index"] == 0]
    rest = [r for r in rows if r["episode_index"] != 0]
    pq.write_table(pa.Table.from_pylist(first, schema), os.path.join(root, "data", "chunk-000", "file-000.parquet"))
    pq.write_table(pa.Table.from_pylist(rest, schema), os.path.join(root, "data", "chunk-000", "file-001.parquet"))
    half = max(1, len(entries) // 2)
    pq.write_table(pa.Table.from_pylist(entries[:half]),
                   os.path.join(root, "meta", "episodes", "chunk-000", "file-000.parquet"))
    pq.write_table(pa.Table.from_pylist(entries[half:]),
                   os.path.join(root, "meta", "episodes", "chunk-000", "file-001.parquet"))
    features = {camera: {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"]},
                "observation.state": {"dtype": "float32", "shape": [state_dim], "names": None},
                "action": {"dtype": "float32", "shape": [action_dim], "names": ["linear_x", "angular_z"][:action_dim]},
                "timestamp": {"dtype": "float32", "shape": [1], "names": None},
                "frame_index": {"dtype": "int64", "shape": [1], "names": None},
                "episode_index": {"dtype": "int64", "shape": [1], "names": None},
                "index": {"dtype": "int64", "shape": [1], "names": None},
                "task_index": {"dtype": "int64", "shape": [1], "names": None}}
    info = {"codebase_version": version, "robot_type": "test", "total_episodes": len(entries),
            "total_frames": len(rows), "total_tasks": len(tasks), "chunks_size": 1000, "fps": fps,
            "splits": {"train": f"0:{len(entries)}"},
            "data_path": "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet",
            "video_path": "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4",
            "features": features}
    with open(os.path.join(root, "meta", "info.json"), "w") as handle:
        json.dump(info, handle, indent=4)
