"""Old import path, kept working: the command line is :mod:`rs_vla_guard.tools.cli`
(``python -m rs_vla_guard.cli`` still runs it, as does ``python -m rs_vla_guard``)."""
import sys

from .tools.cli import build_parser, main  # noqa: F401

if __name__ == "__main__":
    sys.exit(main())
