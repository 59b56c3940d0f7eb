"""Errors shared across the package that the command line must name without importing torch."""


class PolicyError(RuntimeError):
    """The policy cannot be loaded or cannot run as configured (a clear error at configure time)."""
