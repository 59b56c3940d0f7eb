"""Policies behind one protocol (:mod:`.base`), chosen by one factory (:mod:`.factory`).

Adapters: :mod:`.transformers_vlm` (image-text-to-text VLMs answering action phrases). Embedded
defaults: :mod:`.builtin` (the "go to the block" VLM, its architecture and its training script).
"""
