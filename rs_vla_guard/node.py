"""Old import path, kept working: the guard node is :mod:`rs_vla_guard.ros.guard_node`
(``python -m rs_vla_guard.node`` still starts it)."""
from .ros.guard_node import GuardNode, main, run  # noqa: F401

if __name__ == "__main__":
    main()
