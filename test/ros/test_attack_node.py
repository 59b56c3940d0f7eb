"""The attack node between a real camera (the sim node) and the guard's input, each in its own process:
every attacked frame is the policy-size image of a camera frame, inside the L2 budget it reports."""
import json
import threading
import time

import pytest
import torch

import ros_harness as h
from rs_vla_guard.sampling import frame_to_input
from rs_vla_guard.frames import frame_from_image_msg, stamp_seconds

pytestmark = [pytest.mark.ros, pytest.mark.model]

DOMAIN = 65


@pytest.mark.parametrize("attack, policy, eps", [("noise", "builtin", 0.5), ("pgd", "builtin-pi0", 0.25)])
def test_attacked_frames_stay_inside_the_budget(tmp_path, attack, policy, eps):
    """Random noise on the phrase policy's input; PGD through the continuous policy's flow steps."""
    h.use_domain(DOMAIN)
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    sim = h.start_node(DOMAIN, module="rs_vla_guard.ros.sim_node", log_path=str(tmp_path / "sim.log"),
                       extra=["-p", "episode_seed:=2", "-p", "real_time_factor:=0.5", "-r", "image:=camera/image"])
    attacker = h.start_node(DOMAIN, module="rs_vla_guard.ros.attack_node", log_path=str(tmp_path / "attack.log"),
                          extra=["-p", f"attack:={attack}", "-p", f"eps:={eps}", "-p", f"policy:={policy}",
                                 "-r", "image_in:=camera/image"])
    rclpy.init()
    node = rclpy.create_node("attack_probe")
    heard = {"camera": {}, "attacked": [], "reports": []}
    lock = threading.Lock()

    def on_camera(msg):
        with lock:
            heard["camera"][stamp_seconds(msg.header.stamp)] = frame_from_image_msg(msg)

    def on_attacked(msg):
        with lock:
            heard["attacked"].append((stamp_seconds(msg.header.stamp), msg.encoding, frame_from_image_msg(msg)))

    node.create_subscription(Image, "camera/image", on_camera, qos_profile_sensor_data)
    node.create_subscription(Image, "image", on_attacked, qos_profile_sensor_data)
    node.create_subscription(String, "attack", lambda m: heard["reports"].append(json.loads(m.data)), 50)
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        end = time.monotonic() + 120
        while time.monotonic() < end:
            executor.spin_once(timeout_sec=0.05)
            with lock:
                matched = [a for a in heard["attacked"] if a[0] in heard["camera"]]
            if len(matched) >= 5 and len(heard["reports"]) >= 5:
                break
        assert len(matched) >= 5, open(tmp_path / "attack.log").read()[-2000:]
        for stamp, encoding, frame in matched:
            assert encoding == "rgb8" and frame.shape == (64, 64, 3)
            clean = torch.from_numpy(frame_to_input(heard["camera"][stamp], (64, 64)))
            distance = float((torch.from_numpy(frame).permute(2, 0, 1).float() / 255 - clean).norm())
            assert distance <= eps + 1e-6
            report = next(r for r in heard["reports"] if r["stamp"] == stamp)
            assert report["attack"] == attack and report["l2"] == pytest.approx(distance, abs=1e-4)
            assert distance > 0.5 * eps  # PGD may stop short of the budget where it already wins
        assert sim.poll() is None and attacker.poll() is None
    finally:
        h.stop_node(attacker)
        h.stop_node(sim)
        node.destroy_node()
        rclpy.shutdown()
