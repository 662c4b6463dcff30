"""Which characters text may hold, anywhere in the system.

PostgreSQL refuses NUL in text (and ``\\u0000`` in jsonb); the other control characters and
lone surrogates are never meant either: they come from broken feeds, transcripts and clients
and end up in titles, emails and search results. Tab, line feed and carriage return are text.
One definition, at the bottom of the layers, for the API's edge check and for the cleaning of
feeds and transcripts before they are stored.
"""

from __future__ import annotations

import re

# C0 controls but tab, LF and CR; DEL; C1 controls; UTF-16 surrogates (never valid alone).
DISALLOWED = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")


def has_disallowed(text: str) -> bool:
    return DISALLOWED.search(text) is not None


def without_controls(text: str) -> str:
    """``text`` with every disallowed character removed."""
    return DISALLOWED.sub("", text)
