"""The LeRobot v3.0 reader against an independent writer (lerobot_fixtures), the project's writer against the
reader, and one-line refusals of datasets that cannot be read."""
import json
import os

import numpy as np
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings, strategies as st

from rs_vla_guard.frames import InvalidImage
from rs_vla_guard.replay.datasets import parse_episodes
from rs_vla_guard.replay.lerobot import DatasetError, LeRobotDataset, decode_video
from rs_vla_guard.replay.lerobot_writer import DatasetWriter

from lerobot_fixtures import identify, marker_frame, write_independent_dataset

LENGTHS = (7, 9, 6)
TASKS = ("pick up the cube", "open the drawer", "pick up the cube")


def independent(root, lengths=LENGTHS, **kwargs):
    episodes = [(TASKS[e], [marker_frame(e, f) for f in range(n)], [[e, f, 0.5] for f in range(n)],
                 [[0.1 * e, -0.1 * f] for f in range(n)]) for e, n in enumerate(lengths)]
    write_independent_dataset(str(root), episodes, **kwargs)
    return str(root)


def test_an_independently_written_dataset_reads_with_its_tasks_rows_and_frames(tmp_path):
    dataset = LeRobotDataset(independent(tmp_path / "ds"))
    assert dataset.fps == 10 and dataset.cameras == ["observation.images.top"]
    # tasks by the task_index column: the rows are stored in another order
    assert dataset.tasks == {0: "pick up the cube", 1: "open the drawer"}
    assert [e.length for e in dataset.episodes.values()] == list(LENGTHS)  # from two metadata files
    for index, episode in dataset.episodes.items():
        frames = dataset.frames(episode)
        assert [dataset.tasks[int(t)] for t in frames.task_index] == [TASKS[index]] * episode.length
        assert frames.state[:, 1].tolist() == list(range(episode.length))  # its own rows, from its data file
        np.testing.assert_allclose(frames.action[:, 0], 0.1 * index, atol=1e-6)
        images = list(dataset.images(episode, "observation.images.top", frames, range(episode.length)))
        # three episodes back to back in one video file: each frame from its own episode's offset, exactly
        assert [identify(image, 3, max(LENGTHS)) for _, image in images] == \
               [(index, f) for f in range(episode.length)]


def test_frames_at_an_episode_offset_decode_exactly_in_a_multi_episode_file(tmp_path):
    dataset = LeRobotDataset(independent(tmp_path / "ds"))
    second = dataset.episodes[1]
    span = second.videos["observation.images.top"]
    assert span.from_timestamp == pytest.approx(LENGTHS[0] / 10)
    # a few frames out of order of need: one seek, then one pass
    picks = [0, 4, 8]
    times = [span.from_timestamp + f / 10 for f in picks]
    got = list(decode_video(span.path, times, dataset.fps))
    assert [identify(image, 3, max(LENGTHS)) for image in got] == [(1, f) for f in picks]


def test_the_project_writer_round_trips_with_independent_rollover_of_data_and_video(tmp_path):
    root = str(tmp_path / "written")
    writer = DatasetWriter(root, fps=5, state_names=["a", "b"], action_names=["linear_x", "angular_z"],
                           camera_shape=(64, 96), frames_per_file=12, extra={"guard.action": ("string", (1,))})
    for e, n in enumerate((5, 6, 4, 7)):
        writer.add_episode([marker_frame(e, f) for f in range(n)], [[e, f] for f in range(n)], [[0.0, 0.0]] * n,
                           ["task a", "task b"][e % 2], extra={"guard.action": [f"e{e}"] * n})
    writer.close()
    data_files = sorted(os.listdir(os.path.join(root, "data", "chunk-000")))
    video_files = sorted(os.listdir(os.path.join(root, "videos", "observation.images.camera", "chunk-000")))
    assert len(data_files) >= 2 and len(video_files) >= 2  # each rolled over on its own
    dataset = LeRobotDataset(root)
    assert dataset.info["total_frames"] == 22 and dataset.tasks == {0: "task a", 1: "task b"}
    for index, episode in dataset.episodes.items():
        frames = dataset.frames(episode, extra=["guard.action"])
        assert frames.columns["guard.action"] == [f"e{index}"] * episode.length
        images = dataset.images(episode, dataset.camera(None), frames, range(episode.length))
        assert [identify(image, 4, 7) for _, image in images] == [(index, f) for f in range(episode.length)]


def test_images_stored_in_the_parquet_are_lossless(tmp_path):
    root = str(tmp_path / "png")
    writer = DatasetWriter(root, fps=5, state_names=None, action_names=["x"], camera_shape=(31, 17),
                           camera_format="image")  # odd sizes: fine as PNG
    frames = [np.random.default_rng(f).integers(0, 255, (31, 17, 3), dtype=np.uint8) for f in range(3)]
    writer.add_episode(frames, None, [[0.0]] * 3, "look")
    writer.close()
    dataset = LeRobotDataset(root)
    episode = dataset.episodes[0]
    rows = dataset.frames(episode)
    assert rows.state is None and dataset.features[dataset.camera(None)]["dtype"] == "image"
    got = [image for _, image in dataset.images(episode, dataset.camera(None), rows, range(3))]
    assert all(np.array_equal(a, b) for a, b in zip(got, frames))


