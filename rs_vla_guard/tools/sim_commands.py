"""``rs-vla-guard sim`` (the MuJoCo arena or the arm world, guarded vs unguarded) and the arm world's
``scene --world arm`` frame."""
from __future__ import annotations

import importlib.util
import json
import os
import sys
import tempfile

from .. import settings as P
from ..attacks import ATTACKS, PGD_AIMS
from .arguments import _non_negative_float, _positive_float, _positive_int, guard_overrides, with_builtin_parameters
from .output import progress_bar
from .sources import UsageError

WORLDS = ("base", "arm")


def _need_mujoco() -> None:
    os.environ.setdefault("MUJOCO_GL", "egl")  # headless rendering on machines without a display
    if importlib.util.find_spec("mujoco") is None:  # fail early with a clear message
        raise UsageError("MuJoCo is not installed; pip install 'rs_vla_guard[sim]'")


def cmd_sim(args) -> int:
    _need_mujoco()
    from ..guard import Guard

    if args.strip:
        folder = os.path.dirname(os.path.abspath(args.strip))
        if not args.strip.lower().endswith((".gif", ".png")) or not os.path.isdir(folder):
            raise UsageError(f"--strip {args.strip}: must be a .gif or .png file in an existing directory")
    arm = args.world == "arm"
    bag_dir = args.record
    if args.record:
        if os.path.exists(args.record) and os.listdir(args.record):
            raise UsageError(f"--record {args.record}: not an empty directory")
        os.makedirs(args.record, exist_ok=True)
        if args.record_format == "lerobot":  # bags first, converted per condition at the end
            bag_dir = tempfile.mkdtemp(prefix=".bags-", dir=args.record)
    elif args.record_format != "rosbag2":
        raise UsageError("--record-format needs --record DIR")
    overrides = guard_overrides(args)
    if arm:
        overrides = with_builtin_parameters({"policy": "builtin-arm", **overrides})
    P.effective(overrides)
    guard = Guard.from_config(overrides)
    if arm and guard.chunk_rules is None:
        raise UsageError("--world arm needs a chunked policy (chunk_execute_steps > 0), e.g. --policy builtin-arm")
    first_seed = args.seed if args.seed is not None else 0  # --seed (a guard option) seeds the episodes too
    bar = progress_bar("sim", "episode", total=2 * args.episodes)

    def progress(line: str) -> None:  # per-episode lines with --verbose; else one bar on a terminal
        if getattr(args, "verbose", False):
            print(line, file=sys.stderr, flush=True)
        elif " episode " in line:
            bar.update(1)
    if arm:
        from ..sim import arm_episodes

        report = arm_episodes.run(guard, episodes=args.episodes, seed=first_seed, attack=args.attack, eps=args.eps,
                                  pgd_steps=args.pgd_steps, strip_path=args.strip, progress=progress,
                                  max_decisions=args.max_decisions, record_dir=bag_dir)
    else:
        from ..sim import episodes as simulate

        report = simulate.run(guard, episodes=args.episodes, seed=first_seed, attack=args.attack, eps=args.eps,
                              max_time_s=args.max_time, pgd_steps=args.pgd_steps, strip_path=args.strip,
                              recovery_after_s=args.recovery_after, pgd_aim=args.pgd_aim, record_dir=bag_dir,
                              progress=progress)
    bar.close()
    if args.record and args.record_format == "lerobot":
        report["datasets"] = _bags_to_datasets(bag_dir, args.record, arm, args.codec, progress)
    if args.json:
        print(json.dumps(report))
        return 0
    settings = report["settings"]
    print(f"{settings['episodes']} episode{'s' if settings['episodes'] != 1 else ''} from seed {settings['seed']}, "
          f"attack {settings['attack']} "
          f"eps {settings['eps']} (radius_threshold {settings['radius_threshold']})")
    keys = [k for k in report["guarded"] if k != "episodes"]
    print(f"{'':28} {'guarded':>10} {'unguarded':>10}")
    for key in keys:
        print(f"{key:28} {str(report['guarded'][key]):>10} {str(report['unguarded'][key]):>10}")
    return 0


