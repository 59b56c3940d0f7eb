"""Tasks the built-in policies are trained on and tested with (numpy only).

:mod:`.blocks` is the "go to the <colour> block" task: a renderer, its ground truth, random scenes
for training and evaluation, and the probes of the configure-time sensitivity check.
"""
