"""Prompts and the JSON schemas answers must follow.

The transcript comes first and the instruction last (small models follow the most recent
text best). Schemas bound every length, and backends that support it decode under them.
"""

from __future__ import annotations

from typing import Any

Message = dict[str, str]

SUMMARY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["summary", "topics"],
    "properties": {
        "summary": {"type": "string", "minLength": 40, "maxLength": 700},
        "topics": {
            "type": "array",
            "minItems": 1,
            "maxItems": 6,
            "items": {"type": "string", "minLength": 2, "maxLength": 48},
        },
    },
}

CHAPTER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["title"],
    "properties": {"title": {"type": "string", "minLength": 3, "maxLength": 90}},
}

_SYSTEM = (
    "You summarize podcast episodes for listeners. Use only what the transcript says; do not "
    "invent names, numbers or claims. Answer with JSON only."
)


def _wrap(text: str, instruction: str) -> list[Message]:
    return [
        {"role": "system", "content": _SYSTEM},
        {"role": "user", "content": f'Transcript:\n"""\n{text}\n"""\n\n{instruction}'},
    ]


def summary_messages(transcript: str, title: str | None) -> list[Message]:
    about = f' of the episode "{title}"' if title else ""
    return _wrap(
        transcript,
        f"Write a summary{about} in 2 to 4 sentences and list its 3 to 6 key topics as short "
        'noun phrases. Answer as {"summary": "...", "topics": ["...", ...]}.',
    )


def part_messages(part: str, index: int, count: int) -> list[Message]:
    return _wrap(
        part,
        f"This is part {index + 1} of {count} of an episode. Summarize this part in 2 to 3 "
        'sentences and list its key topics. Answer as {"summary": "...", "topics": ["..."]}.',
    )


def combine_messages(part_summaries: list[str], title: str | None) -> list[Message]:
    joined = "\n".join(f"Part {i + 1}: {s}" for i, s in enumerate(part_summaries))
    about = f' "{title}"' if title else ""
    return [
        {"role": "system", "content": _SYSTEM},
        {
            "role": "user",
            "content": f'Summaries of consecutive parts of the episode{about}:\n"""\n{joined}\n"""'
            "\n\nCombine them into one summary of the whole episode in 2 to 4 sentences and list "
            'its 3 to 6 key topics. Answer as {"summary": "...", "topics": ["..."]}.',
        },
    ]


def chapter_messages(section: str) -> list[Message]:
    return _wrap(
        section,
        "Give this section of a podcast episode a one-line title of at most 12 words that says "
        'what is discussed. Answer as {"title": "..."}.',
    )
