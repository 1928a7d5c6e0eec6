"""Device targeting: the devices inside a 200-vertex polygon, against a brute-force scan.

N devices stand at random points inside the city's boundary; the area is a
200-vertex star-shaped polygon over the city centre. In one process, on the
same points, the point test alone:

- STRtree: ``publisher.cap.areas.AreaIndex`` queried with the polygon
  (``intersects``), with the index built once, with the build included,
  and built for each page of ``--page-size`` points;
- vectorised: the resolver's test (``AreaSelection.reached_by_location``,
  one ``shapely.intersects_xy`` call per page of ``--page-size`` points
  against the prepared polygon);
- brute force: a Python loop over the devices, ``polygon.contains(Point)``
  for each (shapely 2, the polygon prepared).

Then the same devices as target rows of the ``led`` channel on PostgreSQL:

- the resolver: ``publisher.services.targets.select_located_target_ids``
  (bounding box in SQL, keyset pages, the vectorised test per page);
- the floor: the same SQL candidates read in one query, no point test;
- brute force: those candidates scanned point by point as above.

Every contender must find the same devices. The time of each is the median
of ``--runs`` runs.

    python -m bench.device_targeting [--devices 100000] [--runs 5] [--page-size 1000]
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import psycopg
import shapely
from numpy.typing import NDArray
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from bench.fanout_planning import ADMIN_DSN, scratch_database
from publisher.cap.areas import AreaIndex
from publisher.cap.districts import DistrictTable, load_districts
from publisher.cap.model import Area, Point, Polygon
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.targets import (
    AreaSelection,
    eligible_targets,
    select_located_target_ids,
)
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Target

__all__ = ["main"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHANNEL = "led"
CITY = "110000"
VERTICES = 200
CENTRE = (116.40, 39.92)
GOAL_RATIO = 20.0
SEED = 2260


def _devices(table: DistrictTable, count: int) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """``count`` points spread uniformly inside the city's boundary."""
    city = table.get(CITY).geometry
    west, south, east, north = city.bounds
    generator = np.random.default_rng(SEED)
    longitudes: list[NDArray[np.float64]] = []
    latitudes: list[NDArray[np.float64]] = []
    found = 0
    while found < count:
        xs = generator.uniform(west, east, count)
        ys = generator.uniform(south, north, count)
        inside = shapely.contains_xy(city, xs, ys)
        longitudes.append(xs[inside])
        latitudes.append(ys[inside])
        found += int(inside.sum())
    return np.concatenate(longitudes)[:count], np.concatenate(latitudes)[:count]


def _star() -> Polygon:
    """A CAP polygon of ``VERTICES`` vertices (and the closing one): a star over the centre."""
    points = []
    for step in range(VERTICES):
        angle = 2 * math.pi * step / VERTICES
        radius = 0.45 * (1 + 0.35 * math.sin(7 * angle) + 0.1 * math.cos(23 * angle))
        points.append(Point(lat=CENTRE[1] + 0.78 * radius * math.sin(angle),
                            lon=CENTRE[0] + radius * math.cos(angle)))
    return Polygon((*points, points[0]))


def _timed(work: Callable[[], list[int]]) -> tuple[float, list[int]]:
    started = time.perf_counter()
    found = work()
    return time.perf_counter() - started, found


def _brute_force(polygon: BaseGeometry, ids: Sequence[int], longitudes: Sequence[float],
                 latitudes: Sequence[float]) -> list[int]:
    return [number for number, lon, lat in zip(ids, longitudes, latitudes, strict=True)
            if polygon.contains(ShapelyPoint(lon, lat))]


def _strtree_per_page(polygon: BaseGeometry, ids: list[int], longitudes: list[float],
                      latitudes: list[float], page_size: int) -> list[int]:
    return [number for start in range(0, len(ids), page_size)
            for number in AreaIndex.from_arrays(
                ids[start:start + page_size], longitudes[start:start + page_size],
                latitudes[start:start + page_size]).within(polygon)]


def _vectorised(selection: AreaSelection, ids: list[int], longitudes: list[float],
                latitudes: list[float], page_size: int) -> list[int]:
    codes: list[str | None] = ["110105"] * page_size
    return [number for start in range(0, len(ids), page_size)
            for number in selection.reached_by_location(
                ids[start:start + page_size], codes[:len(ids[start:start + page_size])],
                longitudes[start:start + page_size], latitudes[start:start + page_size])]


def _add_targets(url: str, longitudes: NDArray[np.float64], latitudes: NDArray[np.float64],
                 table: DistrictTable) -> list[int]:
    """COPY one ``led`` target per device, with its district; their ids, in device order."""
    codes = np.full(len(longitudes), None, dtype=object)
    placed = np.zeros(len(longitudes), dtype=bool)
    for district in table:
        if district.level == "district":
            inside = shapely.intersects_xy(district.geometry, longitudes, latitudes) & ~placed
            codes[inside] = district.code
            placed |= inside
    now = datetime.now(UTC)
    libpq = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(libpq) as connection, connection.cursor() as cursor:
        columns = "channel, address, district_code, lon, lat, language, is_test, active, created_at"
        with cursor.copy(f"COPY targets ({columns}) FROM STDIN") as copy:
            for index, (lon, lat, code) in enumerate(zip(longitudes.tolist(), latitudes.tolist(),
                                                         codes.tolist(), strict=True)):
                copy.write_row((CHANNEL, f"http://10.0.0.1:8000/devices/led-{index}", code,
                                lon, lat, "zh-CN", False, True, now))
        cursor.execute("ANALYZE targets")
        return [row[0] for row in cursor.execute("SELECT id FROM targets ORDER BY id")]


