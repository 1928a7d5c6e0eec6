from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from publisher.cap.model import Status
from publisher.channels import (
    DeliveryStatus,
    OutgoingMessage,
    ReceiptError,
    TargetRef,
    TransientChannelError,
)
from publisher.channels.memory import MemoryChannel, MemorySink
from publisher.sample_alert import rainstorm_red_warning


@pytest.fixture(scope="module")
def message() -> OutgoingMessage:
    alert = rainstorm_red_warning(datetime(2026, 7, 1, 3, 0, tzinfo=UTC), status=Status.TEST)
    return OutgoingMessage(7, alert, b"<alert/>", "Alert", "Test")


def _targets(*addresses: str, first: int = 1) -> list[TargetRef]:
    return [TargetRef(first + index, 100 + index, address, "zh-CN", True)
            for index, address in enumerate(addresses)]


def test_send_delivers_into_the_sink(message: OutgoingMessage) -> None:
    channel = MemoryChannel()
    results = channel.send(message, _targets("a", "b"))
    assert [(result.delivery_id, result.provider_id, result.status) for result in results] == [
        (1, "memory-1", DeliveryStatus.DELIVERED), (2, "memory-2", DeliveryStatus.DELIVERED)]
    entries = channel.sink.entries()
    assert [(entry.address, entry.kind, entry.message_id) for entry in entries] == [
        ("a", "alert", 7), ("b", "alert", 7)]
    assert "暴雨红色预警" in entries[0].text


def test_a_repeated_delivery_id_is_absorbed_and_counted(message: OutgoingMessage) -> None:
    channel = MemoryChannel()
    channel.send(message, _targets("a", "b"))
    channel.send(message, _targets("a", "b", "c"))
    assert channel.sink.count() == 3
    assert channel.sink.repeats() == 2


def test_the_file_sink_is_shared_across_instances(tmp_path: Path,
                                                 message: OutgoingMessage) -> None:
    sink = tmp_path / "sink.db"
    MemoryChannel({"sink": str(sink)}).send(message, _targets("a"))
    MemoryChannel({"sink": str(sink)}).send(message, _targets("a", "b"))
    reader = MemorySink(sink)
    assert (reader.count(), reader.repeats()) == (2, 1)


def test_unacknowledged_deliveries_are_only_sent(message: OutgoingMessage) -> None:
    [result] = MemoryChannel({"acknowledge": False}).send(message, _targets("a"))
    assert result.status is DeliveryStatus.SENT


def test_a_rejected_address_fails_alone(message: OutgoingMessage) -> None:
    channel = MemoryChannel()
    results = channel.send(message, _targets("reject:nobody", "b"))
    assert [result.status for result in results] == [DeliveryStatus.FAILED,
                                                     DeliveryStatus.DELIVERED]
    assert results[0].error == "rejected: no such address"
    assert [entry.address for entry in channel.sink.entries()] == ["b"]


def test_transient_failures_then_success(message: OutgoingMessage) -> None:
    channel = MemoryChannel({"transient_failures": 2})
    for _ in range(2):
        with pytest.raises(TransientChannelError):
            channel.send(message, _targets("a"))
    assert channel.sink.count() == 0
    assert channel.send(message, _targets("a"))[0].status is DeliveryStatus.DELIVERED


def test_cancel_is_recorded_as_such(message: OutgoingMessage) -> None:
    channel = MemoryChannel()
    channel.cancel(message, _targets("a"))
    assert channel.sink.entries()[0].kind == "cancel"


def test_render_picks_the_language_and_falls_back(message: OutgoingMessage) -> None:
    channel = MemoryChannel()
    assert channel.render(message, "en-US").startswith("Beijing Meteorological Observatory")
    assert channel.render(message, "fr-FR") == channel.render(message, "zh-CN")


@pytest.mark.parametrize(("raw", "status"), [
    ({"provider_id": "memory-3", "status": "delivered"}, DeliveryStatus.DELIVERED),
    ({"provider_id": "memory-3", "status": "failed", "detail": "UNDELIV"}, DeliveryStatus.FAILED),
    ({"provider_id": "memory-3", "status": "expired"}, DeliveryStatus.EXPIRED),
    ({"provider_id": "memory-3", "status": "sent"}, DeliveryStatus.SENT),
])
def test_receipts_are_parsed(raw: dict[str, Any], status: DeliveryStatus) -> None:
    parsed = MemoryChannel().parse_receipt(raw)
    assert (parsed.provider_id, parsed.status) == ("memory-3", status)


@pytest.mark.parametrize(("raw", "field"), [
    ({}, "provider_id"),
    ({"provider_id": 3, "status": "delivered"}, "provider_id"),
    ({"provider_id": "sms-3", "status": "delivered"}, "provider_id"),
    ({"provider_id": "memory-3"}, "status"),
    ({"provider_id": "memory-3", "status": "queued"}, "status"),
    ({"provider_id": "memory-3", "status": ["delivered"]}, "status"),
])
def test_malformed_receipts_name_the_field(raw: dict[str, Any], field: str) -> None:
    with pytest.raises(ReceiptError) as caught:
        MemoryChannel().parse_receipt(raw)
    assert caught.value.field == field


def test_only_a_channel_idempotent_by_delivery_id_may_take_its_first_batch_inline() -> None:
    assert MemoryChannel.inline_first_batch and MemoryChannel.idempotent_by_delivery_id
    with pytest.raises(TypeError, match="inline_first_batch requires idempotent_by_delivery_id"):
        type("Forgetful", (MemoryChannel,), {"idempotent_by_delivery_id": False})
