"""Oracles: a policy's raw output -> index of a discrete robot action (-1 = could not be mapped).

- :class:`KeywordOracle` maps generated text by whole-word phrases (``generate`` mode), and gives the
  canonical phrase of each action that ``score`` mode scores;
- :class:`BinningOracle` maps continuous commands (``action`` mode, and gate mode's upstream commands);
- :class:`~.semantic.SemanticOracle` (``oracle: semantic``, ``generate`` mode) maps free-form answers:
  keywords first, then sentence embeddings with a margin, direction words explicit.

:func:`make_oracle` is the one place that picks an oracle for an inference mode.
"""
from typing import Optional, Sequence

from .binning import BinningOracle
from .keyword import DEFAULT_PHRASES, UNMAPPED, KeywordOracle, canonical_phrase, normalise_text

__all__ = ["BinningOracle", "DEFAULT_PHRASES", "KeywordOracle", "UNMAPPED", "canonical_phrase", "make_oracle",
           "normalise_text"]


def make_oracle(mode: str, params, dimensions: Optional[Sequence[str]] = None):
    """The oracle of an inference mode: binning (configured by the parameters; ``dimensions``: the policy's
    own names for its outputs) for ``action``, keywords for ``score``, and for ``generate`` the ``oracle``
    parameter's: keywords or the semantic oracle."""
    if mode == "action":
        return BinningOracle.from_params(params, dimensions)
    if mode == "generate" and params.get("oracle") == "semantic":
        from .semantic import SemanticOracle  # loads a sentence-embedding model: only when asked for

        return SemanticOracle(params["actions"], model_path=params["oracle_model"], margin=params["semantic_margin"],
                              min_similarity=params["semantic_min_similarity"])
    return KeywordOracle(params["actions"])
