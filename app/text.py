"""Text people read as labels: notes, project names, names, model ids.

Labels are how people tell keys apart, so a label must show what it holds. Invisible format
characters break that: a right-to-left override (U+202E) makes `Prod backend` display as
something else, a zero-width space makes two notes that look alike differ, a byte order mark or
a tag character hides text altogether. They are refused. Emoji keep working: a zero-width joiner
between two visible characters (👩‍💻) and the tag characters that spell a subdivision flag after
a black flag (🏴󠁧󠁢󠁳󠁣󠁴󠁿) are part of what is shown.
"""

from __future__ import annotations

import unicodedata

ZERO_WIDTH_JOINER = "\u200d"
BLACK_FLAG = "\U0001f3f4"
CANCEL_TAG = "\U000e007f"
_TAGS = range(0xE0020, 0xE0080)
# Categories that are never visible: format, control, surrogate, private use, unassigned, and
# line or paragraph separators. (Ordinary spaces are Zs and stay.)
_HIDDEN_CATEGORIES = frozenset({"Cf", "Cc", "Cs", "Co", "Cn", "Zl", "Zp"})
# Letters that render as nothing (Hangul fillers), often used to fake a blank name.
_BLANK_LETTERS = frozenset({"\u115f", "\u1160", "\u3164", "\uffa0"})


def hidden_character(text: str) -> str | None:
    """The first character of `text` that would not show, as `U+XXXX NAME`, or None."""
    in_flag_tags = False
    for index, char in enumerate(text):
        if ord(char) in _TAGS and (in_flag_tags or _after_black_flag(text, index)):
            in_flag_tags = char != CANCEL_TAG
            continue
        in_flag_tags = False
        if char == ZERO_WIDTH_JOINER and _joins_two_symbols(text, index):
            continue
        if char in _BLANK_LETTERS or unicodedata.category(char) in _HIDDEN_CATEGORIES:
            return describe(char)
    return None


def describe(char: str) -> str:
    unnamed = "CONTROL CHARACTER" if unicodedata.category(char) == "Cc" else "UNASSIGNED"
    return f"U+{ord(char):04X} {unicodedata.name(char, unnamed)}"


def _after_black_flag(text: str, index: int) -> bool:
    return index > 0 and text[index - 1] == BLACK_FLAG


def _joins_two_symbols(text: str, index: int) -> bool:
    """A joiner inside an emoji sequence: visible, non-ASCII characters on both sides."""
    if index == 0 or index == len(text) - 1:
        return False
    before, after = text[index - 1], text[index + 1]
    return all(
        ord(char) > 0x7F and unicodedata.category(char) not in _HIDDEN_CATEGORIES
        for char in (before, after)
    )


def invisible_problem(text: str, what: str) -> str | None:
    """A userError message when `text` holds a character that would not show, else None."""
    hidden = hidden_character(text)
    if hidden is None:
        return None
    return f"The {what} holds a character that would not show ({hidden}); remove it."
