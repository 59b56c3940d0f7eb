"""Where a command's guard parameters come from: a ROS parameter file, or one robot of a fleet file."""
from __future__ import annotations

from typing import Dict

from .. import settings as P


class UsageError(Exception):
    """A user error: printed as one line, exit status 2."""


def params_file(path: str) -> Dict[str, object]:
    """The guard parameters of a ROS parameter file (``rs_vla_guard: ros__parameters: ...``), read by the
    bounded loader (size, aliases, duplicate keys, depth: one-line errors naming the file)."""
    from ..settings.yaml_files import YamlFileError

    try:
        return P.read_params_file(path)
    except YamlFileError as error:
        raise UsageError(f"parameter file {error}") from None


def fleet_robot(path: str, robot: str) -> Dict[str, object]:
    """One robot's parameters from a fleet file; FleetError when it breaks the fleet's limits."""
    from .. import fleet
    from ..fleet import FleetError

    document = fleet.load(path)
    params = fleet.robot_parameters(document, robot)
    problems = fleet.check(document).get(robot) or []
    if problems:
        raise FleetError(f"robot {robot} in {path} violates the fleet configuration: {problems[0]}")
    return params


def params_or_fleet(params: str = None, fleet: str = None, robot: str = None) -> Dict[str, object]:
    """Overrides from ``--params FILE`` or ``--fleet FILE --robot NAME`` (neither: none)."""
    if fleet and not robot:
        raise UsageError("--fleet needs --robot NAME")
    if params and fleet:
        raise UsageError("give --params or --fleet, not both")
    return params_file(params) if params else fleet_robot(fleet, robot) if fleet else {}