def _bags_to_datasets(bag_dir: str, out: str, arm: bool, codec: str, progress) -> dict:
    """The recorded bags of each condition as one LeRobot dataset ``out/<guarded|unguarded>`` (an episode per
    seed); the bags are removed after."""
    import glob
    import shutil

    from ..replay.convert import BagTopics, bags_to_dataset

    if arm:
        from ..sim.arm_episodes import RECORDED_TOPICS as topics
        state, command = topics["joint_states"], topics["joint_trajectory"]
    else:
        from ..sim.episodes import RECORDED_TOPICS as topics
        state, command = topics["odom"], topics["cmd_vel"]
    written = {}
    for label in ("guarded", "unguarded"):
        bags = sorted(glob.glob(os.path.join(bag_dir, f"{label}_seed*")))
        target = os.path.join(out, label)
        bags_to_dataset(bags, target, BagTopics(image=topics["image"], instruction_topic=topics["instruction"],
                                                state=state, command=command,
                                                certificate=topics["certificate"] if label == "guarded" else None),
                        codec=codec, robot_type="rs_vla_guard_arm" if arm else "rs_vla_guard_base")
        written[label] = target
        progress(f"wrote {target} (LeRobot v3.0, {len(bags)} episodes)")
    shutil.rmtree(bag_dir)
    return written


def arm_scene(args) -> int:
    """One camera frame of a seeded arm-world table with a block of ``--target`` (none with ``--no-target``)."""
    _need_mujoco()
    import cv2
    import numpy as np

    from ..sim import arm

    if not cv2.haveImageWriter(args.output):
        raise UsageError(f"cannot write {args.output}: not an image file name (use .png or .jpg)")
    rng = np.random.default_rng(args.seed)
    blocks, target = arm.random_scene(rng, absent_fraction=1.0 if args.no_target else 0.0, target=args.target)
    world = arm.ArmWorld(args.image_width or 96, args.image_height or 96)
    try:
        world.reset(blocks, arm.HOME)
        image = world.frame()
    finally:
        world.close()
    if not cv2.imwrite(args.output, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise UsageError(f"could not write {args.output}")
    layout = ", ".join(f"{b.colour} at ({b.x:.2f}, {b.y:.2f}) m" for b in blocks)
    answer = "reach it" if world.target(target) else "hold (no such block)"
    print(f"wrote {args.output} ({world.width}x{world.height}); '{arm.instruction_for(target)}' -> {answer}; "
          f"blocks: {layout}; joint state {' '.join(f'{v:g}' for v in arm.HOME)}")
    return 0


def add_parser(sub, add_guard_options) -> None:
    sim = sub.add_parser("sim", help="seeded closed-loop episodes in the MuJoCo arena (base) or the arm world, "
                         "guarded vs unguarded")
    sim.add_argument("--world", choices=WORLDS, default="base",
                     help="base: the mobile robot's arena; arm: the 4-joint arm on a table (--policy builtin-arm)")
    sim.add_argument("--episodes", type=_positive_int, default=10)
    sim.add_argument("--attack", choices=ATTACKS, default="none")
    sim.add_argument("--eps", type=_non_negative_float, default=0.0, help="L2 budget in policy-input pixels")
    sim.add_argument("--max-time", dest="max_time", type=_positive_float, default=40.0,
                     help="base: sim seconds per episode")
    sim.add_argument("--max-decisions", dest="max_decisions", type=_positive_int, default=10,
                     help="arm: decisions (chunks) per episode")
    sim.add_argument("--pgd-steps", dest="pgd_steps", type=_positive_int, default=10)
    sim.add_argument("--pgd-aim", dest="pgd_aim", choices=PGD_AIMS, default="any",
                     help="base: PGD aims at any wrong motion (the nearest), at the most harmful one, or (yaw) at "
                     "the largest change of a continuous policy's executed yaw rate; the arm's PGD always aims at "
                     "its chunk")
    sim.add_argument("--recovery-after", dest="recovery_after", type=_non_negative_float, default=2.0,
                     help="base: sim seconds of consecutive stops before the robot's spin recovery (0 = never)")
    sim.add_argument("--json", action="store_true", help="print one JSON object (progress goes to stderr)")
    sim.add_argument("--record", default=None, metavar="DIR",
                     help="write every episode as a rosbag2 (MCAP) in DIR: camera, instruction, and command and "
                     "odometry (base) or joint states (arm); guarded, the certificates")
    sim.add_argument("--record-format", dest="record_format", choices=("rosbag2", "lerobot"), default="rosbag2",
                     help="lerobot: DIR/guarded and DIR/unguarded as LeRobot v3.0 datasets (an episode per seed: "
                     "camera video, observation.state, the executed command as action, the instruction as task, "
                     "guarded with the certificate as guard.* columns)")
    sim.add_argument("--codec", choices=("av1", "h264"), default="av1", help="--record-format lerobot: the video codec")
    sim.add_argument("--strip", default=None, metavar="FILE",
                     help="write the first guarded episode as FILE (.gif animated, .png a strip of 6 steps)")
    add_guard_options(sim)
    sim.set_defaults(func=cmd_sim)
