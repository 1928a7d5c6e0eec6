from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from publisher.channels import (
    Channel,
    OutgoingMessage,
    ParsedReceipt,
    SendResult,
    TargetRef,
    UnknownChannelError,
    available_channels,
    channel_class,
    create_channel,
    register_channel,
)
from publisher.channels.base import ReceiptError
from publisher.channels.memory import MemoryChannel
from publisher.channels.registry import ENTRY_POINT_GROUP


class _Loudspeaker(Channel[str]):
    name = "loudspeaker-test"

    def render(self, message: OutgoingMessage, language: str) -> str:
        return message.identifier

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return []

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        raise ReceiptError("raw", "this channel takes no receipts")


def test_memory_channel_is_built_in() -> None:
    assert "memory" in available_channels()
    assert channel_class("memory") is MemoryChannel
    assert isinstance(create_channel("memory", {"acknowledge": False}), MemoryChannel)


@pytest.mark.parametrize(("typo", "suggestion"), [("memroy", "'memory'"), ("Memory", "'memory'")])
def test_a_typo_gets_did_you_mean(typo: str, suggestion: str) -> None:
    with pytest.raises(UnknownChannelError) as caught:
        channel_class(typo)
    assert f"did you mean {suggestion}" in str(caught.value)
    assert str(caught.value).startswith("channel: unknown channel")


def test_an_unrelated_name_lists_the_known_channels() -> None:
    with pytest.raises(UnknownChannelError, match=r"known: .*memory"):
        channel_class("zzzzzzzz")


def test_a_registered_class_is_found_by_its_name() -> None:
    register_channel(_Loudspeaker)
    assert channel_class("loudspeaker-test") is _Loudspeaker
    assert "loudspeaker-test" in available_channels()


def test_a_taken_name_is_refused() -> None:
    impostor = type("Impostor", (_Loudspeaker,), {"name": "memory"})
    channel_class("memory")
    with pytest.raises(ValueError, match="taken by MemoryChannel"):
        register_channel(impostor)


def test_the_entry_point_group_is_the_documented_one() -> None:
    assert ENTRY_POINT_GROUP == "publisher.channels"
