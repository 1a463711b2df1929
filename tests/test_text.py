"""Labels show what they hold: invisible characters are refused, emoji are not."""

from __future__ import annotations

import pytest

from app.text import hidden_character


@pytest.mark.parametrize(
    "text",
    [
        "Production backend",
        "Équipe données – prod",  # noqa: RUF001 - an en dash is visible text
        "本番 バックエンド",
        "CI 🚀",
        "👩‍💻 dev laptop",  # zero-width joiner inside an emoji sequence
        "❤️‍🔥 fire",  # with a variation selector before the joiner
        "👍🏽 ok",  # skin tone modifier
        "🏴󠁧󠁢󠁳󠁣󠁴󠁿 Scotland",  # subdivision flag: tag characters after a black flag
        "ft:gpt-4.1:acme::abc",
    ],
)
def test_visible_text_passes(text: str) -> None:
    assert hidden_character(text) is None


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("Prod\u202ebackend", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("\ufeffProd", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("Pro\u200bd", "U+200B ZERO WIDTH SPACE"),
        ("Prod\u2066x\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("a\u200db", "U+200D ZERO WIDTH JOINER"),  # a joiner between letters joins nothing
        ("\u200d👍", "U+200D ZERO WIDTH JOINER"),
        ("note\U000e0041\U000e0042", "U+E0041 TAG LATIN CAPITAL LETTER A"),  # hidden text
        ("line\u2028break", "U+2028 LINE SEPARATOR"),
        ("\u3164", "U+3164 HANGUL FILLER"),
        ("soft\u00adhyphen", "U+00AD SOFT HYPHEN"),
        ("tab\there", "U+0009 CONTROL CHARACTER"),
    ],
)
def test_invisible_characters_are_named(text: str, named: str) -> None:
    assert hidden_character(text) == named
