"""The user-facing commands: :mod:`.cli` (``rs-vla-guard``), :mod:`.demo`, :mod:`.bench`, and helpers."""
