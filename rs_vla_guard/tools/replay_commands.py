"""``rs-vla-guard replay`` and ``rs-vla-guard fleet``: recorded bags under a configuration, a fleet's limits,
and two fleet configurations side by side."""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys

from .. import settings as P
from .arguments import _positive_float, _positive_int, add_guard_options, guard_overrides
from .output import progress_bar
from .sources import UsageError, fleet_robot, params_or_fleet


def cmd_fleet(args) -> int:
    from .. import fleet

    document = fleet.load(args.file)
    if args.fleet_command == "check":
        report = fleet.check(document)
        bad = {robot: problems for robot, problems in report.items() if problems}
        for robot, problems in report.items():
            print(f"{robot}: {'ok' if not problems else f'{len(problems)} violation(s)'}")
            for problem in problems:
                print(f"  {robot}: {problem}")
        if bad:
            print(f"rs-vla-guard fleet check: {len(bad)} of {len(report)} robots violate the fleet configuration",
                  file=sys.stderr)
            return 1
        return 0
    text = fleet.render(document, args.robot, source=args.file)
    if args.output:
        with open(args.output, "w") as handle:
            handle.write(text)
        print(f"wrote {args.output}")
    else:
        sys.stdout.write(text)
    return 0


# ---------------------------------------------------------------- replay

def _replay_options(args):
    from ..replay.engine import ReplayOptions

    if args.every is not None and args.rate is not None:
        raise UsageError("give --every or --rate, not both")
    if not args.image_topic:
        raise UsageError("replaying a bag needs --image-topic (a LeRobot dataset folder needs none)")
    if (args.instruction is None) == (args.instruction_topic is None):
        raise UsageError("replaying a bag needs --instruction or --instruction-topic")
    if args.image_key or args.episodes:
        raise UsageError("--image-key and --episodes are for LeRobot datasets; give bag topics instead")
    return ReplayOptions(image_topic=args.image_topic, instruction=args.instruction,
                         instruction_topic=args.instruction_topic, state_topic=args.state_topic,
                         cmd_topic=args.cmd_topic, every=args.every or 1, rate_hz=args.rate)


@contextlib.contextmanager
def _progress(label: str):
    """A progress bar on stderr (decisions, rate, ETA): yields ``progress(done, total)``."""
    bar = progress_bar(label, "decision", total=0)

    def progress(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)
    try:
        yield progress
    finally:
        bar.close()


def _run_replay(bags, overrides, options, args, label: str = ""):
    """Replay bags with a progress bar."""
    from ..replay import engine
    from ..replay.bags import BagError

    for bag in bags:
        if not os.path.exists(bag):
            raise UsageError(f"bag not found: {bag}")
    with _progress(label or "replay") as progress:
        try:
            return engine.replay(bags, overrides, options, workers=args.workers, ray_address=args.ray,
                                 progress=progress)
        except BagError as error:
            raise UsageError(str(error)) from error


def recorded_settings(paths, datasets: bool) -> dict:
    """The guard settings the recordings were made with (``sim --record`` stores them), when every one of
    ``paths`` carries the same; {} otherwise. Applied under ``--params`` and flags, so that replaying a recorded
    episode reproduces its certificates without extra flags."""
    from ..replay.bags import recorded_settings as of_bag
    from ..replay.datasets import SOURCE_KEY
    from ..replay.lerobot import DatasetError, LeRobotDataset

    found = []
    for path in paths:
        if datasets:
            try:
                found.append((LeRobotDataset(path).info.get(SOURCE_KEY) or {}).get("settings"))
            except DatasetError:
                found.append(None)
        else:
            found.append(of_bag(path))
    first = found[0]
    return dict(first) if isinstance(first, dict) and all(f == first for f in found) else {}


def _dataset_paths(paths) -> bool:
    """Whether ``paths`` are LeRobot datasets (all of them) rather than bags (none of them)."""
    from ..replay.lerobot import is_dataset

    kinds = {is_dataset(p) for p in paths}
    if len(kinds) > 1:
        raise UsageError("give bags or LeRobot datasets, not both in one replay")
    return kinds.pop()


def _run_dataset_replay(paths, overrides, args, label: str = ""):
    from ..replay.datasets import DatasetOptions, parse_episodes, replay_datasets
    from ..replay.lerobot import DatasetError

    if args.image_topic or args.instruction_topic or args.state_topic or args.cmd_topic or args.rate:
        raise UsageError("a LeRobot dataset is read by feature, not topic: use --image-key (and --instruction to "
                         "override the task); no --image-topic, --instruction-topic, --state-topic, --cmd-topic "
                         "or --rate")
    try:
        episodes = parse_episodes(args.episodes) if args.episodes else None
    except ValueError as error:
        raise UsageError(str(error)) from None
    options = DatasetOptions(image_key=args.image_key, instruction=args.instruction, episodes=episodes,
                             every=args.every or 1)
    with _progress(label or "replay") as progress:
        try:
            return replay_datasets(paths, overrides, options, workers=args.workers, ray_address=args.ray,
                                   progress=progress)
        except DatasetError as error:
            raise UsageError(str(error)) from None


