"""The command line's argument types and the guard's parameters as flags (generated from the schema)."""
from __future__ import annotations

import argparse
import os
from typing import Dict

import numpy as np

from .. import settings as P
from .sources import UsageError


def _bounded(kind, *, above: float = None, at_least: float = None):
    """An argparse type: ``kind`` (int or float) with a lower bound, and a one-line message otherwise."""
    noun = "an integer" if kind is int else "a number"

    def parse(text: str):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not {noun}") from None
        if above is not None and not value > above:
            raise argparse.ArgumentTypeError(f"must be > {above:g}, got {text}")
        if at_least is not None and not value >= at_least:
            raise argparse.ArgumentTypeError(f"must be >= {at_least:g}, got {text}")
        return value

    return parse


_positive_float = _bounded(float, above=0)
_positive_int = _bounded(int, above=0)
_non_negative_float = _bounded(float, at_least=0)


def _probability(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be in [0, 1], got {text}")
    return value


def _alpha(text: str) -> float:
    """alpha as the guard accepts it: in (0, 0.5)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value < 0.5:
        raise argparse.ArgumentTypeError(f"must be in (0, 0.5), got {text}")
    return value


def _boolean(text: str) -> bool:
    lowered = text.lower()
    if lowered in ("true", "1", "yes", "on"):
        return True
    if lowered in ("false", "0", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true or false, got {text!r}")


def _list_of(kind):
    """An argparse type for a comma-separated list whose items are ``kind`` (str, int or float)."""
    def parse(text: str):
        items = [item.strip() for item in text.split(",")]
        try:
            return [kind(item) for item in items]
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of {kind.__name__}") from None
    return parse


def _flag(param: P.Param) -> str:
    return "--" + param.name.replace("_", "-")


def add_guard_options(parser: argparse.ArgumentParser) -> None:
    """One flag per guard parameter, from the schema (the value is validated with the others later)."""
    group = parser.add_argument_group("guard parameters (defaults: config/guard.yaml)")
    for param in P.PARAMETERS:
        options: Dict[str, object] = {"dest": param.name, "default": None, "help": param.description.replace("%", "%%")}
        if param.kind is bool:
            options.update(type=_boolean, metavar="true|false")
        elif param.kind is list:
            options.update(type=_list_of(type(param.default[0])), metavar="A,B,...")
        elif param.choices:
            options.update(choices=param.choices)
        else:
            options.update(type=param.kind, metavar=param.name.upper())
        group.add_argument(_flag(param), **options)


def guard_overrides(args) -> Dict[str, object]:
    """The guard parameters given on the command line; ``--policy builtin-arm`` brings the built-in arm's
    parameters (config/arm.yaml: chunk binning, tubes, joint limits) under the flags given."""
    return with_builtin_parameters({p.name: getattr(args, p.name) for p in P.PARAMETERS
                                    if getattr(args, p.name, None) is not None})


def with_builtin_parameters(given: Dict[str, object]) -> Dict[str, object]:
    """``given`` over the parameters its embedded policy runs with (``builtin-arm``: config/arm.yaml's)."""
    if given.get("policy") == "builtin-arm":
        from ..policies.builtin_arm import PARAMETERS as ARM

        return {**ARM, **given}
    return given


def read_image(path: str) -> np.ndarray:
    """An image file as HxWx3 uint8 RGB; UsageError when it is missing or not an image."""
    import cv2

    if not os.path.isfile(path):
        raise UsageError(f"image not found: {path}")
    image = cv2.imread(path, cv2.IMREAD_COLOR)
    if image is None:
        raise UsageError(f"not a readable image: {path}")
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
