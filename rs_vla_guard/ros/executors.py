"""Spinning helpers for the package's nodes (single-threaded executors, clean shutdown).

rclpy's MultiThreadedExecutor busy-spins while a long callback runs (ros2/rclpy#1452), which here took
a core away from inference; the nodes therefore keep long work on their own threads and serve every
callback from one single-threaded executor.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor


def spin_until_shutdown(node, on_exit: Callable[[], None] = lambda: None) -> None:
    """Spin ``node`` until ROS shuts down or SIGINT/SIGTERM; then ``on_exit()`` (ROS still valid), destroy,
    shut down. The wait is cut into short slices so signals are handled even when nothing is ready (a
    simulation whose /clock stopped leaves no timer due)."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    try:
        while rclpy.ok():
            executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        on_exit()
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown()


def spin_with_worker(node, work: Callable[[], None], stop: threading.Event, name: str) -> None:
    """Serve ``node``'s callbacks while ``work()`` runs on its own thread (the sim and attack nodes'
    main loops), until ROS shuts down, SIGINT, or ``stop`` is set; then stop the worker and clean up."""
    executor = SingleThreadedExecutor()
    executor.add_node(node)
    worker = threading.Thread(target=work, name=name, daemon=True)
    worker.start()
    try:
        while rclpy.ok() and not stop.is_set():
            executor.spin_once(timeout_sec=0.05)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    finally:
        stop.set()
        worker.join(timeout=5)
        node.destroy_node()
        rclpy.try_shutdown()


def run_paced(node, advance: Callable[[float], None], publish: Callable[[], None], sim_time: Callable[[], float],
              close: Callable[[], None]) -> None:
    """A simulation node's loop, on its own thread: publish, then ``advance(period)`` of sim time and publish
    again, kept to the node's ``real_time_factor`` (<= 0: as fast as possible), until ``duration_s`` of sim
    time (0: forever), ROS shuts down or ``node.done`` is set; ``close()`` at the end, on this thread (a
    renderer's GL context belongs to the thread that made it)."""
    period = 1.0 / node.get_parameter("camera_rate_hz").value
    factor = node.get_parameter("real_time_factor").value
    duration = node.get_parameter("duration_s").value
    started = time.monotonic()
    try:
        publish()
        while rclpy.ok() and not node.done.is_set() and (duration <= 0 or sim_time() < duration):
            advance(period)
            publish()
            if factor > 0:
                ahead = sim_time() / factor - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
    except Exception:
        if rclpy.ok() and not node.done.is_set():
            raise
        # ROS shut down (SIGINT/SIGTERM) while publishing: the end of the run, not an error
    finally:
        close()
        node.done.set()
