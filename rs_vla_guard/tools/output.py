"""What the commands print besides their results: nothing on stderr for a successful command by default.

Libraries that load models print progress bars and advisories (transformers' weight-loading bar and its
FutureWarnings, SVT-AV1's banner); :func:`quiet_libraries` turns them off unless ``--verbose``. Long work
(sim, replay) shows one progress bar, and only when stderr is a terminal (:func:`progress_bar`), so logs,
pipes and CI stay clean.
"""
from __future__ import annotations

import os
import sys
import warnings
from typing import Optional


def quiet_libraries(verbose: bool) -> None:
    """Library progress bars, advisories and warnings off (before any of them is imported), unless verbose."""
    if verbose:
        return
    for name, value in (("TRANSFORMERS_VERBOSITY", "error"), ("HF_HUB_DISABLE_PROGRESS_BARS", "1"),
                        ("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1"), ("SVT_LOG", "1"), ("TOKENIZERS_PARALLELISM", "false"),
                        ("RAY_DEDUP_LOGS", "0"), ("PYTHONWARNINGS", "ignore")):
        os.environ.setdefault(name, value)  # PYTHONWARNINGS: worker processes inherit it
    warnings.simplefilter("ignore")


def progress_wanted() -> bool:
    return sys.stderr.isatty() and not os.environ.get("RS_VLA_GUARD_NO_PROGRESS")


def progress_bar(label: str, unit: str, total: Optional[int] = None):
    """A tqdm bar on stderr, shown only on a terminal (a disabled bar otherwise)."""
    from tqdm import tqdm

    return tqdm(total=total, unit=unit, desc=label, file=sys.stderr, dynamic_ncols=True,
                disable=not progress_wanted())
