"""Old import path, kept working: the statistics now live in :mod:`rs_vla_guard.certification`."""
from .certification import *  # noqa: F401,F403
from .certification import __all__  # noqa: F401