# ---------------------------------------------------------------- refusals, one line each

def one_line(error) -> str:
    text = str(error)
    assert "\n" not in text and text
    return text


def test_missing_meta_and_older_versions_are_refused_in_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError) as caught:
        LeRobotDataset(str(tmp_path / "empty"))
    assert "meta/info.json" in one_line(caught.value)
    old = independent(tmp_path / "old", version="v2.1")
    with pytest.raises(DatasetError) as caught:
        LeRobotDataset(old)
    assert "v2.1" in one_line(caught.value) and "v3.0" in str(caught.value)
    broken = independent(tmp_path / "broken")
    with open(os.path.join(broken, "meta", "info.json"), "w") as handle:
        handle.write("[" * 100_000)
    with pytest.raises(DatasetError) as caught:
        LeRobotDataset(broken)
    one_line(caught.value)


def test_a_video_shorter_than_its_episodes_gives_invalid_frames_for_what_it_lacks(tmp_path):
    root = independent(tmp_path / "short")
    path = os.path.join(root, "meta", "episodes", "chunk-000", "file-001.parquet")
    table = pq.read_table(path).to_pylist()
    table[-1]["videos/observation.images.top/from_timestamp"] += 0.3  # the last episode runs 3 frames past the end
    import pyarrow as pa
    pq.write_table(pa.Table.from_pylist(table), path)
    dataset = LeRobotDataset(root)
    last = dataset.episodes[2]
    images = [image for _, image in dataset.images(last, "observation.images.top", dataset.frames(last),
                                                  range(last.length))]
    assert [isinstance(i, InvalidImage) for i in images] == [False] * (last.length - 3) + [True] * 3
    assert "ends before" in str(images[-1])


def test_rows_that_do_not_match_the_episode_length_are_refused(tmp_path):
    root = independent(tmp_path / "lengths")
    path = os.path.join(root, "meta", "episodes", "chunk-000", "file-000.parquet")
    table = pq.read_table(path).to_pylist()
    table[0]["length"] += 1
    table[0]["dataset_to_index"] += 1
    import pyarrow as pa
    pq.write_table(pa.Table.from_pylist(table), path)
    dataset = LeRobotDataset(root)
    with pytest.raises(DatasetError) as caught:
        dataset.frames(dataset.episodes[0])
    assert "rows" in one_line(caught.value) and "length" in str(caught.value)


def test_a_path_template_cannot_leave_the_dataset(tmp_path):
    root = independent(tmp_path / "escape")
    info_path = os.path.join(root, "meta", "info.json")
    with open(info_path) as handle:
        info = json.load(handle)
    info["data_path"] = "../../etc/{chunk_index}{file_index}"
    with open(info_path, "w") as handle:
        json.dump(info, handle)
    with pytest.raises(DatasetError, match="outside the dataset"):
        LeRobotDataset(root)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 50), st.integers(0, 5)), min_size=1, max_size=6))
def test_episode_selections_parse_to_the_union_of_their_ranges(parts):
    text = ",".join(f"{a}-{a + d}" if d else f"{a}" for a, d in parts)
    expected = sorted({e for a, d in parts for e in range(a, a + d + 1)})
    assert parse_episodes(text) == expected


@pytest.mark.parametrize("text", ["", "a", "3-1", "-2", "1,,2", "0-99999999"])
def test_bad_episode_selections_are_one_line_errors(text):
    with pytest.raises(ValueError) as caught:
        parse_episodes(text)
    one_line(caught.value)


def test_convert_and_replay_refuse_bad_requests_with_one_line_and_a_non_zero_exit(tmp_path, capsys):
    from rs_vla_guard.tools.cli import main

    dataset = independent(tmp_path / "ds")
    cases = [
        (["convert", dataset, str(tmp_path / "out")], "--to rosbag2"),  # a dataset given as a bag
        (["convert", str(tmp_path / "missing"), str(tmp_path / "out")], "not found"),
        (["convert", dataset, str(tmp_path / "ds")], "exists"),
        (["convert", dataset, str(tmp_path / "bags"), "--to", "rosbag2", "--image-key", "nope"], "no camera 'nope'"),
        (["replay", dataset, "--image-topic", "/camera/image"], "read by feature"),
        (["replay", dataset, "--episodes", "2-1"], "not a range"),
    ]
    for argv, expected in cases:
        assert main(argv) == 2, argv
        error = capsys.readouterr().err.strip()
        assert "\n" not in error and expected in error, (argv, error)
