"""``python -m rs_vla_guard``: the ``rs-vla-guard`` command."""
import sys

from .tools.cli import main

sys.exit(main())
