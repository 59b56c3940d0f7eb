"""``replay DATASET``: a LeRobot v3.0 dataset written by an independent writer replays with the right decisions
per episode, instructions and frames; workers agree with a serial run; a broken episode is stops, not the end."""
import json
import os

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rs_vla_guard.replay.datasets import DatasetOptions, replay_datasets
from rs_vla_guard.tasks import blocks
from rs_vla_guard.tools.cli import main

from lerobot_fixtures import write_independent_dataset

pytestmark = pytest.mark.model
# (task, block colour, x of the block): the built-in policy turns left, goes forward, turns right
EPISODES = (("go to the red block", "red", 0.15, "turn_left", 7),
            ("go to the blue block", "blue", 0.85, "turn_right", 9),
            ("go to the green block", "green", 0.5, "move_forward", 6))
COMPARED = ("episode_index", "frame_index", "instruction", "action", "certified", "reason", "radius", "n_samples")


def scene(colour, x, frame):
    return blocks.render(blocks.Scene([blocks.Block(colour, x, 0.2 + 0.01 * frame)]))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("lerobot") / "blocks")
    write_independent_dataset(root, [(task, [scene(colour, x, f) for f in range(n)], [[0.0]] * n,
                                      [[0.3, 0.0]] * n) for task, colour, x, _, n in EPISODES])
    return root


def decisions(root, **options):
    workers = options.pop("workers", 1)
    return replay_datasets([root], {}, DatasetOptions(**options), workers=workers)["decisions"]


def test_every_episode_replays_with_its_frames_and_its_task(dataset):
    records = decisions(dataset)
    for index, (task, _, _, expected, length) in enumerate(EPISODES):
        own = [r for r in records if r["episode_index"] == index]
        assert [r["frame_index"] for r in own] == list(range(length))
        assert {r["instruction"] for r in own} == {task}
        certified = [r["action"] for r in own if r["certified"]]
        assert len(certified) >= length - 1 and set(certified) == {expected}, [(r["action"], r["reason"]) for r in own]
    # the recorded action (forward at 0.3 m/s) agrees where the guard said move_forward
    agreeing = [r for r in records if r["recorded"] and r["certified"] and r["recorded"]["label"] == r["action"]]
    assert {r["episode_index"] for r in agreeing} == {2}


def test_a_frame_from_the_wrong_episode_offset_changes_the_decisions(dataset, tmp_path):
    import shutil

    wrong = str(tmp_path / "wrong")
    shutil.copytree(dataset, wrong)
    path = os.path.join(wrong, "meta", "episodes", "chunk-000", "file-001.parquet")
    entries = pq.read_table(path).to_pylist()
    entries[0]["videos/observation.images.top/from_timestamp"] = 0.0  # episode 1 pointed at episode 0's frames
    pq.write_table(pa.Table.from_pylist(entries), path)
    right, shifted = decisions(dataset, episodes=[1]), decisions(wrong, episodes=[1])
    assert sum(r["action"] == "turn_right" and r["certified"] for r in right) >= 8
    # its first 7 frames are now episode 0's (the red block on the left; asked for the blue one): no certified
    # right turn there; the last two are the file's next frames, episode 1's first two
    assert not any(r["action"] == "turn_right" and r["certified"] for r in shifted[:7])
    assert [(r["action"], r["certified"]) for r in shifted[7:]] == [(r["action"], r["certified"]) for r in right[:2]]


def test_worker_processes_decide_exactly_as_a_serial_run(dataset):
    serial = decisions(dataset, episodes=[0, 2])
    parallel = decisions(dataset, episodes=[0, 2], workers=2)
    assert [[r[k] for k in COMPARED] for r in parallel] == [[r[k] for k in COMPARED] for r in serial]


def test_a_broken_episode_is_stopped_frame_by_frame_and_the_replay_goes_on(dataset, tmp_path):
    import shutil

    broken = str(tmp_path / "broken")
    shutil.copytree(dataset, broken)
    path = os.path.join(broken, "meta", "episodes", "chunk-000", "file-000.parquet")
    entries = pq.read_table(path).to_pylist()
    entries[0]["length"] += 2  # episode 0 claims two rows its data file does not have
    entries[0]["dataset_to_index"] += 2
    pq.write_table(pa.Table.from_pylist(entries), path)
    records = decisions(broken, episodes=[0, 2])
    first = [r for r in records if r["episode_index"] == 0]
    assert len(first) == EPISODES[0][4] + 2 and {r["reason"] for r in first} == {"invalid_image"}
    assert not any(r["certified"] for r in first)
    assert any(r["certified"] for r in records if r["episode_index"] == 2)


def test_the_cli_reports_per_episode_and_refuses_bad_datasets_in_one_line(dataset, tmp_path, capsys):
    report = str(tmp_path / "report")
    assert main(["replay", dataset, "--episodes", "0,2", "--report", report, "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    rows = printed["summary"]["per_episode"]
    assert [(r["episode_index"], r["decisions"], r["instruction"]) for r in rows] == \
           [(0, 7, EPISODES[0][0]), (2, 6, EPISODES[2][0])]
    assert printed["throughput"]["decisions_per_second"] > 0
    saved = json.load(open(os.path.join(report, "report.json")))
    assert {"episode_index", "frame_index", "instruction"} <= set(saved["decisions"][0])
    assert len(saved["summary"]["per_bag"]["blocks"]["certified_accuracy_curve"]) == 21
    info = os.path.join(dataset, "meta", "info.json")
    old = str(tmp_path / "old")
    os.makedirs(os.path.join(old, "meta"))
    with open(info) as source, open(os.path.join(old, "meta", "info.json"), "w") as target:
        target.write(source.read().replace('"v3.0"', '"v2.1"'))
    capsys.readouterr()
    assert main(["replay", old]) == 2
    error = capsys.readouterr().err.strip()
    assert "\n" not in error and "v2.1" in error
    assert main(["replay", dataset, "--episodes", "7"]) == 2
    assert "no episode 7" in capsys.readouterr().err
