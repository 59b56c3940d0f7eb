"""A command's own peak resident memory.

Linux carries a process's high-water mark across ``exec``: a child forked from this test process (which
holds models, over a GB) reports at least this process's size as its ``ru_maxrss``, by ``wait4`` and by
``getrusage(RUSAGE_SELF)`` alike. So the command runs as the child of a small launcher, whose own peak is
what its child inherits, and the launcher reports the child's ``ru_maxrss``."""
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass

LAUNCHER = """
import json, os, subprocess, sys
child = subprocess.Popen(sys.argv[2:])
_, status, usage = os.wait4(child.pid, 0)
with open(sys.argv[1], "w") as report:
    json.dump({"code": os.waitstatus_to_exitcode(status), "peak_kb": usage.ru_maxrss}, report)
"""


@dataclass
class Measured:
    code: int
    stdout: str
    stderr: str
    seconds: float
    peak_kb: int  # the command's own peak resident set, in kB


def run_measured(args, folder, timeout_s: float = 60.0, env=None, cwd=None) -> Measured:
    """Run ``args`` as its own process; killed (with its launcher) after ``timeout_s``."""
    report, out, err = folder / "peak.json", folder / "out.txt", folder / "err.txt"
    report.unlink(missing_ok=True)
    started = time.monotonic()
    with open(out, "w") as stdout, open(err, "w") as stderr:
        launcher = subprocess.Popen([sys.executable, "-c", LAUNCHER, str(report), *map(str, args)],
                                    stdout=stdout, stderr=stderr, env=env, cwd=cwd, start_new_session=True)
        try:
            launcher.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
    took = time.monotonic() - started
    measured = json.loads(report.read_text()) if report.exists() else {"code": -9, "peak_kb": 0}
    return Measured(measured["code"], out.read_text(), err.read_text(), took, measured["peak_kb"])
