"""How the built-in policies are trained: offline scripts, never imported by what a robot runs.

- :mod:`.data`: the block task's training data (renderer scenes, MuJoCo camera views, noise curriculum);
- :mod:`.builtin`: the built-in VLM (``make train-builtin``);
- :mod:`.builtin_pi0`: the built-in pi0 (``make train-builtin-pi0``);
- :mod:`.builtin_tokens`: the built-in action-token VLM (``make train-builtin-tokens``);
- :mod:`.builtin_clip`: the built-in dual encoder (``make train-builtin-clip``).

Each runs as ``python -m rs_vla_guard.training.<name>`` and writes its weights into ``rs_vla_guard/models/``.
"""
