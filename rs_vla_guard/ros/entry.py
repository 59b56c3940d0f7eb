"""Console entry points of the ROS nodes (``guard_node``, ``sim_node``, ...): a missing ROS 2 or Python
package is one line naming it and how to install it, not a traceback. The nodes' own modules import rclpy
at the top; this one imports them only when called."""
import importlib
import sys


def _start(module: str) -> None:
    try:
        main = importlib.import_module(f"rs_vla_guard.ros.{module}").main
    except ModuleNotFoundError as error:
        from ..errors import missing_package

        print(f"{module}: error: {missing_package(error)}", file=sys.stderr)
        sys.exit(2)
    main()


def guard_node() -> None:
    _start("guard_node")


def sim_node() -> None:
    _start("sim_node")


def arm_sim_node() -> None:
    _start("arm_sim_node")


def attack_node() -> None:
    _start("attack_node")
