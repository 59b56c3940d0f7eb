"""Text that reaches messages and logs from outside (encodings, errors, instructions): bounded and
escaped, so no input can make the guard reflect megabytes or terminal control sequences."""
from __future__ import annotations

DETAIL_CHARS = 200  # the most characters of any reflected text in a certificate, diagnostics or a log line


def printable(text: object, limit: int = DETAIL_CHARS) -> str:
    """``text`` with non-printable characters escaped (``\\x1b``, ``\\n``) and cut to ``limit`` characters,
    saying how much was left out."""
    text = str(text)
    if text.isprintable() and len(text) <= limit:
        return text
    escaped = "".join(c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text[:limit])
    if len(escaped) > limit or len(text) > limit:
        return escaped[:limit] + f"... ({len(text)} characters)"
    return escaped
