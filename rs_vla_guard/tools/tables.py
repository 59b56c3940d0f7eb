"""Plain-text tables of decisions for the terminal (certify, demo --table)."""
from __future__ import annotations

from typing import Dict, List, Optional


def decision_row(name: str, instruction: str, truth: Optional[str], decision) -> Dict[str, str]:
    return {
        "scene": name, "instruction": instruction, "truth": truth or "",
        "action": decision.action, "candidate": decision.candidate or "-",
        "certified": "yes" if decision.certified else "no", "radius": f"{min(decision.radius, 99):.3f}",
        "samples": str(decision.n_samples), "latency_ms": f"{decision.latency_ms:.0f}", "reason": decision.reason,
    }


def format_table(rows: List[Dict[str, str]]) -> str:
    columns = [c for c in rows[0] if any(r[c] for r in rows)]
    widths = {c: max(len(c), *(len(r[c]) for r in rows)) for c in columns}
    lines = ["  ".join(c.ljust(widths[c]) for c in columns), "  ".join("-" * widths[c] for c in columns)]
    lines += ["  ".join(r[c].ljust(widths[c]) for c in columns) for r in rows]
    return "\n".join(lines)
