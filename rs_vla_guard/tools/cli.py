"""The ``rs-vla-guard`` command: demo, certify, extent, semantic, oracle-eval, plan, scene, bench, budget, sim, fleet,
replay.

Every failure the user can cause (bad arguments, unreadable image, invalid parameters, missing model)
exits non-zero with a one-line message saying what was wrong. The guard's parameters are flags of every
command that builds a guard, generated from the parameter schema (:mod:`rs_vla_guard.params`).
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from typing import List, Optional

from .. import settings as P
from ..certification.extent import TRANSFORMS

from .arguments import (_alpha, _list_of, _positive_float, _positive_int, _probability, add_guard_options,
                        guard_overrides, read_image)
from .output import quiet_libraries
from .replay_commands import add_convert_parser, add_replay_options, cmd_fleet, cmd_fleet_replay, cmd_replay
from .sources import UsageError


# ---------------------------------------------------------------- commands


def cmd_certify(args) -> int:
    from ..guard import Guard
    from .tables import decision_row, format_table

    overrides = guard_overrides(args)
    P.effective(overrides)  # bad settings are reported before any file or model is touched
    frames = [read_image(path) for path in [args.image] + list(args.camera or [])]
    guard = Guard.from_config(overrides)
    decision = guard.decide(frames if len(frames) > 1 else frames[0], args.instruction, state=args.state)
    if args.json:
        print(json.dumps(decision.to_dict()))
    else:
        print(format_table([decision_row("", args.instruction, None, decision)]))
        for envelope in decision.envelopes:
            limit = "" if envelope["limit"] == float("inf") else f", limit {envelope['limit']:g}"
            print(f"envelope {envelope['name']}: [{envelope['low']:.4g}, {envelope['high']:.4g}] at radius "
                  f"{envelope['radius']:g} (median {envelope['median']:.4g}, width {envelope['width']:.4g}{limit})")
        if decision.chunk and decision.chunk.get("tube"):
            tube = decision.chunk["tube"]
            widest = {name: max((high - low) if low is not None and high is not None else float("inf")
                                for low, high in (step[index] for step in tube))
                      for index, name in enumerate(decision.chunk["joint_names"])}
            print(f"chunk: {len(decision.chunk['waypoints'])} waypoint(s) every {decision.chunk['dt_s']:g} s; widest "
                  "tube " + ", ".join(f"{name} {width:.3g}" for name, width in widest.items()))
        if decision.error:
            print(f"error: {decision.error}")
    return 0


def cmd_extent(args) -> int:
    from ..guard import Guard
    from . import extent

    overrides = guard_overrides(args)
    P.effective(overrides)
    if args.plot and not os.path.isdir(os.path.dirname(os.path.abspath(args.plot))):
        raise UsageError(f"--plot: directory of {args.plot} does not exist")
    frame = read_image(args.image)
    guard = Guard.from_config(overrides)
    record = extent.run(guard, frame, args.instruction, args.transform, samples=args.samples, plot_path=args.plot,
                        sweep_samples=args.sweep_samples)
    print(json.dumps(record) if args.json else extent.format_record(record))
    return 0


def cmd_semantic(args) -> int:
    import torch

    from ..guard import Guard
    from ..policies.dual_encoder import semantic_certificate

    overrides = guard_overrides(args)
    overrides.setdefault("policy", "builtin-clip")
    P.effective(overrides)
    frame = read_image(args.image)
    guard = Guard.from_config(overrides)
    pixels = torch.from_numpy(guard._input(frame))
    result = semantic_certificate(guard.policy, pixels, args.instruction.strip(), guard.phrases, args.source,
                                  args.target)[0]
    record = {"source": args.source, "target": args.target, **result.as_record(guard.actions)}
    if args.json:
        print(json.dumps(record))
        return 0
    low, high = record["interval_fraction_of_target"]
    print(f"{record['predicted']} for every change from {args.source!r} towards {args.target!r} of extent in "
          f"[{low:.3f}, {high:.3f}] of the whole change ([{result.low:.4f}, {result.high:.4f}] rad; the target "
          f"is at {result.phi_target:.4f} rad); limited by {record['limited_by'][0]} and {record['limited_by'][1]}")
    return 0


def cmd_oracle_eval(args) -> int:
    from ..oracles import make_oracle
    from ..oracles.semantic import evaluate, read_answers

    params = P.effective(guard_overrides(args))
    rows = read_answers(args.answers)
    oracle = make_oracle("generate", params)
    result = evaluate(oracle, rows, params["alpha"])
    result["oracle"] = params["oracle"]
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"{params['oracle']} oracle on {result['answers']} labelled answers: {result['wrong']} mapped to a wrong "
          f"action ({result['wrong_rate']:.2%}); {result['unmapped_with_an_action']} with an action left unmapped "
          f"(coverage {result['coverage']:.1%})")
    for mistake in result["mistakes"]:
        print(f"  wrong: {mistake['answer']!r} -> {mistake['oracle']} (labelled {mistake['label']})")
    print(f"oracle_error: {result['oracle_error']:.4f}  (one-sided upper bound at alpha {params['alpha']:g}; holds "
          f"for answers drawn like these)")
    return 0


def _plan_envelope(args, what: str = "envelope") -> int:
    """Samples a target envelope (or chunk tube) width needs, for outputs of spread ``--output-std`` under the
    noise."""
    from ..certification import envelopes

    if args.output_std is None:
        flag = "--tube-width" if what.startswith("tube") else "--envelope-width"
        raise UsageError(f"{flag} needs --output-std (the output's standard deviation under the noise)")
    common = dict(radius=args.radius, sigma=args.sigma, alpha=args.alpha, output_std=args.output_std,
                  dimensions=args.dimensions)
    needed = envelopes.samples_for_envelope(args.envelope_width, n_limit=args.n_limit, **common)
    floor = envelopes.envelope_width_floor(radius=args.radius, sigma=args.sigma, output_std=args.output_std)
    sizes = [n for n in (30, 100, 300, 1000, 3000, 10_000, 100_000) if n <= args.n_limit]
    widths = {n: envelopes.expected_gaussian_width(n, **common) for n in sizes}
    # null where n samples cannot bound both sides of the envelope
    table = [{"n": n, "expected_width": round(w, 4) if w != float("inf") else None} for n, w in widths.items()]
    if args.json:
        print(json.dumps({"envelope_width": args.envelope_width, "what": what, **common, "samples_needed": needed,
                          "width_floor": floor, "table": table}))
        return 0
    print(f"radius={args.radius} sigma={args.sigma} alpha={args.alpha} output_std={args.output_std} "
          f"dimensions={args.dimensions}")
    if needed is None:
        print(f"samples_needed: none - width {args.envelope_width} is out of reach (floor output_std*2R/sigma = "
              f"{floor:.4f})")
    else:
        print(f"samples_needed for an expected {what} width <= {args.envelope_width}: {needed}")
    print(f"{'n':>8}  expected_width")
    for row in table:
        width = row["expected_width"]
        print(f"{row['n']:>8}  {width:.4f}" if width is not None else f"{row['n']:>8}  unbounded (too few samples)")
    return 0


def cmd_plan(args) -> int:
    from .. import certification as certify

    if args.tube_width is not None:  # a chunk tube: an envelope per executed coordinate, alpha split over them
        if args.envelope_width is not None:
            raise UsageError("give --envelope-width or --tube-width, not both")
        args.envelope_width, args.dimensions = args.tube_width, args.chunk_steps * args.joints
        return _plan_envelope(args, f"tube over {args.chunk_steps} steps x {args.joints} joints")
    if args.envelope_width is not None:
        return _plan_envelope(args)
    if args.p is None:
        raise UsageError("--p (the assumed probability of the action) is required, unless --envelope-width")
    common = dict(sigma=args.sigma, alpha=args.alpha, p_true=args.p, oracle_error=args.oracle_error)
    needed = certify.samples_needed(args.radius, **common)
    sizes = [n for n in (10, 30, 100, 300, 1000, 3000, 10_000, 100_000) if n <= args.n_limit]
    table = [{"n": n, "expected_radius": round(certify.expected_radius(n, **common), 4)} for n in sizes]
    ceiling = certify.radius_ceiling(sigma=args.sigma, p_true=args.p, oracle_error=args.oracle_error)
    if args.json:
        print(json.dumps({"radius": args.radius, **common, "samples_needed": needed,
                          "radius_ceiling": ceiling if ceiling != float("inf") else None,
                          "table": table}))
        return 0
    print(f"sigma={args.sigma} alpha={args.alpha} p_A={args.p} oracle_error={args.oracle_error}")
    if needed is None:
        print(f"samples_needed: none - radius {args.radius} is out of reach (ceiling sigma*Phi^-1(p_A - eps) = "
              f"{ceiling:.4f})")
    else:
        print(f"samples_needed for expected radius >= {args.radius}: {needed}")
    print(f"{'n':>8}  expected_radius")
    for row in table:
        print(f"{row['n']:>8}  {row['expected_radius']:.4f}")
    return 0


def cmd_scene(args) -> int:
    if args.world == "arm":
        from .sim_commands import arm_scene

        return arm_scene(args)
    import cv2

    from ..tasks import blocks as scenes

    args.image_width, args.image_height = args.image_width or 160, args.image_height or 120

    blocks = [scenes.Block(args.target, args.x, args.width)] if not args.no_target else []
    for spec in args.distractors or []:
        try:
            colour, x, width = spec.split(":")
            blocks.append(scenes.Block(colour, float(x), float(width)))
        except ValueError as error:
            raise UsageError(f"--distractors takes colour:x:width, got {spec!r} ({error})") from error
    scene = scenes.Scene(blocks, floor=args.floor)
    image = scenes.render(scene, args.image_width, args.image_height)
    if not cv2.haveImageWriter(args.output):
        raise UsageError(f"cannot write {args.output}: not an image file name (use .png or .jpg)")
    if not cv2.imwrite(args.output, cv2.cvtColor(image, cv2.COLOR_RGB2BGR)):
        raise UsageError(f"could not write {args.output}")
    truth = scenes.ground_truth_action(scene, args.target)
    print(f"wrote {args.output} ({args.image_width}x{args.image_height}); '{scenes.instruction_for(args.target)}' "
          f"-> {truth}")
    return 0


def cmd_demo(args) -> int:
    from . import demo

    overrides = guard_overrides(args)
    P.effective(overrides)
    try:
        return demo.table(overrides) if args.table else demo.ros_demo(overrides, args.domain_id)
    except demo.DemoError as error:
        raise UsageError(str(error)) from error


def cmd_bench(args) -> int:
    from . import bench

    overrides = guard_overrides(args)
    P.effective(overrides)
    if args.plot and not os.path.isdir(os.path.dirname(os.path.abspath(args.plot))):
        raise UsageError(f"--plot: directory of {args.plot} does not exist")  # before minutes of measuring
    result = bench.run(overrides, scene_count=args.scenes, repeats=args.repeats, plot_path=args.plot,
                       contention_loops=args.contention_loops)
    print(json.dumps(result) if args.json else bench.format_result(result))
    return 0


def cmd_budget(args) -> int:
    from . import budget

    return budget.run(args, guard_overrides)


# ---------------------------------------------------------------- entry point


def _image_command(sub, name: str, func, help_text: str, json_help: str = "print one JSON object"):
    """A command about one image under one instruction: IMAGE, --instruction and --json; the caller adds its
    own options and the guard's."""
    command = sub.add_parser(name, help=help_text)
    command.add_argument("image")
    command.add_argument("--instruction", required=True)
    command.add_argument("--json", action="store_true", help=json_help)
    command.set_defaults(func=func)
    return command


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="rs-vla-guard", description="Certified VLA actions by randomized smoothing.")
    parser.add_argument("--verbose", action="store_true", help="(anywhere on the line) show the libraries' progress "
                        "bars and warnings, and sim's per-episode lines; without it a successful command writes "
                        "nothing to stderr but a progress bar on a terminal")
    sub = parser.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="the guard node in the loop: camera, instruction, guard and monitor processes")
    demo.add_argument("--table", action="store_true", help="no ROS: certify a handful of scenes, print a table")
    demo.add_argument("--domain-id", dest="domain_id", type=int, default=57,
                      help="the demo's own ROS domain (the shell's ROS_DOMAIN_ID is never used)")
    add_guard_options(demo)
    demo.set_defaults(func=cmd_demo)

    cert = _image_command(sub, "certify", cmd_certify, "certify the policy's action on one image",
                          json_help="print the decision as one JSON object")
    cert.add_argument("--state", type=_list_of(float), metavar="V1,V2,...",
                      help="the robot state, for policies that take one (not noised: the radius is about the image)")
    cert.add_argument("--camera", action="append", metavar="IMAGE",
                      help="a further camera's image, for multi-camera policies (repeat, in the policy's order)")
    add_guard_options(cert)

    extent = _image_command(sub, "extent", cmd_extent, "the interval of a physical change (brightness, contrast, "
                            "blur, shift) over which the smoothed action stays the same, on one image")
    extent.add_argument("--transform", required=True, choices=tuple(TRANSFORMS))
    extent.add_argument("--samples", type=_positive_int, default=1000, help="transformed samples (default 1000); "
                        "the smoothing is the extent_smoothing parameter's, the bound's error alpha")
    extent.add_argument("--sweep-samples", dest="sweep_samples", type=_positive_int, default=128,
                        help="--plot: transformed samples per plotted point (default 128)")
    extent.add_argument("--plot", metavar="PNG", help="write the action shares against the parameter, the "
                        "certified interval shaded")
    add_guard_options(extent)

    semantic = _image_command(sub, "semantic", cmd_semantic, "dual encoders: the extent of a text-defined change "
                              "(source -> target prompt) over which the predicted action stays the same, in closed form")
    semantic.add_argument("--source", default="a photo in daylight", help="the prompt the change starts from")
    semantic.add_argument("--target", default="a photo at night", help="the prompt the change goes towards")
    add_guard_options(semantic)

    oracle_eval = sub.add_parser("oracle-eval", help="measure an oracle's error on labelled answers: the bound to "
                                 "use as oracle_error")
    oracle_eval.add_argument("answers", metavar="ANSWERS.jsonl",
                             help='JSON lines {"answer": TEXT, "action": ACTION or null}')
    oracle_eval.add_argument("--json", action="store_true", help="print one JSON object")
    add_guard_options(oracle_eval)
    oracle_eval.set_defaults(func=cmd_oracle_eval)

    plan = sub.add_parser("plan", help="samples needed for a target radius (sample planning)")
    plan.add_argument("--radius", type=_positive_float, required=True)
    plan.add_argument("--sigma", type=_positive_float, default=0.25)
    plan.add_argument("--alpha", type=_alpha, default=0.001, help="allowed probability of a false certificate, in "
                      "(0, 0.5)")
    plan.add_argument("--p", type=_probability, default=None, help="assumed true probability of the action")
    plan.add_argument("--envelope-width", dest="envelope_width", type=_positive_float, default=None,
                      help="plan the samples for a certified envelope this wide (continuous commands) instead")
    plan.add_argument("--output-std", dest="output_std", type=_positive_float, default=None,
                      help="the command's standard deviation under the noise (for --envelope-width)")
    plan.add_argument("--dimensions", type=_positive_int, default=1, help="dimensions sharing alpha")
    plan.add_argument("--tube-width", dest="tube_width", type=_positive_float, default=None,
                      help="plan the samples for a certified chunk tube this wide in every coordinate (with "
                      "--chunk-steps, --joints and --output-std)")
    plan.add_argument("--chunk-steps", dest="chunk_steps", type=_positive_int, default=5,
                      help="executed waypoints per chunk (chunk_execute_steps)")
    plan.add_argument("--joints", type=_positive_int, default=7, help="joints per waypoint")
    plan.add_argument("--oracle-error", dest="oracle_error", type=_probability, default=0.0)
    plan.add_argument("--n-limit", dest="n_limit", type=int, default=10_000_000)
    plan.add_argument("--json", action="store_true")
    plan.set_defaults(func=cmd_plan)

    scene = sub.add_parser("scene", help="render a 'go to the block' test frame (--world arm: 'reach the block')")
    scene.add_argument("--world", choices=("base", "arm"), default="base",
                       help="base: the built-in task's renderer; arm: a seeded arm-world table (MuJoCo)")
    scene.add_argument("--seed", type=int, default=0, help="arm: the table's layout")
    scene.add_argument("--target", default="red")
    scene.add_argument("--x", type=float, default=0.5, help="target centre, fraction of the width")
    scene.add_argument("--width", type=float, default=0.15, help="target width, fraction of the width")
    scene.add_argument("--no-target", action="store_true", help="leave the target block out")
    scene.add_argument("--distractors", nargs="*", help="more blocks as colour:x:width")
    scene.add_argument("--floor", choices=("plain", "textured"), default="plain")
    scene.add_argument("--image-width", type=int, default=None, help="default 160 (arm: 96)")
    scene.add_argument("--image-height", type=int, default=None, help="default 120 (arm: 96)")
    scene.add_argument("-o", "--output", required=True)
    scene.set_defaults(func=cmd_scene)
    bench = sub.add_parser("bench", help="speed of certified decisions, as ratios measured in one run")
    bench.add_argument("--scenes", type=int, default=20)
    bench.add_argument("--repeats", type=int, default=5, help="timings keep the best of this many runs")
    bench.add_argument("--json", action="store_true")
    bench.add_argument("--plot", help="write a PNG: latency histogram and expected vs measured radius")
    bench.add_argument("--contention-loops", type=int, default=0, metavar="N",
                       help="also measure contention_ratio: p50 latency beside N busy-loop processes over idle")
    add_guard_options(bench)
    bench.set_defaults(func=cmd_bench)

    from . import budget
    budget.add_parser(sub, add_guard_options, cmd_budget)

    from . import sim_commands
    sim_commands.add_parser(sub, add_guard_options)

    fleet = sub.add_parser("fleet", help="fleet safety configuration: check limits, render a robot's parameters")
    fleet_sub = fleet.add_subparsers(dest="fleet_command", required=True)
    fleet_check = fleet_sub.add_parser("check", help="validate every robot; exit 1 listing each violation")
    fleet_check.add_argument("file")
    fleet_render = fleet_sub.add_parser("render", help="write one robot's ROS parameter file")
    fleet_render.add_argument("file")
    fleet_render.add_argument("--robot", required=True)
    fleet_render.add_argument("-o", "--output", help="output file (default: standard output)")
    fleet_replay = fleet_sub.add_parser("replay", help="the same recorded frames under two fleet configurations")
    fleet_replay.add_argument("file")
    fleet_replay.add_argument("--robot", required=True)
    fleet_replay.add_argument("--compare", required=True, metavar="OTHER_FLEET",
                              help="the other fleet file (the configuration being considered)")
    add_replay_options(fleet_replay)
    fleet_replay.set_defaults(func=cmd_fleet_replay)
    fleet.set_defaults(func=cmd_fleet)

    replay = sub.add_parser("replay", help="what the guard would have done on recorded rosbag2 frames or "
                            "LeRobot datasets")
    add_replay_options(replay)
    replay.add_argument("--params", help="ROS parameter file of the guard (e.g. config/guard.yaml)")
    replay.add_argument("--fleet", help="fleet file; with --robot, that robot's parameters")
    replay.add_argument("--robot", help="the robot of --fleet")
    replay.add_argument("--report", metavar="DIR", help="write report.json and plots here")
    replay.add_argument("--out", metavar="ANNOTATED.mcap", help="the bag plus /guard/* topics, as MCAP")
    replay.set_defaults(func=cmd_replay)
    add_convert_parser(sub)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    try:
        code = _run(argv)
        sys.stdout.flush()
        return code
    except BrokenPipeError:  # the reader went away (| head): no traceback, nothing more to write
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


