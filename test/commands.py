"""``rs-vla-guard`` through its ``main`` in the test process: the exit code, stdout and stderr a user would
see, without a fresh interpreter and torch import per call. Each command path keeps at least one test
that runs it as its own process."""
import contextlib
import io
import os
import subprocess
from typing import Dict, Optional
from unittest import mock


def run_main(*args, env: Optional[Dict[str, str]] = None) -> subprocess.CompletedProcess:
    from rs_vla_guard.tools.cli import main

    args = [str(a) for a in args]
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), mock.patch.dict(os.environ, env or {}):
        try:
            code = main(args)
        except SystemExit as exit:  # argparse's own errors
            code = exit.code
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())
