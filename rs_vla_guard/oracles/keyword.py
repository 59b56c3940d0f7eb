"""The keyword/phrase oracle: generated text -> index of a discrete robot action (-1 = unmapped).

The certificate is on the oracle's class, so the oracle is deterministic and conservative: text that
names no action, or names two different ones, maps to -1 (never to a guess).
"""
from __future__ import annotations

import re
from typing import Dict, Iterable, List, Optional, Sequence

import numpy as np

from .. import actions as A

UNMAPPED = -1

# Canonical phrase first (used to score candidates in ``score`` mode), then synonyms.
DEFAULT_PHRASES: Dict[str, List[str]] = {
    A.MOVE_FORWARD: ["move forward", "go forward", "forward", "go straight", "straight ahead", "drive forward",
                     "ahead", "advance"],
    A.TURN_LEFT: ["turn left", "left", "rotate left", "steer left"],
    A.TURN_RIGHT: ["turn right", "right", "rotate right", "steer right"],
    A.STOP: ["stop", "halt", "stay", "wait", "arrived", "hold position"],
    A.MOVE_BACKWARD: ["move backward", "backward", "back up", "reverse"],
    A.GRASP: ["grasp", "grab", "pick up", "close gripper"],
    A.RELEASE: ["release", "drop", "open gripper", "let go"],
}


def normalise_text(text: str) -> str:
    """Lower case; underscores, hyphens and punctuation become spaces; runs of spaces collapse."""
    text = text.lower().replace("_", " ").replace("-", " ")
    text = re.sub(r"[^\w\s]", " ", text)
    return " ".join(text.split())


class KeywordOracle:
    """Maps generated text to an action by whole-word phrase matching (case and punctuation ignored).

    Exactly one action named -> its index; none, or several different ones -> -1.
    """

    def __init__(self, actions: Sequence[str], phrases: Optional[Dict[str, Iterable[str]]] = None):
        if not actions:
            raise ValueError("an oracle needs at least one action")
        self.actions = list(actions)
        table = dict(DEFAULT_PHRASES)
        table.update({k: list(v) for k, v in (phrases or {}).items()})
        self.phrases = {}
        for action in self.actions:
            # The action's own name ("turn_left" -> "turn left") always counts.
            own = normalise_text(action)
            listed = [normalise_text(p) for p in table.get(action, [])]
            self.phrases[action] = listed + ([own] if own not in listed else [])
        self._patterns = [
            (index, re.compile(r"\b(?:" + "|".join(re.escape(p) for p in self.phrases[a]) + r")\b"))
            for index, a in enumerate(self.actions)
        ]

    def canonical_phrases(self) -> List[str]:
        """One phrase per action, in action order: the candidates of ``score`` mode."""
        return [self.phrases[a][0] for a in self.actions]

    def label(self, text: str) -> int:
        label = self.by_keywords(normalise_text(text or ""))
        return UNMAPPED if label is None else label

    def by_keywords(self, normalised: str) -> Optional[int]:
        """The one action named in normalised text; UNMAPPED when several are; None when none is."""
        found = {index for index, pattern in self._patterns if pattern.search(normalised)}
        if not found:
            return None
        return found.pop() if len(found) == 1 else UNMAPPED

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        return np.asarray([self.label(t) for t in texts], dtype=np.int64)


def canonical_phrase(action: str) -> str:
    """The phrase a phrase-answering policy says for ``action`` (the first of its phrases)."""
    return DEFAULT_PHRASES[action][0] if action in DEFAULT_PHRASES else normalise_text(action)
