"""The full-scale load run at a tiny size, so that it does not rot, and its reconciliation.

The run itself is checked for what it reports (every phase finished, no
target lost or duplicated, the chart written), never for how fast: the
figures are judged in docs/benchmarks.md. The reconciliation is also fed
records with a loss and a duplicate, which it must count.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from PIL import Image

from bench import full_run
from bench.full_run_plot import PLOT_SIZE
from bench.full_run_reconcile import sms_tally, tally
from publisher.sim.smsc_state import LoggedPart
from tests.services import POSTGRES_HOST, POSTGRES_PORT, require_rabbitmqctl, require_service

START = datetime(2026, 11, 29, 1, 0, tzinfo=UTC)


def test_a_tiny_city_gets_the_alert_its_update_and_its_cancel_once_each(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    require_rabbitmqctl()
    chart = tmp_path / "full_run.png"

    status = full_run.main(["--subscribers", "200", "--devices", "20", "--nodes", "2",
                            "--devices-per-node", "2", "--smsc-limit", "100", "--dlr-delay", "1",
                            "--phase-timeout", "180", "--out", str(chart)])

    output = capsys.readouterr().out
    assert status == 0, output
    assert f"machine: {os.cpu_count()} cores" in output
    for kind in ("Alert", "Update", "Cancel"):
        assert re.search(rf"^{kind}: every delivery final after", output, re.MULTILINE), output
        for channel, count in (("sms", 200), ("led", 10), ("speaker", 10), ("district", 2),
                               ("node boards", 4)):
            assert re.search(rf"{kind}\s+{channel}\s+{count} of {count} delivered; 50% [\d.]+ s",
                             output), output
        for channel, count in (("sms", 200), ("led \\+ speaker", 20), ("node boards", 4),
                               ("district nodes", 2)):
            assert re.search(rf"{kind}\s+{channel}\s+{count} expected, {count} received once,"
                             r" lost 0, duplicated 0, unexpected 0", output), output
    assert "lost targets: 0; duplicated (or unexpected) deliveries: 0" in output
    assert re.search(r"SMS sustained, Alert: [\d,]+ parts/s .* limit 400 parts/s", output)
    assert re.search(r"sms worker\s+\d+ MB", output) and re.search(r"web\s+\d+ MB", output)
    assert re.search(r"database size: \d+ MB", output)
    with Image.open(chart) as image:
        assert image.format == "PNG" and image.size == PLOT_SIZE


def _part(destination: str, accepted: datetime, *, reference: int | None = None,
          total: int | None = None, sequence: int | None = None) -> LoggedPart:
    return LoggedPart(message_id="1", system_id="publisher", source_addr="12379",
                      destination_addr=destination, data_coding=8, esm_class=0x40,
                      reference=reference, total=total, sequence=sequence, header_length=0,
                      short_message=b"x", accepted_at=accepted)


def test_the_reconciliation_counts_a_loss_a_duplicate_and_a_stranger() -> None:
    counted = tally(["a", "b", "c"], ["a", "a", "c", "z"])

    assert (counted.expected, counted.once, counted.lost, counted.duplicated,
            counted.unexpected) == (3, 1, 1, 1, 1)
    assert not counted.exact


def test_an_sms_missing_a_part_is_lost_and_one_with_a_part_twice_is_a_duplicate() -> None:
    later = START + timedelta(seconds=1)
    parts = [_part("8613800000001", later, reference=7, total=2, sequence=1),
             _part("8613800000002", later, reference=8, total=2, sequence=1),
             _part("8613800000002", later, reference=8, total=2, sequence=2),
             _part("8613800000002", later, reference=8, total=2, sequence=2),
             _part("8613800000003", later),
             # Accepted in the next phase: not counted in this one.
             _part("8613800000003", START + timedelta(seconds=10))]

    counted = sms_tally(parts, START, START + timedelta(seconds=5),
                        ["8613800000001", "8613800000002", "8613800000003"])

    assert (counted.once, counted.lost, counted.duplicated, counted.unexpected) == (1, 1, 1, 0)
