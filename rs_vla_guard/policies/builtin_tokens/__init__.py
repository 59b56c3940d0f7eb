"""The built-in action-token policy (``policy: builtin-tokens``): the built-in VLM's architecture (a tiny LLaVA)
with 256 action tokens appended to its vocabulary, fine-tuned from the built-in VLM to answer the block
task with two action tokens (forward speed, yaw rate), as OpenVLA answers with seven.

- :mod:`.architecture` builds the tokenizer, processor, model and ``action_stats.json``;
- :mod:`rs_vla_guard.training` fine-tunes it (``python -m rs_vla_guard.training.builtin_tokens``);
- the weights live in ``rs_vla_guard/models/builtin_tokens`` and load through the action-token adapter
  (:mod:`rs_vla_guard.policies.action_tokens`) like any other action-token model directory.
"""
import os

from ..builtin import probes  # the block task's probe frames and instructions, as for the built-in VLM

MODEL_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "models",
                         "builtin_tokens")
POLICY_TYPE = "tokens"
__all__ = ["MODEL_DIR", "POLICY_TYPE", "probes"]
