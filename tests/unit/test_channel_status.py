from __future__ import annotations

import pytest

from publisher.channels.base import DeliveryStatus
from publisher.store import models

S = DeliveryStatus


@pytest.mark.parametrize(("status", "final", "handed_over"), [
    (S.PENDING, False, False), (S.QUEUED, False, False), (S.SENDING, False, False),
    (S.SENT, False, True), (S.DELIVERED, True, True), (S.FAILED, True, True),
    (S.EXPIRED, True, True), (S.SKIPPED, True, True),
])
def test_final_and_handed_over(status: DeliveryStatus, final: bool, handed_over: bool) -> None:
    assert (status.is_final, status.was_handed_over) == (final, handed_over)


def test_ranks_only_go_forward_to_final() -> None:
    assert S.PENDING.rank < S.QUEUED.rank < S.SENDING.rank < S.SENT.rank < S.DELIVERED.rank
    assert {status.rank for status in S if status.is_final} == {S.DELIVERED.rank}


def test_the_store_uses_the_channel_contracts_status() -> None:
    assert models.DeliveryStatus is DeliveryStatus
