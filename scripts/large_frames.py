"""How the guard node keeps up with a camera: a camera process publishing W x H rgb8 frames of a clear scene at
a rate, the guard node in its own process, and a monitor; prints the frames the node received per second
(its /diagnostics), the share of control periods whose command was certified (decisions and holds), the
real decisions per second, the share of stale_image stops and the decision latency.

    .venv/bin/python scripts/large_frames.py [--width 3840 --height 2160 --rate 30 --seconds 30]
    .venv/bin/python scripts/large_frames.py --width 160 --height 120 --control-rate-hz 10   # the 10 Hz loop

Not part of ``make test`` (it takes a minute and measures this machine); the README quotes its output.
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "test"))

import ros_harness as h  # noqa: E402

DOMAIN = 91


def camera(width: int, height: int, rate: float, seconds: float) -> None:
    """The camera process: one rendered scene, scaled up, published at ``rate`` with fresh stamps."""
    import numpy as np
    import rclpy
    from std_msgs.msg import String

    from rs_vla_guard.ros import messages, qos
    from rs_vla_guard.tasks import blocks

    rclpy.init()
    node = rclpy.create_node("large_camera")
    publisher = node.create_publisher(messages.Image, "image", qos.SENSOR_DATA)
    node.create_publisher(String, "instruction", qos.LATCHED).publish(String(data="go to the red block"))
    frame = blocks.render(blocks.Scene([blocks.Block("red", 0.15, 0.2)]), width, height)
    msg = messages.image_msg(np.ascontiguousarray(frame))
    period, sent, started = 1.0 / rate, 0, time.monotonic()
    while time.monotonic() - started < seconds:
        msg.header.stamp = node.get_clock().now().to_msg()
        publisher.publish(msg)
        sent += 1
        rclpy.spin_once(node, timeout_sec=max(0.0, started + sent * period - time.monotonic()))
    print(json.dumps({"camera_sent_per_s": round(sent / (time.monotonic() - started), 1)}), flush=True)
    node.destroy_node()
    rclpy.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--width", type=int, default=3840)
    parser.add_argument("--height", type=int, default=2160)
    parser.add_argument("--rate", type=float, default=30.0)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--control-rate-hz", type=float, default=5.0, help="the node's control_rate_hz")
    parser.add_argument("--dtype", default="auto", help="the node's dtype")
    parser.add_argument("--camera", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.camera:
        return camera(args.width, args.height, args.rate, args.seconds)
    h.use_domain(DOMAIN)
    import rclpy

    import tempfile

    params = h.write_params(tempfile.mktemp(suffix=".yaml"), {"control_rate_hz": args.control_rate_hz,
                                                              "dtype": args.dtype})
    node = h.start_node(DOMAIN, params, log_path="/tmp/large_frames_node.log")
    rclpy.init()
    probe = h.Probe()
    try:
        assert probe.wait_for(lambda: len(probe.certificates) > 0, 120), "the guard node did not start"
        cam = subprocess.Popen([sys.executable, __file__, "--camera", "--width", str(args.width), "--height",
                                str(args.height), "--rate", str(args.rate), "--seconds", str(args.seconds)],
                               env=h.ros_env(DOMAIN), stdout=subprocess.PIPE, text=True)
        probe.spin(5.0)  # discovery and the first frames
        since = time.monotonic()
        probe.spin(args.seconds - 8.0)
        statuses = probe.statuses_since(since)
        diagnostics = [m.status[0] for t, m in probe.diagnostics if t >= since]
        out, _ = cam.communicate(timeout=60)
    finally:
        h.stop_node(node)
        probe.destroy()
        rclpy.shutdown()
    reasons = {}
    for _, _, values in statuses:
        reasons[values["reason"]] = reasons.get(values["reason"], 0) + 1
    rates = [float({kv.key: kv.value for kv in d.values}["image_rate_hz"]) for d in diagnostics]
    decisions = [v for _, _, v in statuses if v["held"] == "false" and int(v["n_samples"])]
    latencies = sorted(float(v["latency_ms"]) for v in decisions)
    window = args.seconds - 8.0
    print(json.dumps({
        "frame": f"{args.width}x{args.height} rgb8", "camera_rate_hz": args.rate,
        **json.loads(out.strip().splitlines()[-1]),
        "node_received_per_s": round(sum(rates) / len(rates), 2) if rates else 0.0,
        "control_rate_hz": args.control_rate_hz, "dtype": args.dtype,
        "commands": len(statuses), "commands_per_s": round(len(statuses) / window, 2),
        "certified_share": round(sum(v["certified"] == "true" for _, _, v in statuses) / max(len(statuses), 1), 3),
        "decisions_per_s": round(len(decisions) / window, 2),
        "stale_image_share": round(reasons.get("stale_image", 0) / max(len(statuses), 1), 3),
        "reasons": reasons, "decision_latency_ms_p50": latencies[len(latencies) // 2] if latencies else None,
    }))


if __name__ == "__main__":
    main()