def cmd_replay(args) -> int:
    from ..replay import report

    datasets = _dataset_paths(args.bags)
    if args.out and datasets:
        raise UsageError("--out annotates a bag; a dataset replay writes --report")
    if args.out and len(args.bags) != 1:
        raise UsageError("--out annotates one bag; give exactly one")
    if args.out and os.path.exists(args.out):
        raise UsageError(f"--out {args.out} exists")
    recorded = {} if args.ignore_recorded_settings else recorded_settings(args.bags, datasets)
    overrides = {**recorded, **params_or_fleet(args.params, args.fleet, args.robot), **guard_overrides(args)}
    params = P.effective(overrides)
    if datasets:
        result = _run_dataset_replay(args.bags, overrides, args)
    else:
        result = _run_replay(args.bags, overrides, _replay_options(args), args)
    summary = report.write_report(result, params, args.report) if args.report else report.summarise(result, params)
    if args.out:
        report.write_annotated(args.bags[0], result["decisions"], args.out)
    if args.json:
        print(json.dumps({"settings": result["settings"], "recorded_settings": recorded, "wall_s": result["wall_s"],
                          "throughput": result.get("throughput"), "summary": summary}))
        return 0
    if recorded:
        print(f"settings recorded with the {'dataset' if datasets else 'bag'}(s) applied: seed {recorded.get('seed')}"
              f"{f' and {len(recorded) - 1} more' if len(recorded) > 1 else ''} (--ignore-recorded-settings: not)")
    kind = "dataset(s)" if datasets else "bag(s)"
    print(f"{summary['decisions']} decisions on {len(args.bags)} {kind} in {result['wall_s']:.1f} s: "
          f"certified {summary['certified_share']:.1%}, stop rate {summary['stop_rate']:.1%}")
    speed = result.get("throughput") or {}
    if speed:
        print(f"  {speed['decisions_per_second']} decisions/s, {speed['decisions_per_second_per_worker']} per worker "
              f"({speed['workers']}), scaling efficiency {speed['scaling_efficiency']}")
    for reason, count in summary["stops_by_reason"].items():
        print(f"  stop {reason:24} {count}")
    if "agreement" in summary:
        print(f"  agreement with the recorded command when certified: {summary['agreement']['agreement_when_certified']}")
    if "per_episode" in summary:
        print(f"  {'dataset':20} {'episode':>7} {'decisions':>9} {'certified':>9} {'agreement':>9}  stops")
        for row in summary["per_episode"]:
            stops = ", ".join(f"{k} {v}" for k, v in row["stops_by_reason"].items()) or "-"
            agreement = "-" if row["agreement_when_certified"] is None else f"{row['agreement_when_certified']:.1%}"
            print(f"  {row['dataset'][:20]:20} {row['episode_index']:>7} {row['decisions']:>9} "
                  f"{row['certified_share']:>9.1%} {agreement:>9}  {stops}")
    for written in filter(None, (args.report, args.out)):
        print(f"wrote {written}")
    return 0


def cmd_fleet_replay(args) -> int:
    from ..replay import report

    datasets = _dataset_paths(args.bags)
    recorded = {} if args.ignore_recorded_settings else recorded_settings(args.bags, datasets)
    base, other = ({**recorded, **fleet_robot(path, args.robot), **guard_overrides(args)}
                   for path in (args.file, args.compare))
    base_params, other_params = P.effective(base), P.effective(other)
    if datasets:
        first = _run_dataset_replay(args.bags, base, args, label=os.path.basename(args.file))
        second = _run_dataset_replay(args.bags, other, args, label=os.path.basename(args.compare))
    else:
        options = _replay_options(args)
        first = _run_replay(args.bags, base, options, args, label=os.path.basename(args.file))
        second = _run_replay(args.bags, other, options, args, label=os.path.basename(args.compare))
    comparison = report.compare(first, second, base_params, other_params)
    if args.json:
        print(json.dumps(comparison))
        return 0
    side = comparison["side_by_side"]
    print(f"robot {args.robot}: {args.file} (base) against {args.compare} (other)")
    print(f"{'':26} {'base':>12} {'other':>12}")
    for key in ("decisions", "certified_share", "stop_rate", "agreement_when_certified"):
        if key in side:
            print(f"{key:26} {str(side[key]['base']):>12} {str(side[key]['other']):>12}")
    for reason in sorted(set(side["stops_by_reason"]["base"]) | set(side["stops_by_reason"]["other"])):
        print(f"  stop {reason:21} {side['stops_by_reason']['base'].get(reason, 0):>12} "
              f"{side['stops_by_reason']['other'].get(reason, 0):>12}")
    for change, count in comparison["changed"].items():
        print(f"  changed {change}: {count}")
    return 0


