"""Closed-loop simulation in MuJoCo (headless on CPU with ``MUJOCO_GL=egl``); nothing else in the package
imports mujoco.

- :mod:`.world`: the arena (diff-drive robot with a forward camera, coloured blocks, contacts, ground truth);
- :mod:`.episodes`: seeded episodes, guarded vs unguarded, clean or attacked, and their figures;
- :mod:`.recording`: episode strips (GIF/PNG).
"""
