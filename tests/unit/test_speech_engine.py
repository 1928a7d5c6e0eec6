"""What the speech engine's process hands to espeak-ng: the rate embedded, no other command."""

from __future__ import annotations

import pytest

from publisher.channels.speech_engine import spoken_text


def test_the_rate_leads_the_text() -> None:
    assert spoken_text("请注意！", 175) == "\x01175S请注意！"


@pytest.mark.parametrize("smuggled", ["\x0150A", "\x01 3V", "\x00\x01\x1b[0m"])
def test_an_alerts_text_embeds_no_command(smuggled: str) -> None:
    spoken = spoken_text(f"Stay indoors.{smuggled} Keep away from rivers.", 160)
    assert spoken.startswith("\x01160S") and spoken.count("\x01") == 1
    assert not any(ord(char) < 32 for char in spoken[1:] if char not in "\n\t")


def test_line_breaks_and_tabs_stay() -> None:
    assert spoken_text("a\nb\tc", 175) == "\x01175Sa\nb\tc"
