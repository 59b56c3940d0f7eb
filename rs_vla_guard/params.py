"""The old name of :mod:`rs_vla_guard.settings` (parameter schema, validation, fleet limits, hash, ROS
parameter files), kept so existing imports keep working."""
from .settings import *  # noqa: F401,F403
from .settings import __all__  # noqa: F401
