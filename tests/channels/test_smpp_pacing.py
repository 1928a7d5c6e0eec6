"""The pacer of one SMPP bind, on a simulated clock: spacing, bursts, throttle back-off."""

from __future__ import annotations

import itertools

import pytest

from publisher.channels.smpp_pacing import Pacer, PacingPolicy, default_burst


def _send_times(pacer: Pacer, start: float, seconds: float) -> list[float]:
    """When parts leave a bind that always has work, waking exactly when the pacer says."""
    now, sent = start, []
    while now < start + seconds:
        wait = pacer.wait(now)
        if wait > 0:
            now += wait
            continue
        pacer.take(now)
        sent.append(now)
    return sent


@pytest.mark.parametrize("rate", [1.0, 200.0, 500.0, 5000.0])
def test_a_busy_bind_sends_at_the_contracted_rate(rate: float) -> None:
    sent = _send_times(Pacer(rate), 0.0, 10.0)
    assert abs(len(sent) - rate * 10) <= default_burst(rate) + 1


def test_late_wake_ups_are_made_up_without_a_burst() -> None:
    pacer, now, sent = Pacer(200.0), 0.0, []
    while now < 10.0:
        wait = pacer.wait(now)
        if wait > 0:
            now += wait + 0.0008  # every wake-up 0.8 ms late, a sixth of the gap
            continue
        pacer.take(now)
        sent.append(now)
    assert len(sent) >= 0.99 * 2000
    gaps = [later - earlier for earlier, later in itertools.pairwise(sent)]
    assert min(gaps) > 0.0


def test_after_idling_only_the_burst_leaves_at_once() -> None:
    pacer = Pacer(200.0, burst=2.0)
    pacer.wait(60.0)
    at_once = 0
    while pacer.wait(60.0) == 0:
        pacer.take(60.0)
        at_once += 1
    assert at_once == 2


def test_a_throttle_pauses_and_the_pause_doubles_up_to_one_second() -> None:
    pacer = Pacer(100.0)
    pauses = []
    now = 0.0
    for _ in range(9):
        pacer.throttled(now, sent_at=now)
        pauses.append(round(pacer.wait(now), 3))
        now += pauses[-1]
    assert pauses == [0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.0, 1.0, 1.0]


def test_throttles_of_parts_sent_before_the_last_throttle_are_one_episode() -> None:
    pacer = Pacer(100.0)
    pacer.throttled(1.0, sent_at=0.99)
    lowered = pacer.rate(1.0)
    for answer in range(9):  # the rest of the same window, all throttled
        pacer.throttled(1.0 + answer * 0.001, sent_at=0.995)
    assert pacer.rate(1.01) == lowered == 70.0
    assert pacer.wait(1.01) == pytest.approx(0.01)


def test_an_accepted_part_sent_after_the_throttle_restarts_the_back_off() -> None:
    pacer = Pacer(100.0)
    pacer.throttled(1.0, sent_at=1.0)
    pacer.throttled(1.1, sent_at=1.05)
    pacer.accepted(1.2, sent_at=1.0)  # sent before: proves nothing
    pacer.throttled(1.3, sent_at=1.25)
    assert pacer.wait(1.3) == pytest.approx(0.08)
    pacer.accepted(1.5, sent_at=1.4)
    pacer.throttled(1.6, sent_at=1.55)
    assert pacer.wait(1.6) == pytest.approx(0.02)


def test_the_rate_drops_holds_and_recovers_linearly() -> None:
    policy = PacingPolicy(decrease_factor=0.5, hold_seconds=1.0, recovery_seconds=2.0)
    pacer = Pacer(200.0, policy=policy)
    pacer.throttled(10.0, sent_at=10.0)
    assert pacer.rate(10.5) == 100.0
    assert pacer.rate(11.0) == 100.0
    assert pacer.rate(12.0) == pytest.approx(150.0)
    assert pacer.rate(13.0) == 200.0
    pacer.accepted(13.0, sent_at=12.9)
    assert pacer.rate(20.0) == 200.0


def test_repeated_throttles_never_push_the_rate_below_its_floor() -> None:
    pacer = Pacer(200.0, policy=PacingPolicy(floor_fraction=0.2))
    for step in range(20):
        pacer.throttled(step * 0.1, sent_at=step * 0.1)
    assert pacer.rate(2.0) == 40.0


def test_the_paced_rate_after_a_throttle_is_the_lowered_rate() -> None:
    pacer = Pacer(100.0, policy=PacingPolicy(decrease_factor=0.5, hold_seconds=5.0))
    pacer.throttled(0.0, sent_at=0.0)
    sent = _send_times(pacer, 0.0, 4.0)
    assert abs(len(sent) - 4.0 * 50) <= 2


@pytest.mark.parametrize(("arguments", "message"), [
    ({"backoff_initial": 0.0}, "backoff_initial"),
    ({"backoff_initial": 2.0}, "backoff_initial"),
    ({"decrease_factor": 1.5}, "decrease_factor"),
    ({"floor_fraction": 0.0}, "floor_fraction"),
    ({"recovery_seconds": 0.0}, "recovery_seconds"),
])
def test_an_impossible_policy_is_refused_naming_the_field(arguments: dict[str, float],
                                                          message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PacingPolicy(**arguments)


def test_a_rate_or_burst_that_cannot_pace_is_refused() -> None:
    with pytest.raises(ValueError, match="rate"):
        Pacer(0.0)
    with pytest.raises(ValueError, match="burst"):
        Pacer(10.0, burst=0.5)
