"""The built-in policy (``policy: builtin``): a tiny LLaVA-style VLM trained on the block task.

- :mod:`.architecture` builds the untrained model, its word-level tokenizer and its processor;
- :mod:`rs_vla_guard.training` trains it (``python -m rs_vla_guard.training.builtin``);
- the trained weights live in ``rs_vla_guard/models/builtin`` and load like any other model directory,
  through the ``vlm`` adapter's ``from_pretrained``.

The policy brings its task's probes (:func:`probes`) to the configure-time sensitivity check.
"""
import os

from ..base import Probes

MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models",
                         "builtin")
BUILTIN_DIR = MODEL_DIR  # the name earlier versions exported
POLICY_TYPE = "vlm"


def probes() -> Probes:
    """The block task's probe frames (target left, right, ahead, absent; black; white) and instructions."""
    from ...tasks import blocks

    frames, instructions = blocks.probes()
    return Probes(frames, instructions)