def add_replay_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("bags", nargs="+", metavar="BAG_OR_DATASET",
                        help="rosbag2 directories or .mcap/.db3 files, or LeRobot v3.0 dataset folders")
    parser.add_argument("--image-topic", help="bags: the sensor_msgs/Image or CompressedImage topic")
    parser.add_argument("--image-key", help="datasets: the camera feature (default: the first video or image one)")
    parser.add_argument("--episodes", help="datasets: episodes to replay, e.g. 0,3-5 (default: all)")
    instruction = parser.add_mutually_exclusive_group()
    instruction.add_argument("--instruction", help="one instruction for every frame (datasets: instead of each "
                                                   "episode's task)")
    instruction.add_argument("--instruction-topic", help="std_msgs/String topic: the latest one at each decision")
    parser.add_argument("--state-topic", help="sensor_msgs/JointState or std_msgs/Float32MultiArray (policies that take state)")
    parser.add_argument("--cmd-topic", help="the recorded command (Twist or TwistStamped): agreement with the guard")
    parser.add_argument("--every", type=_positive_int, default=None, help="decide on every N-th frame (default 1)")
    parser.add_argument("--rate", type=_positive_float, default=None, help="decide at HZ on the latest frame instead")
    parser.add_argument("--workers", type=_positive_int, default=1, help="local worker processes")
    parser.add_argument("--ray", default=None, metavar="ADDRESS", help="'local' or a Ray cluster address")
    parser.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    parser.add_argument("--ignore-recorded-settings", action="store_true",
                        help="do not apply the seed and settings a sim recording stores (applied by default, under "
                        "--params and flags)")
    add_guard_options(parser)


# ---------------------------------------------------------------- convert

def cmd_convert(args) -> int:
    """rosbag2 recordings -> one LeRobot v3.0 dataset (an episode per bag), or (--to rosbag2) the reverse."""
    from ..replay.bags import BagError
    from ..replay.convert import BagTopics, bags_to_dataset, dataset_to_bags
    from ..replay.lerobot import DatasetError, is_dataset

    *sources, out = args.paths
    if not sources:
        raise UsageError("give the input(s) and then the output directory")
    if os.path.exists(out) and (args.to == "lerobot" or os.listdir(out)):
        raise UsageError(f"output {out} exists" + ("" if args.to == "lerobot" else " and is not empty"))
    for source in sources:
        if not os.path.exists(source):
            raise UsageError(f"not found: {source}")
    try:
        if args.to == "rosbag2":
            if len(sources) != 1 or not is_dataset(sources[0]):
                raise UsageError("--to rosbag2 converts one LeRobot dataset folder: convert DATASET OUT_DIR --to rosbag2")
            written = dataset_to_bags(sources[0], out, image_key=args.image_key)
            print(f"wrote {len(written)} bag(s) in {out} (one per episode; camera on /camera/image)")
            return 0
        if any(is_dataset(s) for s in sources):
            raise UsageError("the inputs are LeRobot datasets: add --to rosbag2")
        if not args.image_topic:
            raise UsageError("convert BAG... DATASET_DIR needs --image-topic")
        if (args.instruction is None) == (args.instruction_topic is None):
            raise UsageError("convert BAG... DATASET_DIR needs --instruction or --instruction-topic")
        info = bags_to_dataset(sources, out, BagTopics(args.image_topic, args.instruction, args.instruction_topic,
                                                       args.state_topic, args.cmd_topic, args.certificate_topic),
                               fps=args.fps, camera_format=args.camera_format, codec=args.codec)
    except (BagError, DatasetError) as error:
        raise UsageError(str(error)) from None
    print(f"wrote {out}: LeRobot {info['codebase_version']}, {info['total_episodes']} episode(s), "
          f"{info['total_frames']} frames at {info['fps']} fps")
    return 0


def add_convert_parser(sub) -> None:
    convert = sub.add_parser("convert", help="rosbag2 recordings to a LeRobot v3.0 dataset (an episode per bag), "
                             "or --to rosbag2 the reverse")
    convert.add_argument("paths", nargs="+", metavar="PATH", help="BAG [BAG ...] DATASET_DIR, or DATASET OUT_DIR "
                         "with --to rosbag2")
    convert.add_argument("--to", choices=("lerobot", "rosbag2"), default="lerobot")
    convert.add_argument("--image-topic", help="sensor_msgs/Image or CompressedImage topic")
    instruction = convert.add_mutually_exclusive_group()
    instruction.add_argument("--instruction", help="one task text for every frame")
    instruction.add_argument("--instruction-topic", help="std_msgs/String topic: the latest one is each frame's task")
    convert.add_argument("--state-topic", help="JointState, Float32MultiArray or Odometry: observation.state")
    convert.add_argument("--cmd-topic", help="Twist, TwistStamped or JointTrajectory: action (the command in force)")
    convert.add_argument("--certificate-topic", help="the guard's certificates (DiagnosticStatus): guard.* columns")
    convert.add_argument("--fps", type=_positive_int, help="frames per second (default: the camera's rate)")
    convert.add_argument("--camera-format", choices=("video", "image"), default="video",
                         help="video: mp4 (lossy, what LeRobot trains on); image: PNG in the parquet (lossless)")
    convert.add_argument("--codec", choices=("av1", "h264"), default="av1")
    convert.add_argument("--image-key", help="--to rosbag2: the camera feature (default: the first)")
    convert.set_defaults(func=cmd_convert)
