"""How the guard node copes with a high-resolution camera: a camera process publishing W x H rgb8 frames at
a rate, the guard node in its own process, and a monitor; prints the frames the node received per second
(its /diagnostics), the share of stale_image stops and the decision latency.

    .venv/bin/python scripts/large_frames.py [--width 3840 --height 2160 --rate 30 --seconds 30]

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
    parser.add_argument("--camera", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.camera:
        return camera(args.width, args.height, args.rate, args.seconds)
    h.use_domain(DOMAIN)
    import rclpy

    node = h.start_node(DOMAIN, log_path="/tmp/large_frames_node.log")
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
    latencies = sorted(float(v["latency_ms"]) for _, _, v in statuses if v["held"] == "false" and int(v["n_samples"]))
    print(json.dumps({
        "frame": f"{args.width}x{args.height} rgb8", "camera_rate_hz": args.rate,
        **json.loads(out.strip().splitlines()[-1]),
        "node_received_per_s": round(sum(rates) / len(rates), 2) if rates else 0.0,
        "commands": len(statuses), "stale_image_share": round(reasons.get("stale_image", 0) / max(len(statuses), 1), 3),
        "reasons": reasons, "decision_latency_ms_p50": latencies[len(latencies) // 2] if latencies else None,
    }))


if __name__ == "__main__":
    main()
