"""The targets of every channel held in memory, so an early warning is planned without a scan.

``TargetIndex.refresh`` reads the active targets of each channel once
(district code, location, test flag, followed districts) and swaps the new
snapshot in whole; the lane refreshes it in the background every
``REFRESH_SECONDS``, or ``REFRESH_COST_RATIO`` times as long as the last
refresh took if that is longer (a million targets take seconds to read,
and the worker's fan-outs need the core more than the index needs to
drop a deactivated target sooner). ``reached`` answers which targets a message's areas
reach, with the rules of ``publisher.services.targets`` (a district code
names the districts nested in it; followers of a district or of one around
it; located targets inside a polygon or circle, or without a code inside a
named district), and names the district each is reached in: the one whose
countdown it gets. Targets added since the snapshot are read before
each warning is planned (``catch_up``: one probe of the primary key when
there are none); a target deactivated since is skipped when its delivery is
sent, and the next refresh drops it.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable
from publisher.services.targets import AreaSelection
from publisher.store.models import Target, TargetDistrict

__all__ = ["REFRESH_COST_RATIO", "REFRESH_SECONDS", "ChannelTargets", "Reached", "TargetIndex"]

REFRESH_SECONDS = 30.0
REFRESH_COST_RATIO = 20


@dataclass(frozen=True, slots=True)
class Reached:
    target_id: int
    district_code: str | None


@dataclass(frozen=True, slots=True)
class ChannelTargets:
    ids: np.ndarray
    """Target ids, ascending."""
    codes: tuple[str | None, ...]
    is_test: np.ndarray
    lons: np.ndarray
    lats: np.ndarray
    by_code: dict[str, np.ndarray]
    """Positions of the targets whose own district is the key."""
    followers: dict[str, np.ndarray]
    """Positions of the targets following the district that is the key."""

    @classmethod
    def read(cls, session: Session, channel: str) -> ChannelTargets:
        rows = session.execute(
            select(Target.id, Target.district_code, Target.lon, Target.lat, Target.is_test)
            .where(Target.channel == channel, Target.active.is_(True)).order_by(Target.id)).all()
        ids = np.fromiter((row.id for row in rows), dtype=np.int64, count=len(rows))
        codes = tuple(row.district_code for row in rows)
        by_code: dict[str, list[int]] = defaultdict(list)
        for position, code in enumerate(codes):
            if code is not None:
                by_code[code].append(position)
        followers: dict[str, list[int]] = defaultdict(list)
        for target_id, code in session.execute(
                select(TargetDistrict.target_id, TargetDistrict.district_code)
                .join(Target, Target.id == TargetDistrict.target_id)
                .where(Target.channel == channel, Target.active.is_(True))):
            followers[code].append(int(np.searchsorted(ids, target_id)))
        return cls(
            ids=ids, codes=codes,
            is_test=np.fromiter((bool(row.is_test) for row in rows), dtype=bool,
                                count=len(rows)),
            lons=np.array([np.nan if row.lon is None else row.lon for row in rows], dtype=float),
            lats=np.array([np.nan if row.lat is None else row.lat for row in rows], dtype=float),
            by_code={code: np.array(positions, dtype=np.int64)
                     for code, positions in by_code.items()},
            followers={code: np.array(positions, dtype=np.int64)
                       for code, positions in followers.items()})

    def reached(self, selection: AreaSelection, *, test_only: bool,
                districts: DistrictTable | None) -> list[Reached]:
        district_of: dict[int, str | None] = {}
        for code, positions in self.by_code.items():
            if any(code.startswith(prefix) for prefix in selection.code_prefixes):
                district_of.update(dict.fromkeys(positions.tolist(), code))
        for code, positions in self.followers.items():
            if code in selection.enclosing_codes or any(
                    code.startswith(prefix) for prefix in selection.code_prefixes):
                for position in positions.tolist():
                    district_of.setdefault(position, code)
        located = np.flatnonzero(~np.isnan(self.lons))
        candidates = [position for position in located.tolist() if position not in district_of]
        if candidates:
            inside = selection.reached_by_location(
                candidates, [self.codes[position] for position in candidates],
                self.lons[candidates].tolist(), self.lats[candidates].tolist())
            for position in inside:
                district_of[position] = self.codes[position] or _containing(
                    districts, float(self.lons[position]), float(self.lats[position]))
        return [Reached(int(self.ids[position]), code)
                for position, code in sorted(district_of.items())
                if not test_only or self.is_test[position]]


def _latest_target(session: Session) -> int:
    return session.scalar(select(func.max(Target.id))) or 0


def _containing(districts: DistrictTable | None, lon: float, lat: float) -> str | None:
    found = districts.containing(lon, lat) if districts is not None else None
    return found.code if found is not None else None


class TargetIndex:
    """The snapshot of each channel's targets, swapped whole by each refresh."""

    def __init__(self, sessions: sessionmaker[Session], channels: Sequence[str]) -> None:
        self.sessions = sessions
        self.channels = tuple(channels)
        self._snapshot: dict[str, ChannelTargets] = {}
        self._lock = threading.Lock()
        self._latest = 0
        self.refreshed_at: float | None = None

    def refresh(self) -> float:
        """Read every channel's targets again; returns how long it took, in seconds."""
        started = time.perf_counter()
        with self.sessions() as session:
            latest = _latest_target(session)
            snapshot = {channel: ChannelTargets.read(session, channel)
                        for channel in self.channels}
        with self._lock:
            self._snapshot = snapshot
            self._latest = latest
            self.refreshed_at = time.monotonic()
        return time.perf_counter() - started

    def catch_up(self) -> list[str]:
        """Read again the channels that have targets newer than the snapshot; which ones.

        One probe of the targets' primary key when there are none, as there
        mostly are not: what the periodic refresh would find only later (a
        board registered a moment ago) is in the index before a warning is
        planned. Deactivated targets are left to the refresh: a delivery to
        one is skipped when it is sent.
        """
        with self.sessions() as session:
            latest = _latest_target(session)
            if latest <= self._latest:
                return []
            added = set(session.scalars(select(Target.channel).where(
                Target.id > self._latest).distinct())) & set(self.channels)
            read = {channel: ChannelTargets.read(session, channel) for channel in added}
        with self._lock:
            self._snapshot = {**self._snapshot, **read}
            self._latest = latest
        return sorted(added)

    def targets(self, channel: str) -> ChannelTargets | None:
        with self._lock:
            return self._snapshot.get(channel)
