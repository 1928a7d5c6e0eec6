"""Any valid alert survives write then read unchanged, as XML the CAP 1.2 XSD accepts."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from functools import cache
from pathlib import Path
from typing import TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from publisher.cap import model
from publisher.cap.reader import read_alert
from publisher.cap.writer import write_alert
from publisher.cap.xmlsafe import parse_untrusted_xml

T = TypeVar("T")
XSD_PATH = Path(__file__).resolve().parents[2] / "publisher/cap/schema/CAP-v1.2.xsd"

# Characters XML 1.0 can carry: no surrogates, no control characters but
# newline and tab (a carriage return is normalised away by every parser),
# no unassigned code points.
_CHARACTERS = st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Cn"))
_CHINESE = "暴雨红色预警台风黄色信号全市请注意防范撤离深圳福田区气象台"
_LINE = st.text(_CHARACTERS, max_size=30) | st.text(st.sampled_from(_CHINESE), max_size=30)
# The reader strips leading and trailing white space, as XSD normalisation does.
text = _LINE.map(str.strip)
paragraph = st.lists(_LINE, min_size=1, max_size=4).map(lambda lines: "\n".join(lines).strip())
optional_text = st.none() | text
uri = st.from_regex(r"https://alerts\.example\.org/[a-z0-9/._-]{0,20}", fullmatch=True)

offsets = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
moments = st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=offsets
).map(lambda moment: moment.replace(microsecond=0))
optional_moment = st.none() | moments


def _finite(low: float, high: float) -> st.SearchStrategy[float]:
    return st.floats(low, high, allow_nan=False, allow_infinity=False)


points = st.builds(model.Point, lat=_finite(-90, 90), lon=_finite(-180, 180))
closed_polygons = st.lists(points, min_size=3, max_size=8).map(
    lambda ring: model.Polygon((*ring, ring[0]))
)
circles = st.builds(model.Circle, center=points, radius_km=_finite(0, 20_000))
named_values = st.builds(model.NamedValue, value_name=text, value=text)


def _tuples(strategy: st.SearchStrategy[T], max_size: int = 3) -> st.SearchStrategy[tuple[T, ...]]:
    return st.lists(strategy, max_size=max_size).map(tuple)


areas = st.builds(
    model.Area,
    area_desc=text,
    polygons=_tuples(closed_polygons),
    circles=_tuples(circles),
    geocodes=_tuples(named_values),
    altitude=st.none() | _finite(-1e6, 1e6),
    ceiling=st.none() | _finite(-1e6, 1e6),
)
resources = st.builds(
    model.Resource,
    resource_desc=text,
    mime_type=st.sampled_from(["image/png", "audio/mpeg", "application/pdf"]),
    size=st.none() | st.integers(0, 10**12),
    uri=st.none() | uri,
    deref_uri=st.none() | st.from_regex(r"[A-Za-z0-9+/]{0,40}", fullmatch=True),
    digest=st.none() | st.from_regex(r"[0-9a-f]{40}", fullmatch=True),
)
infos = st.builds(
    model.Info,
    categories=st.lists(st.sampled_from(model.Category), min_size=1, max_size=3, unique=True)
    .map(tuple),
    event=text,
    urgency=st.sampled_from(model.Urgency),
    severity=st.sampled_from(model.Severity),
    certainty=st.sampled_from(model.Certainty),
    language=st.sampled_from(["en-US", "zh-CN", "zh-TW", "fr-CA", "es-419"]),
    response_types=st.lists(st.sampled_from(model.ResponseType), max_size=3, unique=True)
    .map(tuple),
    audience=optional_text,
    event_codes=_tuples(named_values),
    effective=optional_moment,
    onset=optional_moment,
    expires=optional_moment,
    sender_name=optional_text,
    headline=optional_text,
    description=st.none() | paragraph,
    instruction=st.none() | paragraph,
    web=st.none() | uri,
    contact=optional_text,
    parameters=_tuples(named_values),
    resources=_tuples(resources, 2),
    areas=_tuples(areas),
)
alerts = st.builds(
    model.Alert,
    identifier=text,
    sender=text,
    sent=moments,
    status=st.sampled_from(model.Status),
    msg_type=st.sampled_from(model.MsgType),
    scope=st.sampled_from(model.Scope),
    source=optional_text,
    restriction=optional_text,
    addresses=optional_text,
    codes=_tuples(text),
    note=optional_text,
    references=optional_text,
    incidents=optional_text,
    infos=_tuples(infos),
)


@cache
def xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alerts)
def test_write_then_read_gives_the_same_alert(alert: model.Alert) -> None:
    written = write_alert(alert)
    assert xsd().validate(parse_untrusted_xml(written)), str(xsd().error_log)
    result = read_alert(written)
    assert result.problems == ()
    assert result.alert == alert
