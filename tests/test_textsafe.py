"""printable(): agent text reaches the terminal as visible characters, never as controls."""

from __future__ import annotations

import json
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agentwatch.textsafe import json_safe, printable

TERMINAL_ACTIVE = {chr(code) for code in [*range(0x20), 0x7F, *range(0x80, 0xA0)]}
BIDI_CONTROLS = [chr(c) for c in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F, 0x061C]]


def assert_inert(text: str) -> None:
    """Nothing a terminal would act on, and nothing invisible that reorders or hides text."""
    for char in text:
        assert char not in TERMINAL_ACTIVE, repr(char)
        assert unicodedata.category(char) not in ("Cc", "Cf", "Zl", "Zp", "Cs") or char in "\u200c\u200d", (
            repr(char)
        )


def test_csi_colour_and_cursor_sequences_become_visible() -> None:
    text = "\x1b[31mred\x1b[0m \x1b[2J\x1b[H"
    assert printable(text) == "␛[31mred␛[0m ␛[2J␛[H"


def test_osc_window_title_is_shown_not_set() -> None:
    assert printable("\x1b]0;pwned\x07ok") == "␛]0;pwned␇ok"
    assert printable("\x1b]2;title\x1b\\") == "␛]2;title␛\\"


def test_osc8_hyperlink_is_shown_as_text() -> None:
    link = "\x1b]8;;https://evil.example/\x1b\\click\x1b]8;;\x1b\\"
    out = printable(link)
    assert_inert(out)
    assert "https://evil.example/" in out and "click" in out


def test_osc52_clipboard_write_is_defused() -> None:
    out = printable("\x1b]52;c;cm0gLXJmIH4=\x07")
    assert out == "␛]52;c;cm0gLXJmIH4=␇"


def test_dcs_and_apc_strings_are_defused() -> None:
    assert printable("\x1bPq#0;2;0;0;0\x1b\\") == "␛Pq#0;2;0;0;0␛\\"
    assert printable("\x1b_Gf=100;AAAA\x1b\\") == "␛_Gf=100;AAAA␛\\"


def test_c1_controls_become_backslash_escapes() -> None:
    for code in range(0x80, 0xA0):
        assert printable(f"a{chr(code)}b") == f"a\\x{code:02x}b"
    assert printable("\x9b31m") == "\\x9b31m"  # 8-bit CSI


@pytest.mark.parametrize("char", BIDI_CONTROLS)
def test_bidi_overrides_and_isolates_become_visible(char: str) -> None:
    out = printable(f"user{char}gnp.exe")
    assert char not in out
    assert f"\\u{ord(char):04x}" in out


def test_trojan_source_line_reads_as_stored() -> None:
    out = printable("access = 'user\u202e \u2066// admin\u2069 \u2066'")
    assert_inert(out)


def test_nul_del_and_other_c0_become_control_pictures() -> None:
    assert printable("a\x00b") == "a␀b"
    assert printable("a\x7fb") == "a␡b"
    assert printable("\x07\x08\x0c") == "␇␈␌"


def test_tab_becomes_space_and_line_breaks_stay_visible_on_one_line() -> None:
    assert printable("a\tb") == "a b"
    assert printable("one\ntwo\r\nthree") == "one␤two␍␤three"
    assert printable("x\u2028y\u2029z") == "x\\u2028y\\u2029z"


def test_invisible_format_characters_and_tag_smuggling_are_revealed() -> None:
    assert printable("a\u200bb\ufeff") == "a\\u200bb\\ufeff"
    assert printable("hi\U000e0041\U000e0042") == "hi\\U000e0041\\U000e0042"


def test_lone_surrogates_cannot_break_terminal_encoding() -> None:
    out = printable("bad \udcff byte")
    assert out == "bad \\udcff byte"
    out.encode("utf-8")


@pytest.mark.parametrize(
    "text",
    [
        "plain ascii line: tokens=1200 latency=420ms",
        "[bold red]not markup[/] {braces} \\backslash",
        "日本語のログメッセージ、中文日志, 한국어",
        "emoji 🚀🔥 family 👨\u200d👩\u200d👧 flag 🇫🇷 skin 👍🏽 vs ❤️",
        "combining: e\u0301 a\u0308 n\u0303 — Zalgo z\u0336\u0317a\u0334",
        "nbsp\u00a0and ideographic\u3000space",
        "",
    ],
)
def test_plain_and_unicode_text_is_unchanged(text: str) -> None:
    assert printable(text) == text


def test_printable_text_is_returned_without_copy() -> None:
    text = "ok " * 100
    assert printable(text) is text


@given(st.text())
def test_any_text_comes_out_inert_and_idempotent(text: str) -> None:
    out = printable(text)
    assert_inert(out)
    assert printable(out) == out


@given(st.dictionaries(st.text(), st.text()))
def test_json_safe_keeps_the_value_and_hides_terminal_controls(value: dict[str, str]) -> None:
    encoded = json.dumps(value, ensure_ascii=False)
    safe = json_safe(encoded)
    assert json.loads(safe) == value
    for char in safe:
        assert char not in TERMINAL_ACTIVE
        assert unicodedata.category(char) not in ("Cf", "Zl", "Zp") or char in "\u200c\u200d"
