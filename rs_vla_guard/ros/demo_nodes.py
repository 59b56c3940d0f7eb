"""The product demo's other processes: a synthetic camera, an instruction publisher and a monitor.

``rs-vla-guard demo`` starts each of them, and the guard node, as a separate process on a private ROS
domain:

    python -m rs_vla_guard.ros.demo_nodes camera       # scenes from the renderer, with a scripted timeline
    python -m rs_vla_guard.ros.demo_nodes instruction  # latched instructions, switching colour mid-run
    python -m rs_vla_guard.ros.demo_nodes monitor      # one line per decision, then a summary

Timeline (seconds after the guard subscribes to the camera):
   0-12  the red block drifts left to right across the view (turn_left -> move_forward -> turn_right)
  12-15  corruption burst (a failing camera: half the frame in random-coloured cells, the rest noisy):
         the policy's answers split, so the guard refuses (below_threshold / abstain stops)
  15-17  camera dropout: no frames at all (stale_image stops)
  17-25  the red block straight ahead, coming closer until reached (move_forward -> stop)
  25-31  instruction switches to "go to the green block", which stands on the left
"""
from __future__ import annotations

import json
import sys
import time
from collections import Counter

import numpy as np
import rclpy
from diagnostic_msgs.msg import DiagnosticStatus
from sensor_msgs.msg import Image
from std_msgs.msg import String

from .. import actions as A
from ..tasks import blocks
from . import messages, qos

CAMERA_RATE_HZ = 10.0
SCRIPT_END_S = 31.0
INSTRUCTION_SWITCH_S = 25.0
BURST_S = 12.0  # the corruption burst starts, once the block has drifted across
DROPOUT_S = (15.0, 17.0)
# The script's parts (start, end, what happens); the monitor's summary counts the stops of each
WINDOWS = ((0.0, BURST_S, "the block drifts across the view"),
           (BURST_S, DROPOUT_S[0], "corruption burst (scripted fault)"),
           (DROPOUT_S[0], DROPOUT_S[1], "camera dropout (scripted fault)"),
           (DROPOUT_S[1], INSTRUCTION_SWITCH_S, "the block ahead"),
           (INSTRUCTION_SWITCH_S, SCRIPT_END_S + 2, "instruction switched to green"))
FAULTS = (BURST_S, DROPOUT_S[1])


