"""Old import path, kept working: the parameter schema is :mod:`rs_vla_guard.settings`, and the rules about
actions, twists and fallback sets are :mod:`rs_vla_guard.actions`."""
from .actions import capped, fallback_sets, members_of, set_label, twist_of  # noqa: F401
from .settings import *  # noqa: F401,F403
from .settings import (NODE_NAME, PARAMETERS, SCHEMA, ConfigError, Param, config_hash, defaults,  # noqa: F401
                     effective, from_ros_yaml, to_ros_yaml, validate)
