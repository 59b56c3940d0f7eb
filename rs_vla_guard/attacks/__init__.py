"""Attacks on the guard's input, inside an L2 budget in the policy's input pixels (rounding included).

:class:`~.attacker.Attacker` is the one dispatch point: the simulator (:mod:`rs_vla_guard.sim.episodes`)
and the attack node (:mod:`rs_vla_guard.ros.attack_node`) both perturb frames through it. The
perturbations themselves are in :mod:`.perturbations`. This module holds the attack vocabulary and
imports no torch, so the command line can offer the choices without loading it.
"""
from __future__ import annotations

from typing import List, Optional, Sequence

from .. import actions as A

ATTACKS = ("none", "noise", "patch", "pgd")
# any/harmful: a wrong action class; yaw: the largest change of the executed yaw rate (continuous policies);
# chunk: the executed waypoints of an action chunk as far from their clean values as it can (chunked policies)
PGD_AIMS = ("any", "harmful", "yaw", "chunk")
CHUNK_AIM = "chunk"
COMMAND_AIMS = {"yaw": "angular_z"}  # aim -> the action dimension whose executed value PGD moves
# The wrong action PGD aims at, by the clean action: the opposite turn, or moving when it should stop.
MOST_HARMFUL_WRONG_ACTION = {A.TURN_LEFT: A.TURN_RIGHT, A.TURN_RIGHT: A.TURN_LEFT, A.MOVE_FORWARD: A.TURN_LEFT,
                             A.STOP: A.MOVE_FORWARD}

__all__ = ["ATTACKS", "Attacker", "CHUNK_AIM", "COMMAND_AIMS", "MOST_HARMFUL_WRONG_ACTION", "PGD_AIMS", "attack_objective",
           "attack_targets"]


def attack_objective(guard, instruction: str, aim: str, *, smoothed: bool = True, state=None):
    """What PGD with ``aim`` ascends, from the guard's policy: its class scores (``Guard.attack_scores``) for a
    class aim, its executed command (``Guard.attack_command``; the smoothed one when ``smoothed``) for a
    command aim, its executed chunk (``Guard.attack_chunk``, at the robot ``state``) for the chunk aim. The
    simulator and the attack node both ask here."""
    if aim in COMMAND_AIMS:
        return guard.attack_command(instruction, COMMAND_AIMS[aim], smoothed=smoothed)
    if aim == CHUNK_AIM:
        return guard.attack_chunk(instruction, smoothed=smoothed, state=state)
    return guard.attack_scores(instruction)


def attack_targets(actions: Sequence[str], clean_action: Optional[str], safe_action: str, aim: str = "any"
                   ) -> List[int]:
    """Indices PGD aims at: ``any`` wrong motion (not the clean action, not the safe stop), or ``harmful``:
    the one most harmful wrong action of :data:`MOST_HARMFUL_WRONG_ACTION`."""
    if aim == "harmful":
        return [list(actions).index(MOST_HARMFUL_WRONG_ACTION.get(clean_action, A.MOVE_FORWARD))]
    if aim not in PGD_AIMS or aim in COMMAND_AIMS or aim == CHUNK_AIM:
        raise ValueError(f"unknown PGD aim {aim!r}; choose one of {', '.join(PGD_AIMS)}")
    return [i for i, action in enumerate(actions) if action not in (clean_action, safe_action)]


def __getattr__(name: str):
    if name == "Attacker":  # imported on first use: it needs torch
        from .attacker import Attacker

        return Attacker
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