def glitched(frame: np.ndarray, rng: np.random.Generator, cell: int = 10) -> np.ndarray:
    """A failing camera: half of the frame's cells replaced by random colours, the rest noisy.

    (Gaussian noise alone does not fool the built-in policy: it was trained with noise.)
    """
    rows, cols = -(-frame.shape[0] // cell), -(-frame.shape[1] // cell)
    broken = np.kron(rng.random((rows, cols)) < 0.5, np.ones((cell, cell), bool))[: frame.shape[0], : frame.shape[1]]
    out = frame.astype(np.float32) + rng.normal(0, 40, frame.shape)
    out[broken] = rng.uniform(0, 255, (int(broken.sum()), 3))
    return np.clip(out, 0, 255).astype(np.uint8)


def scripted_frame(t: float, rng: np.random.Generator):
    """(frame or None for a dropout, a short label of what is shown) at script time ``t``."""
    green = blocks.Block("green", 0.07, 0.1)  # far left, never overlapping the red block
    if t < BURST_S:
        red = blocks.Block("red", 0.08 + 0.84 * t / BURST_S, 0.16)
        frame = blocks.render(blocks.Scene([red] if red.x < 0.3 else [red, green], floor="textured"))
        return frame, f"red at x={red.x:.2f}"
    if t < DROPOUT_S[0]:
        return glitched(blocks.render(blocks.Scene([blocks.Block("red", 0.5, 0.2), green])), rng), "corrupted"
    if t < DROPOUT_S[1]:
        return None, "dropout"
    if t < INSTRUCTION_SWITCH_S:
        width = 0.15 + 0.45 * min((t - 17.0) / 6.0, 1.0)
        return blocks.render(blocks.Scene([blocks.Block("red", 0.55, width), green])), f"red ahead w={width:.2f}"
    return blocks.render(blocks.Scene([blocks.Block("red", 0.55, 0.25), green])), "green on the left"


def run_camera() -> int:
    node = rclpy.create_node("demo_camera")
    publisher = node.create_publisher(Image, "image", qos.SENSOR_DATA)
    rng = np.random.default_rng(0)
    while publisher.get_subscription_count() == 0:  # wait for the guard to be configured
        rclpy.spin_once(node, timeout_sec=0.1)
    node.get_logger().info("guard subscribed: starting the scripted scene")
    started = time.monotonic()
    # After the script the last scene stays in view until the demo ends this process, so the monitor's
    # final seconds are decisions, not a camera that went silent.
    while (t := time.monotonic() - started) < SCRIPT_END_S + 30.0:
        frame, _ = scripted_frame(min(t, SCRIPT_END_S - 0.01), rng)
        if frame is not None:
            publisher.publish(messages.image_msg(frame, node.get_clock().now().to_msg()))
        rclpy.spin_once(node, timeout_sec=1.0 / CAMERA_RATE_HZ)
    node.destroy_node()
    return 0


def run_instruction() -> int:
    node = rclpy.create_node("demo_instruction")
    publisher = node.create_publisher(String, "instruction", qos.LATCHED)
    publisher.publish(String(data="go to the red block"))
    # The guard subscribes to the camera and to us in the same step, so the camera's script starts now.
    while publisher.get_subscription_count() == 0:
        rclpy.spin_once(node, timeout_sec=0.1)
    started = time.monotonic()
    switched = False
    while time.monotonic() - started < SCRIPT_END_S + 2:
        rclpy.spin_once(node, timeout_sec=0.1)
        if not switched and time.monotonic() - started >= INSTRUCTION_SWITCH_S:
            publisher.publish(String(data="go to the green block"))
            switched = True
    node.destroy_node()
    return 0


def run_monitor(duration_s: float = SCRIPT_END_S + 25.0) -> int:
    node = rclpy.create_node("demo_monitor")
    records = []
    started = time.monotonic()
    first = [None]

    def on_certificate(status: DiagnosticStatus) -> None:
        values = messages.status_values(status)
        now = time.monotonic()
        if first[0] is None:
            first[0] = now
        records.append({**values, "t": now - first[0]})
        print(f"{now - first[0]:6.1f}s  {status.message:<13} certified={values['certified']:<5} "
              f"radius={float(values['radius']):6.3f}  samples={values['n_samples']:>4}  "
              f"latency={float(values['latency_ms'] or 0):6.1f}ms  reason={values['reason']}", flush=True)

    node.create_subscription(DiagnosticStatus, "certificate", on_certificate, qos.COMMANDS)
    print(f"{'time':>7}  {'action':<13} ...", flush=True)
    while time.monotonic() - started < duration_s:
        rclpy.spin_once(node, timeout_sec=0.1)
        if first[0] is not None and time.monotonic() - first[0] > SCRIPT_END_S + 2:
            break
    node.destroy_node()
    reasons = Counter(r["reason"] for r in records)
    certified = reasons.get(A.CERTIFIED, 0)
    latencies = [float(r["latency_ms"]) for r in records if r["latency_ms"] and float(r["latency_ms"]) > 0]
    samples = [int(r["n_samples"]) for r in records if int(r["n_samples"]) > 0]
    print("\nsummary")
    print(f"  decisions published: {len(records)}  certified: {certified} "
          f"({100 * certified / max(len(records), 1):.0f}%)")
    print(f"  stops by reason: {json.dumps({k: v for k, v in reasons.items() if k != A.CERTIFIED})}")
    if latencies:
        print(f"  latency ms: mean {np.mean(latencies):.0f}, p50 {np.median(latencies):.0f}, "
              f"max {np.max(latencies):.0f};  samples per decision: mean {np.mean(samples):.0f}")
    explain_stops(records, reasons)
    return 0 if records and certified else 1


def explain_stops(records, reasons) -> None:
    """What the stops meant: per part of the script, then each reason's meaning. The first certificate comes
    a moment after the script starts, so a stop within 1.5 s of a part's edge may belong to its neighbour."""
    print("\nstops per part of the script")
    for start, end, label in WINDOWS:
        inside = Counter(r["reason"] for r in records if start <= r["t"] < end and r["reason"] != A.CERTIFIED)
        print(f"  {start:g}-{end:g} s, {label}: {json.dumps(dict(inside)) if inside else 'none'}")
    print("what the stops mean")
    for reason in (r for r in reasons if r != A.CERTIFIED):
        print(f"  {reason}: {A.REASONS.get(reason, '')}")
    uncertain = (A.BELOW_THRESHOLD, A.ABSTAIN)  # the policy's own doubt: expected at borders and in the burst
    live = [r for r in records if not FAULTS[0] - 1.5 <= r["t"] <= FAULTS[1] + 1.5
            and r["reason"] not in (A.CERTIFIED, *uncertain)]
    if live:
        print(f"  {len(live)} stop(s) while the camera was live were not the policy's doubt: a stale frame or a "
              f"deadline there means decisions took longer than the demo's pace on this CPU; `rs-vla-guard "
              f"budget` says what it sustains")


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    role = argv[0] if argv else ""
    roles = {"camera": run_camera, "instruction": run_instruction, "monitor": run_monitor}
    if role not in roles:
        print(f"usage: python -m rs_vla_guard.ros.demo_nodes {{{'|'.join(roles)}}}", file=sys.stderr)
        return 2
    rclpy.init(args=argv)
    try:
        return roles[role]()
    except KeyboardInterrupt:
        return 130
    finally:
        rclpy.try_shutdown()


if __name__ == "__main__":
    sys.exit(main())
