from __future__ import annotations

from publisher.services.waiting_ids import WaitingIds


def test_ids_wait_their_time_and_keeping_again_restarts_it() -> None:
    waiting = WaitingIds[str](seconds=10.0, limit=100)
    waiting.keep(["a", "b"], now=0.0)
    waiting.keep(["a"], now=5.0)

    assert waiting.expired(now=10.0) == ["b"]
    assert list(waiting) == ["a"] and "a" in waiting
    assert waiting.expired(now=15.0) == ["a"]
    assert len(waiting) == 0


def test_the_limit_pushes_out_the_oldest_and_says_which() -> None:
    waiting = WaitingIds[tuple[str, str]](seconds=10.0, limit=2)
    assert waiting.keep([("led", "1"), ("led", "2")], now=0.0) == []

    assert waiting.keep([("speaker", "3")], now=1.0) == [("led", "1")]
    waiting.discard([("led", "2")])
    assert list(waiting) == [("speaker", "3")]
