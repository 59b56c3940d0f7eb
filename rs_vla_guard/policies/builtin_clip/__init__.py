"""The built-in dual encoder (``policy: builtin-clip``): a tiny CLIP trained contrastively on the block task.

It scores each action's prompt ("go to the red block : turn left") against the image, zero-shot style, and
it knows two lighting prompts ("a photo in daylight", "a photo at night"), so the semantic certificate
(:mod:`rs_vla_guard.certification.semantic`) has a text-defined change to certify along.

- :mod:`.architecture` builds the untrained model, its word-level tokenizer and image processor;
- :mod:`rs_vla_guard.training` trains it (``python -m rs_vla_guard.training.builtin_clip``);
- the weights live in ``rs_vla_guard/models/builtin_clip`` and load through the dual-encoder adapter
  (:mod:`rs_vla_guard.policies.dual_encoder`) like any local ``CLIPModel`` directory.
"""
import os

from ..builtin import probes  # the block task's probe frames and instructions

MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models",
                         "builtin_clip")
POLICY_TYPE = "clip"
__all__ = ["MODEL_DIR", "POLICY_TYPE", "probes"]
