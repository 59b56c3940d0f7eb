"""The built-in pi0 (``policy: builtin-pi0``): a tiny pi0 of transformers' own architecture (SigLIP-style
vision, Gemma-style language model, Gemma action expert) trained on the block task to output the task's
continuous controller (linear x, angular z) over a short chunk of steps.

- :mod:`.architecture` builds the untrained model, its word-level tokenizer, processor and statistics;
- :mod:`rs_vla_guard.training` trains it (``python -m rs_vla_guard.training.builtin_pi0``);
- the weights live in ``rs_vla_guard/models/builtin_pi0`` and load through the ``pi0`` adapter's
  ``from_pretrained`` like any other pi0 directory.
"""
import os

from ..builtin import probes  # the block task's probe frames and instructions, as for the built-in VLM

MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models",
                         "builtin_pi0")
POLICY_TYPE = "pi0"
__all__ = ["MODEL_DIR", "POLICY_TYPE", "probes"]
