"""Measures for the models' output: word error rate for speech recognition."""

from __future__ import annotations

import re
import unicodedata

_KEEP = re.compile(r"[^a-z0-9' ]+")
# Spoken forms of abbreviations that recognisers write abbreviated.
_SPOKEN = {"mr": "mister", "mrs": "missus", "dr": "doctor", "st": "saint"}


def normalize_words(text: str) -> list[str]:
    """Lower-case words without punctuation or accents, hyphens as spaces, so "Mister Dashwood,"
    and "mister dashwood" compare equal."""
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    text = _KEEP.sub(" ", text.lower().replace("-", " "))
    words = [w.strip("'") for w in text.split() if w.strip("'")]
    return [_SPOKEN.get(w, w) for w in words]


def word_error_rate(reference: str, hypothesis: str) -> float:
    """(substitutions + deletions + insertions) / reference words, by edit distance."""
    ref, hyp = normalize_words(reference), normalize_words(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    previous = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        current = [i] + [0] * len(hyp)
        for j, h in enumerate(hyp, 1):
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (r != h))
        previous = current
    return previous[-1] / len(ref)
