"""The early-warning journal in ``/metrics``: warnings the terminals got, not yet stored.

An entry lives for the moment its transaction commits (docs/eew.md,
"Published, then stored"); one that stays is a warning the center published
and the database does not hold yet, and one set aside unreadable needs a
person. Counting the directory costs a listing, so it is read at every
scrape.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from publisher.services.eew_journal import EewJournal

__all__ = ["EewJournalCollector"]


class EewJournalCollector(Collector):
    def __init__(self, journal: EewJournal) -> None:
        self._journal = journal

    def collect(self) -> Iterator[Metric]:
        waiting, unreadable = self._journal.counts()
        entries = GaugeMetricFamily(
            "publisher_eew_journal_entries",
            "Early warnings published to the terminals whose record is not in the database:"
            " waiting to be stored, or set aside unreadable.", labels=["state"])
        entries.add_metric(["waiting"], waiting)
        entries.add_metric(["unreadable"], unreadable)
        yield entries
