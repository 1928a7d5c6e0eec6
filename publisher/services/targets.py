"""Who a message reaches on one channel: targets by district code and by location.

A target is reached when
- a GB/T 2260 geocode of the message names its district (110000 names the
  whole city, 110100 every district whose code starts 1101), or
- it follows districts (a subscriber's number: rows of ``target_districts``)
  and a geocode names one of them, or names a district within one of them
  (a number following 110000 follows the whole city), or
- it has a location inside one of the message's polygons or circles, or
- it has a location but no district code, and lies inside the boundary of a
  district a geocode names (when a district table is given).

However many of its districts a message names, a target is reached once.

Only Actual messages reach every target: Exercise, Test, System and Draft
reach targets marked as test targets, and nothing else, whatever the area.

District codes are matched in SQL, so that planning can write the
deliveries of those targets without reading them (see
``publisher.services.delivery``); locations are matched here, on a SQL
superset narrowed by bounding boxes, a page of points at a time against the
prepared area in one vectorised call, never point by point in Python. The
box has already done what an STRtree of a page would do, and building one
per page costs more than the test itself (docs/benchmarks.md, device
targeting); ``publisher.cap.areas.AreaIndex`` is for points kept in memory
and queried by many areas. A point on an area's boundary is inside it.
Targets are read page by page in id order (keyset pagination), so memory
stays flat however many there are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry
from sqlalchemy import ColumnElement, and_, exists, false, not_, or_, select
from sqlalchemy.orm import Session

from publisher.cap.areas import area_geometry
from publisher.cap.districts import DistrictTable, is_gb_t_2260
from publisher.cap.model import Alert, Area, Status
from publisher.store.models import Target, TargetDistrict

__all__ = [
    "AreaSelection",
    "eligible_targets",
    "reaches_only_test_targets",
    "select_located_target_ids",
]

_CODE_LENGTH = 6


def reaches_only_test_targets(status: str) -> bool:
    """Only an Actual message may reach targets that are not test targets."""
    return status != Status.ACTUAL.value


def _code_prefix(code: str) -> str:
    # GB/T 2260 codes nest: 110000 is the municipality, 1101xx its districts.
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


def _enclosing_codes(code: str) -> set[str]:
    """The units that contain the unit ``code``: 110000 and 110100 for 110105."""
    return {code[:2] + "0000", code[:4] + "00"} - {code}


def _union(geometries: list[BaseGeometry]) -> BaseGeometry | None:
    present = [geometry for geometry in geometries if not geometry.is_empty]
    if not present:
        return None
    union = shapely.union_all(present)
    shapely.prepare(union)
    return union


@dataclass(frozen=True, slots=True)
class AreaSelection:
    """The areas of a message reduced to what a target query needs."""

    code_prefixes: frozenset[str]
    enclosing_codes: frozenset[str]
    """Units around the geocoded ones: a target following one of those follows these too."""
    drawn: BaseGeometry | None
    """Polygons and circles: reach every located target inside."""
    named: BaseGeometry | None
    """Boundaries of geocoded districts: reach located targets without a district code."""

    @classmethod
    def of_alert(cls, alert: Alert, districts: DistrictTable | None = None) -> AreaSelection:
        areas: list[Area] = [area for info in alert.infos for area in info.areas]
        codes = {
            geocode.value.strip()
            for area in areas for geocode in area.geocodes
            if is_gb_t_2260(geocode.value_name) and len(geocode.value.strip()) == _CODE_LENGTH
        }
        named = []
        if districts is not None:
            found = (districts.resolve_geocode("GB/T 2260", code) for code in codes)
            named = [district.geometry for district in found if district is not None]
        return cls(
            code_prefixes=frozenset(_code_prefix(code) for code in codes),
            enclosing_codes=frozenset(
                enclosing for code in codes for enclosing in _enclosing_codes(code)),
            drawn=_union([area_geometry(area) for area in areas]),
            named=_union(named),
        )

    def code_condition(self) -> ColumnElement[bool]:
        """Targets whose district, or one they follow, a geocode names: decided in SQL alone."""
        return or_(self._own_code_condition(), self._followed_condition())

    def _own_code_condition(self) -> ColumnElement[bool]:
        return or_(false(), *(Target.district_code.startswith(prefix, autoescape=True)
                              for prefix in sorted(self.code_prefixes)))

    def _followed_condition(self) -> ColumnElement[bool]:
        if not self.code_prefixes:
            return false()
        named = [TargetDistrict.district_code.startswith(prefix, autoescape=True)
                 for prefix in sorted(self.code_prefixes)]
        if self.enclosing_codes:
            named.append(TargetDistrict.district_code.in_(sorted(self.enclosing_codes)))
        # One probe of the primary key (target_id, district_code) per target.
        # OFFSET 0 keeps PostgreSQL from hashing every matching row instead:
        # cheaper for one query, but planning runs one query per page, and
        # reading the whole table once per page grows with the square of
        # the subscribers.
        return exists(select(TargetDistrict.target_id)
                      .where(TargetDistrict.target_id == Target.id, or_(*named)).offset(0))

    def _box_condition(self) -> ColumnElement[bool]:
        boxes = [geometry.bounds for geometry in (self.drawn, self.named) if geometry is not None]
        return or_(false(), *(
            and_(Target.lon.between(west, east), Target.lat.between(south, north))
            for west, south, east, north in boxes
        ))

    def location_candidates(self) -> ColumnElement[bool]:
        """A cheap SQL superset of the targets reached by location alone; ``reaches`` decides."""
        return and_(or_(Target.district_code.is_(None), not_(self._own_code_condition())),
                    not_(self._followed_condition()), self._box_condition())

    def reached_by_location(self, target_ids: Sequence[int], district_codes: Sequence[str | None],
                            longitudes: Sequence[float], latitudes: Sequence[float]) -> list[int]:
        """The located targets this selection reaches, in the order given.

        Those inside a drawn area, and those without a district code inside a
        named district. A point on a boundary counts as inside.
        """
        xs = np.asarray(longitudes, dtype=float)
        ys = np.asarray(latitudes, dtype=float)
        inside = np.zeros(len(xs), dtype=bool)
        if self.drawn is not None:
            inside |= shapely.intersects_xy(self.drawn, xs, ys)
        if self.named is not None:
            uncoded = np.fromiter((code is None for code in district_codes), dtype=bool,
                                  count=len(xs))
            inside[uncoded] |= shapely.intersects_xy(self.named, xs[uncoded], ys[uncoded])
        return [target_ids[index] for index in np.flatnonzero(inside).tolist()]


def eligible_targets(channel: str, *, test_only: bool) -> list[ColumnElement[bool]]:
    """The active targets of ``channel``; only test targets when ``test_only``."""
    conditions = [Target.channel == channel, Target.active.is_(True)]
    if test_only:
        conditions.append(Target.is_test.is_(True))
    return conditions


def select_located_target_ids(session: Session, channel: str, selection: AreaSelection, *,
                              test_only: bool, page_size: int) -> Iterator[list[int]]:
    """Ids of the targets reached by their location and not by their district code, by pages.

    Whether a point lies in an area is decided here, for a page of points at
    once; the targets a district code reaches are left to ``AreaSelection.code_condition``.
    """
    if selection.drawn is None and selection.named is None:
        return
    query = select(Target.id, Target.district_code, Target.lon, Target.lat).where(
        *eligible_targets(channel, test_only=test_only), selection.location_candidates())
    last_id = 0
    while True:
        rows = session.execute(
            query.where(Target.id > last_id).order_by(Target.id).limit(page_size)
        ).all()
        if not rows:
            return
        last_id = rows[-1].id
        ids, codes, longitudes, latitudes = zip(*rows, strict=True)
        reached = selection.reached_by_location(ids, codes, longitudes, latitudes)
        if reached:
            yield reached
