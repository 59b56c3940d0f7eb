"""The simulation node in its own process: sim-time clock, camera at 10 Hz of sim time, odometry that
follows cmd_vel, the episode description, and a robot that stops when commands stop."""
import json
import math
import threading
import time

import pytest

import ros_harness as h

pytestmark = [pytest.mark.ros, pytest.mark.model]

DOMAIN = 64


@pytest.fixture(scope="module")
def sim(tmp_path_factory):
    h.use_domain(DOMAIN)
    import rclpy
    from geometry_msgs.msg import TwistStamped
    from nav_msgs.msg import Odometry
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.qos import qos_profile_sensor_data
    from rosgraph_msgs.msg import Clock
    from sensor_msgs.msg import Image
    from std_msgs.msg import String

    log = str(tmp_path_factory.mktemp("sim") / "sim.log")
    process = h.start_node(DOMAIN, module="rs_vla_guard.ros.sim_node", log_path=log,
                           extra=["-p", "episode_seed:=4", "-p", "real_time_factor:=1.0"])
    rclpy.init()
    node = rclpy.create_node("sim_probe")
    heard = {"clock": [], "image": [], "odom": [], "episode": []}
    lock = threading.Lock()

    def keep(key):
        def callback(msg):
            with lock:
                heard[key].append(msg)
        return callback

    node.create_subscription(Clock, "/clock", keep("clock"), 50)
    node.create_subscription(Image, "image", keep("image"), qos_profile_sensor_data)
    node.create_subscription(Odometry, "odom", keep("odom"), 50)
    node.create_subscription(String, "episode", keep("episode"), h.latched_qos())
    command = node.create_publisher(TwistStamped, "cmd_vel", 10)
    executor = SingleThreadedExecutor()
    executor.add_node(node)

    def spin_until(predicate, timeout, publish=None):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if publish:
                publish()
            executor.spin_once(timeout_sec=0.05)
            with lock:
                if predicate(heard):
                    return True
        return False

    yield heard, spin_until, command, log
    h.stop_node(process)
    node.destroy_node()
    rclpy.shutdown()


def seconds(stamp):
    return stamp.sec + stamp.nanosec * 1e-9


def test_sim_publishes_the_episode_clock_and_camera_in_sim_time(sim):
    heard, spin_until, _, log = sim
    assert spin_until(lambda s: s["episode"] and len(s["image"]) >= 15, 90), open(log).read()[-2000:]
    episode = json.loads(heard["episode"][0].data)
    assert episode["seed"] == 4 and episode["instruction"] == f"go to the {episode['target']} block"
    assert len(episode["blocks"]) == 3
    images = heard["image"][-10:]
    assert all(m.encoding == "rgb8" and (m.height, m.width) == (120, 160) for m in images)
    stamps = [seconds(m.header.stamp) for m in images]
    gaps = [b - a for a, b in zip(stamps, stamps[1:])]
    assert all(abs(g - 0.1) < 1e-6 for g in gaps)  # 10 Hz of sim time, none skipped
    clocks = [seconds(m.clock) for m in heard["clock"]]
    assert clocks == sorted(clocks) and clocks[-1] >= stamps[-1]


def test_odometry_follows_cmd_vel_and_stops_when_commands_stop(sim):
    heard, spin_until, command, _ = sim
    from geometry_msgs.msg import TwistStamped

    def turn():
        msg = TwistStamped()
        msg.twist.angular.z = 0.5  # turning in place never hits anything
        command.publish(msg)

    def yaw(odom):
        q = odom.pose.pose.orientation
        return 2 * math.atan2(q.z, q.w)

    with_lock_start = heard["odom"][-1]
    start_yaw, start_time = yaw(with_lock_start), seconds(with_lock_start.header.stamp)
    assert spin_until(lambda s: seconds(s["odom"][-1].header.stamp) - start_time > 2.0, 60, publish=turn)
    last = heard["odom"][-1]
    turned = math.remainder(yaw(last) - start_yaw, 2 * math.pi)
    elapsed = seconds(last.header.stamp) - start_time
    assert turned == pytest.approx(0.5 * elapsed, abs=0.5 * 0.3 + 0.05)  # up to a few periods of latency
    # No more commands: after command_timeout_s of sim time the robot stands still.
    spin_until(lambda s: False, 2.0)
    a = heard["odom"][-1]
    spin_until(lambda s: False, 1.0)
    b = heard["odom"][-1]
    assert seconds(b.header.stamp) > seconds(a.header.stamp)
    assert abs(math.remainder(yaw(b) - yaw(a), 2 * math.pi)) < 1e-6