def _run(argv: Optional[List[str]]) -> int:
    from ..fleet import FleetError
    from ..settings import ConfigError
    from ..errors import PolicyError  # torch-free: fleet and plan commands never load torch

    argv = list(sys.argv[1:] if argv is None else argv)
    verbose = "--verbose" in argv  # accepted anywhere on the line, for every command
    quiet_libraries(verbose)
    args = build_parser().parse_args([a for a in argv if a != "--verbose"])
    args.verbose = verbose
    try:
        return args.func(args)
    except BrokenPipeError:
        raise  # main's: a closed pipe is not an error of the command
    except ModuleNotFoundError as error:  # an optional dependency: say which, and how to install it
        from ..errors import missing_package

        print(f"rs-vla-guard {args.command}: error: {missing_package(error)}", file=sys.stderr)
        return 2
    except (UsageError, ConfigError, FleetError, PolicyError, ValueError, OSError) as error:
        print(f"rs-vla-guard {args.command}: error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rs-vla-guard {args.command}: interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # a bug of ours or a library's: one line, the traceback on request
        if os.environ.get("RS_VLA_GUARD_DEBUG"):
            raise
        print(f"rs-vla-guard {args.command}: error: {type(error).__name__}: {error} "
              f"(RS_VLA_GUARD_DEBUG=1 shows the traceback)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
