"""The SMSC drops the bind in the middle of a window, then throttles the new bind.

A worker sends an alert to every subscriber through the SMSC simulator with
a window of parts outstanding; the simulator cuts every connection at once
and from then on answers ESME_RTHROTTLED above a third of the rate the
route is contracted for. The bind comes back by itself, resubmits the parts
whose answers it lost, and slows to what the SMSC takes.

A part resubmitted after its answer was lost may reach the handset twice:
SMPP cannot tell. Such a copy is never silent: the case checks that each one
the SMSC logged is counted on its delivery row (``duplicates``).
"""

from __future__ import annotations

from dataclasses import replace

from publisher.channels.base import DeliveryStatus
from publisher.sim.smsc import SimulatorThread
from tests.e2e.worker_support import stop
from tests.faults.case_support import installation
from tests.faults.installation import FaultInstallation
from tests.faults.sms_case import SMS_QUEUES, sms_alert
from tests.integration.sms_support import StartSmsc, smsc_factory

__all__ = ["installation", "smsc_factory"]

SUBSCRIBERS = 400
BATCH = 50
WINDOW = 20
SMS_RATE = 300.0
# Parts a second the SMSC takes once it throttles, with a burst of a tenth of that.
THROTTLED_RATE = 100.0
THROTTLE_BURST = 10.0
STARTED_SECONDS = 60.0
RECOVERY_SECONDS = 75.0


def _throttle(smsc: SimulatorThread) -> None:
    """From now on each new bind gets a bucket of ``THROTTLED_RATE`` parts a second."""
    simulator = smsc.simulator

    async def throttled() -> None:
        simulator.config = replace(simulator.config, max_parts_per_second=THROTTLED_RATE,
                                   throttle_burst=THROTTLE_BURST)

    smsc.submit(throttled).result(5.0)


def test_smsc_drops_the_bind_mid_window_then_throttles(installation: FaultInstallation,
                                                       smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory(dlr_delay=0.2, receipt_retry_interval=1.0)
    alert = sms_alert(installation, smsc, SUBSCRIBERS, batch_size=BATCH, rate=SMS_RATE,
                      window=WINDOW)

    worker = installation.start_worker("worker", SMS_QUEUES)
    try:
        installation.wait(lambda: alert.taken() >= 2 * BATCH, STARTED_SECONDS,
                          "the SMSC to take two batches", alert.state)
        _throttle(smsc)
        smsc.drop_binds()
        at_drop = alert.ledger().parts
        alert.await_settled(RECOVERY_SECONDS)
    finally:
        stop(worker)

    ledger = alert.ledger()
    assert ledger.with_status(DeliveryStatus.DELIVERED) == alert.numbers
    assert all(ledger.received(number) for number in alert.numbers)
    assert ledger.incomplete == []
    # Only parts outstanding at the drop can come twice, and each copy is on its row.
    assert sum(ledger.duplicated.values()) <= WINDOW
    for number, extra in ledger.duplicated.items():
        assert ledger.rows[number].duplicates >= extra, number
    # The rest went out at the throttled rate: the SMSC's throttling was in force.
    part_log = smsc.part_log()
    try:
        after = [part.accepted_at for part in part_log.parts()[at_drop:]]
    finally:
        part_log.close()
    assert len(after) > 2 * THROTTLE_BURST, "the alert was out before the drop"
    elapsed = (after[-1] - after[0]).total_seconds()
    assert elapsed >= (len(after) - THROTTLE_BURST) / THROTTLED_RATE * 0.9
