"""The guard node's process: the self-activation thread, shutting down cleanly (also while the model loads,
within launch's SIGINT -> SIGTERM escalation), and parameter files checked before rcl reads them."""
from __future__ import annotations

import os
import sys
import threading
from typing import List, Tuple

from .. import actions as A
from ..settings.yaml_files import YamlFileError, load_yaml_file
from .executors import spin_until_shutdown

AUTOSTART_JOIN_TIMEOUT_S = 2.0  # how long an exit waits for a model load still running (launch: SIGTERM at 5 s)


def run(node) -> None:
    """Spin ``node`` (decisions run on its own thread), self-activating unless ``autostart`` is false; on
    shutdown an active node publishes a last stop while the ROS context is still valid."""
    autostart = None
    if node.params["autostart"]:
        # On its own thread: parameter and lifecycle services answer while the model loads.
        autostart = threading.Thread(target=node.autostart, name="rs_vla_guard_autostart", daemon=True)
        autostart.start()

    def final_stop() -> None:
        try:
            with node._publish_lock:
                if node._active:
                    node._publish_stop(A.INACTIVE, "node shutting down", final=True)
        except Exception as error:  # the context may already be gone; nothing else to do
            node.get_logger().warning(f"could not publish the final stop: {error}")

    spin_until_shutdown(node, on_exit=final_stop)
    if autostart is not None and autostart.is_alive():
        # A signal during the model load. Finalising the interpreter while native code runs on that thread
        # aborts the process ("terminate called ..."), and launch escalates to SIGTERM after 5 s and SIGKILL
        # after 10: give the load a moment, then leave at once, without finalising (nothing was configured,
        # so nothing needs cleaning up). A second signal meanwhile does the same, without a traceback.
        try:
            autostart.join(AUTOSTART_JOIN_TIMEOUT_S)
        except KeyboardInterrupt:
            pass
        if autostart.is_alive():
            print("rs_vla_guard: shut down while the model was loading", file=sys.stderr, flush=True)
            sys.stdout.flush()
            os._exit(0)


def refused_parameter_files(args: List[str]) -> Tuple[List[str], List[str]]:
    """(``args`` without the ``--params-file`` entries the bounded loader refuses, why each was refused).

    rcl reads parameter files itself; a hostile one (an alias bomb, 50 MB, keys twice) must not reach it.
    The node starts without such a file, names it in its log and ``/diagnostics``, and refuses to configure."""
    kept, refused, index = [], [], 0
    while index < len(args):
        if args[index] == "--params-file" and index + 1 < len(args):
            try:
                load_yaml_file(args[index + 1])
            except YamlFileError as error:
                refused.append(f"parameter file refused: {error}")
                index += 2
                continue
            kept += args[index:index + 2]
            index += 2
            continue
        kept.append(args[index])
        index += 1
    return kept, refused