def _resolver(session: Session, selection: AreaSelection, page_size: int) -> list[int]:
    return [target_id for page in select_located_target_ids(
        session, CHANNEL, selection, test_only=False, page_size=page_size) for target_id in page]


def _candidates(session: Session, selection: AreaSelection) -> list[tuple[int, float, float]]:
    # The box condition leaves out targets without a location.
    return [(target_id, lon, lat) for target_id, lon, lat in session.execute(
        select(Target.id, Target.lon, Target.lat).where(
            *eligible_targets(CHANNEL, test_only=False), selection.location_candidates())
        .order_by(Target.id)) if lon is not None and lat is not None]


def _report(title: str, times: dict[str, list[float]]) -> dict[str, float]:
    medians = {name: statistics.median(samples) for name, samples in times.items()}
    print(f"median {title}: " + ", ".join(f"{name} {seconds * 1000:.1f} ms"
                                          for name, seconds in medians.items()))
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--page-size", type=int, default=1000,
                        help="targets the resolver reads at once (the fan-out's batch size)")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    arguments = parser.parse_args()

    table = load_districts(PROJECT_ROOT / "config" / "districts.toml")
    longitudes, latitudes = _devices(table, arguments.devices)
    ids = list(range(arguments.devices))
    area = Area("star", polygons=(_star(),))
    alert = rainstorm_red_warning(datetime.now(UTC))
    alert = replace(alert, infos=tuple(replace(info, areas=(area,)) for info in alert.infos))
    selection = AreaSelection.of_alert(alert, table)
    polygon = selection.drawn
    assert polygon is not None and len(shapely.get_coordinates(polygon)) == VERTICES + 1
    xs, ys = longitudes.tolist(), latitudes.tolist()
    index = AreaIndex.from_arrays(ids, longitudes, latitudes)
    print(f"cores: {os.cpu_count()}; Python {platform.python_version()}; shapely"
          f" {shapely.__version__} (GEOS {shapely.geos_version_string}); devices:"
          f" {arguments.devices:,}; polygon: {VERTICES} vertices; page size"
          f" {arguments.page_size}; runs: {arguments.runs} (median)")

    contenders: dict[str, Callable[[], list[int]]] = {
        "STRtree query": lambda: index.within(polygon),
        "STRtree build + query": lambda: AreaIndex.from_arrays(
            ids, longitudes, latitudes).within(polygon),
        "STRtree per page": lambda: _strtree_per_page(polygon, ids, xs, ys,
                                                      arguments.page_size),
        "vectorised": lambda: _vectorised(selection, ids, xs, ys, arguments.page_size),
        "brute force": lambda: _brute_force(polygon, ids, xs, ys),
    }
    times: dict[str, list[float]] = {name: [] for name in contenders}
    found: list[int] = []
    for run in range(arguments.runs):
        results = {name: _timed(work) for name, work in contenders.items()}
        found = results["brute force"][1]
        assert all(result == found for _, result in results.values()), "contenders disagree"
        for name, (seconds, _) in results.items():
            times[name].append(seconds)
        print(f"run {run + 1}: " + ", ".join(f"{name} {seconds * 1000:.1f} ms"
                                             for name, (seconds, _) in results.items())
              + f"; {len(found):,} devices inside")
    memory = _report("in memory", times)
    brute = memory["brute force"]
    print("brute force / " + ", ".join(f"{name} {brute / seconds:.1f}x"
                                       for name, seconds in memory.items()
                                       if name != "brute force")
          + f" (goal: vectorised >= {GOAL_RATIO:.0f}x:"
          f" {'met' if brute / memory['vectorised'] >= GOAL_RATIO else 'NOT met'})")

    with scratch_database(arguments.admin_dsn) as url:
        target_ids = _add_targets(url, longitudes, latitudes, table)
        expected = [target_ids[number] for number in found]
        engine = make_engine(url)
        sessions = make_session_factory(engine)
        database: dict[str, list[float]] = {"resolver": [], "SQL floor": [], "brute force": []}
        for run in range(arguments.runs):
            with sessions() as session:
                seconds, reached = _timed(lambda: _resolver(
                    session, selection, arguments.page_size))
                assert reached == expected, "the resolver disagrees with the selector"
                database["resolver"].append(seconds)
            with sessions() as session:
                started = time.perf_counter()
                rows = _candidates(session, selection)
                database["SQL floor"].append(time.perf_counter() - started)
                scanned = _brute_force(polygon, *zip(*rows, strict=True))
                database["brute force"].append(time.perf_counter() - started)
                assert scanned == expected, "the brute-force scan disagrees"
            print(f"run {run + 1} on PostgreSQL: " + ", ".join(
                f"{name} {samples[-1] * 1000:.0f} ms" for name, samples in database.items())
                + f"; {len(rows):,} candidates in the box")
        engine.dispose()
    medians = _report("on PostgreSQL", database)
    resolver = medians["resolver"]
    print(f"resolver: {arguments.devices / resolver:,.0f} devices/s;"
          f" brute force / resolver {medians['brute force'] / resolver:.1f}x;"
          f" resolver / SQL floor {resolver / medians['SQL floor']:.2f}")


if __name__ == "__main__":
    main()
