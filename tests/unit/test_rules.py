"""CAP 1.2 rules: one valid alert, then one mutation per rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from publisher.cap import model as cap
from publisher.cap.model import Alert, Area, Circle, Info, NamedValue, Point, Polygon, Resource
from publisher.cap.problems import Problem, ProblemLevel, errors_of
from publisher.cap.rules import check_spec_rules
from tests.corpus import corpus_dir, corpus_params

BEIJING = timezone(timedelta(hours=8))
SENT = datetime(2026, 11, 28, 13, 5, tzinfo=BEIJING)
ERROR = ProblemLevel.ERROR
WARNING = ProblemLevel.WARNING


def ring(*corners: tuple[float, float]) -> Polygon:
    points = tuple(Point(lat, lon) for lat, lon in corners)
    return Polygon((*points, points[0]))


AREA = Area(
    area_desc="Chaoyang District",
    polygons=(
        ring((39.9, 116.4), (39.9, 116.6), (40.0, 116.6), (40.0, 116.4)),
        ring((39.8, 116.3), (39.8, 116.5), (39.9, 116.4)),
    ),
    circles=(Circle(Point(39.95, 116.45), 5.0),),
    geocodes=(NamedValue("GB/T 2260", "110105"), NamedValue("local", "")),
    altitude=0.0,
    ceiling=3000.0,
)
RESOURCE = Resource(
    resource_desc="Radar image",
    mime_type="image/png",
    size=1024,
    uri="https://warning.example.gov.cn/radar.png",
    digest="da39a3ee5e6b4b0d3255bfef95601890afd80709",
)
INFO = Info(
    categories=(cap.Category.MET,),
    event="Rainstorm",
    urgency=cap.Urgency.EXPECTED,
    severity=cap.Severity.SEVERE,
    certainty=cap.Certainty.LIKELY,
    language="zh-CN",
    event_codes=(NamedValue("profile:CN:event", "11B03"),),
    effective=SENT,
    onset=SENT + timedelta(hours=1),
    expires=SENT + timedelta(hours=12),
    web="https://warning.example.gov.cn/alerts/1",
    parameters=(NamedValue("warningColor", "orange"), NamedValue("layer", "")),
    resources=(RESOURCE,),
    areas=(AREA,),
)
ALERT = Alert(
    identifier="110105-QXJ-20261128130500-0001",
    sender="qxj@bjmb.gov.cn",
    sent=SENT,
    status=cap.Status.ACTUAL,
    msg_type=cap.MsgType.ALERT,
    scope=cap.Scope.PUBLIC,
    infos=(INFO, replace(INFO, language="en-US")),
)
EARLIER = "qxj@bjmb.gov.cn,110105-QXJ-20261128120000-0001,2026-11-28T12:00:00+08:00"


def with_info(index: int = 0, **changes: object) -> Alert:
    infos = list(ALERT.infos)
    infos[index] = replace(infos[index], **changes)  # type: ignore[arg-type]
    return replace(ALERT, infos=tuple(infos))


def with_area(**changes: object) -> Alert:
    return with_info(1, areas=(replace(AREA, **changes),))  # type: ignore[arg-type]


def with_resource(**changes: object) -> Alert:
    return with_info(0, resources=(replace(RESOURCE, **changes),))  # type: ignore[arg-type]


def with_polygon(*corners: tuple[float, float]) -> Alert:
    points = tuple(Point(lat, lon) for lat, lon in corners)
    return with_area(polygons=(AREA.polygons[0], Polygon(points)))


NAIVE = datetime(2026, 11, 28, 13, 5)
LATER = "qxj@bjmb.gov.cn,110105-QXJ-20261128140000-0001,2026-11-28T14:00:00+08:00"
SELF = f"{ALERT.sender},{ALERT.identifier},2026-11-28T13:05:00+08:00"
OPEN_RING = ((39.8, 116.3), (39.8, 116.5), (39.9, 116.4), (39.85, 116.35))

CASES = [
    ("identifier-empty", replace(ALERT, identifier=""), "identifier", "is empty", ERROR),
    ("identifier-space", replace(ALERT, identifier="a b"), "identifier", "' '", ERROR),
    ("identifier-comma", replace(ALERT, identifier="a,b"), "identifier", "','", ERROR),
    ("identifier-less-than", replace(ALERT, identifier="a<b"), "identifier", "'<'", ERROR),
    ("identifier-ampersand", replace(ALERT, identifier="a&b"), "identifier", "'&'", ERROR),
    ("sender-empty", replace(ALERT, sender=""), "sender", "is empty", ERROR),
    ("sender-space", replace(ALERT, sender="qxj bjmb"), "sender", "not allowed", ERROR),
    ("sent-naive", replace(ALERT, sent=NAIVE), "sent", "no time zone", ERROR),
    ("effective-naive", with_info(effective=NAIVE), "info[0]/effective", "no time zone", ERROR),
    ("onset-naive", with_info(onset=NAIVE), "info[0]/onset", "no time zone", ERROR),
    ("expires-naive", with_info(expires=NAIVE), "info[0]/expires", "no time zone", ERROR),
    *[
        (
            f"references-missing-{msg_type}",
            replace(ALERT, msg_type=msg_type),
            "references",
            "references is required",
            ERROR,
        )
        for msg_type in (cap.MsgType.UPDATE, cap.MsgType.CANCEL, cap.MsgType.ACK, cap.MsgType.ERROR)
    ],
    ("references-empty", replace(ALERT, references=""), "references", "references is empty", ERROR),
    (
        "references-blank-update",
        replace(ALERT, msg_type=cap.MsgType.UPDATE, references="  \n"),
        "references",
        "must name at least one sender,identifier,sent triple",
        ERROR,
    ),
    (
        "references-malformed",
        replace(ALERT, msg_type=cap.MsgType.UPDATE, references=f"{EARLIER} qxj,110105"),
        "references",
        "'qxj,110105' is not a sender,identifier,sent triple",
        ERROR,
    ),
    (
        "references-self",
        replace(ALERT, msg_type=cap.MsgType.UPDATE, references=SELF),
        "references",
        "this message itself",
        WARNING,
    ),
    (
        "references-later",
        replace(ALERT, msg_type=cap.MsgType.CANCEL, references=LATER),
        "references",
        "after this message",
        ERROR,
    ),
    (
        "restricted-without-restriction",
        replace(ALERT, scope=cap.Scope.RESTRICTED),
        "restriction",
        "restriction is missing",
        ERROR,
    ),
    (
        "private-without-addresses",
        replace(ALERT, scope=cap.Scope.PRIVATE, addresses=" "),
        "addresses",
        "addresses is missing",
        ERROR,
    ),
    (
        "restriction-on-public",
        replace(ALERT, restriction="staff only"),
        "restriction",
        "meant for scope Restricted",
        WARNING,
    ),
    (
        "addresses-unclosed-quote",
        replace(ALERT, scope=cap.Scope.PRIVATE, addresses='"Chaoyang office duty'),
        "addresses",
        "unclosed double quote",
        ERROR,
    ),
    (
        "incidents-unclosed-quote",
        replace(ALERT, incidents='"rainstorm 2026'),
        "incidents",
        "unclosed double quote",
        ERROR,
    ),
    ("alert-without-info", replace(ALERT, infos=()), "", "without an info block", WARNING),
    ("language-tag", with_info(language="zh_CN"), "info[0]/language", "RFC 3066", ERROR),
    (
        "language-too-long",
        with_info(language="mandarine-CN"),
        "info[0]/language",
        "RFC 3066",
        ERROR,
    ),
    ("no-category", with_info(categories=()), "info[0]/category", "at least one category", ERROR),
    ("event-empty", with_info(event=" "), "info[0]/event", "event is empty", ERROR),
    (
        "expires-before-effective",
        with_info(expires=SENT - timedelta(minutes=1), effective=SENT),
        "info[0]/expires",
        "is before effective",
        ERROR,
    ),
    (
        "expires-before-onset",
        with_info(expires=SENT + timedelta(minutes=30)),
        "info[0]/expires",
        "is before onset",
        WARNING,
    ),
    (
        "expires-before-sent",
        with_info(expires=SENT - timedelta(minutes=1), effective=None, onset=None),
        "info[0]/expires",
        "is before sent",
        WARNING,
    ),
    ("web-relative", with_info(web="www.bjmb.gov.cn"), "info[0]/web", "full absolute URI", WARNING),
    ("web-with-space", with_info(web="https://a b"), "info[0]/web", "full absolute URI", WARNING),
    ("web-empty", with_info(web=""), "info[0]/web", "web is empty", WARNING),
    (
        "event-code-value-name",
        with_info(event_codes=(NamedValue("", "11B03"),)),
        "info[0]/eventCode[0]/valueName",
        "valueName is empty",
        ERROR,
    ),
    (
        "parameter-value-name",
        with_info(1, parameters=(NamedValue("warningColor", "orange"), NamedValue(" ", "x"))),
        "info[1]/parameter[1]/valueName",
        "valueName is empty",
        ERROR,
    ),
    (
        "resource-desc-empty",
        with_resource(resource_desc=""),
        "info[0]/resource[0]/resourceDesc",
        "resourceDesc is empty",
        ERROR,
    ),
    (
        "mime-type-empty",
        with_resource(mime_type=""),
        "info[0]/resource[0]/mimeType",
        "mimeType is empty",
        ERROR,
    ),
    (
        "mime-type-form",
        with_resource(mime_type="png"),
        "info[0]/resource[0]/mimeType",
        "RFC 2046",
        WARNING,
    ),
    ("size-negative", with_resource(size=-1), "info[0]/resource[0]/size", "negative", ERROR),
    (
        "digest-not-sha1",
        with_resource(digest="d41d8cd98f00b204e9800998ecf8427e"),
        "info[0]/resource[0]/digest",
        "SHA-1",
        WARNING,
    ),
    (
        "deref-uri-not-base64",
        with_resource(deref_uri="not base64!"),
        "info[0]/resource[0]/derefUri",
        "base64",
        ERROR,
    ),
    (
        "uri-relative-without-content",
        with_resource(uri="radar.png"),
        "info[0]/resource[0]/uri",
        "full absolute URI",
        ERROR,
    ),
    ("area-desc-empty", with_area(area_desc=""), "info[1]/area[0]/areaDesc", "is empty", ERROR),
    (
        "polygon-too-few-points",
        with_polygon((39.8, 116.3), (39.8, 116.5), (39.8, 116.3)),
        "info[1]/area[0]/polygon[1]",
        "a polygon needs at least 4",
        ERROR,
    ),
    (
        "polygon-not-closed",
        with_polygon(*OPEN_RING),
        "info[1]/area[0]/polygon[1]",
        "ring is not closed",
        ERROR,
    ),
    (
        "polygon-latitude",
        with_polygon((39.8, 116.3), (91.0, 116.5), (39.9, 116.4), (39.8, 116.3)),
        "info[1]/area[0]/polygon[1]",
        "point 1 latitude 91.0 is outside [-90, 90]",
        ERROR,
    ),
    (
        "polygon-swapped",
        with_polygon((116.3, 39.8), (116.5, 39.8), (116.4, 39.9), (116.3, 39.8)),
        "info[1]/area[0]/polygon[1]",
        "look swapped",
        WARNING,
    ),
    (
        "polygon-longitude",
        with_polygon((39.8, 116.3), (39.8, 416.5), (39.9, 116.4), (39.8, 116.3)),
        "info[1]/area[0]/polygon[1]",
        "longitude 416.5 is outside [-180, 180]",
        ERROR,
    ),
    (
        "polygon-antimeridian",
        with_polygon((-16.0, 179.5), (-16.0, -180.5), (-17.0, 179.5), (-16.0, 179.5)),
        "info[1]/area[0]/polygon[1]",
        "crossing the antimeridian",
        WARNING,
    ),
    (
        "circle-radius",
        with_area(circles=(Circle(Point(39.95, 116.45), -1.0),)),
        "info[1]/area[0]/circle[0]",
        "radius -1.0 km",
        ERROR,
    ),
    (
        "circle-centre",
        with_area(circles=(Circle(Point(-95.0, 116.45), 1.0),)),
        "info[1]/area[0]/circle[0]",
        "centre latitude -95.0",
        ERROR,
    ),
    (
        "ceiling-without-altitude",
        with_area(altitude=None),
        "info[1]/area[0]/ceiling",
        "without altitude",
        ERROR,
    ),
    (
        "ceiling-below-altitude",
        with_area(altitude=5000.0),
        "info[1]/area[0]/ceiling",
        "below altitude",
        ERROR,
    ),
    (
        "geocode-value-name",
        with_area(geocodes=(NamedValue("", "110105"),)),
        "info[1]/area[0]/geocode[0]/valueName",
        "valueName is empty",
        ERROR,
    ),
]


def test_the_valid_alert_has_no_findings() -> None:
    assert check_spec_rules(ALERT) == []


def matching(problems: list[Problem], path: str, fragment: str) -> list[Problem]:
    return [problem for problem in problems if problem.path == path and fragment in problem.reason]


@pytest.mark.parametrize(
    ("alert", "path", "fragment", "level"),
    [pytest.param(*case[1:], id=case[0]) for case in CASES],
)
def test_each_rule_reports_its_path_reason_and_clause(
    alert: Alert, path: str, fragment: str, level: ProblemLevel
) -> None:
    problems = check_spec_rules(alert)
    found = matching(problems, path, fragment)
    assert found, f"no {path!r} finding with {fragment!r} in {[str(p) for p in problems]}"
    assert {problem.level for problem in found} == {level}
    assert all(problem.clause for problem in found)


def test_issue_example_reads_as_written() -> None:
    problems = check_spec_rules(with_polygon(*OPEN_RING))
    assert str(problems[0]).startswith("info[1]/area[0]/polygon[1]: ring is not closed")


@pytest.mark.parametrize(
    "alert",
    [
        pytest.param(
            replace(ALERT, msg_type=cap.MsgType.UPDATE, references=EARLIER), id="update-referencing"
        ),
        pytest.param(
            replace(ALERT, msg_type=cap.MsgType.CANCEL, references=EARLIER, infos=()),
            id="cancel-without-info",
        ),
        pytest.param(replace(ALERT, restriction="", addresses=""), id="empty-optional-elements"),
        pytest.param(
            replace(ALERT, scope=cap.Scope.RESTRICTED, restriction="staff"), id="restricted"
        ),
        pytest.param(
            replace(ALERT, scope=cap.Scope.PRIVATE, addresses='"Chaoyang office" duty@bjmb.gov.cn'),
            id="private-with-quoted-address",
        ),
        pytest.param(with_info(1, language="zh-CN"), id="two-infos-one-language"),
        pytest.param(with_info(language=""), id="empty-language-means-en-US"),
        pytest.param(
            with_resource(uri="radar.png", deref_uri="iVBORw0K\n GgoAAAA="),
            id="relative-uri-names-embedded-content",
        ),
        pytest.param(with_area(ceiling=None, altitude=100.0), id="altitude-alone"),
        pytest.param(with_info(web="mailto:duty@bjmb.gov.cn"), id="absolute-uri-without-host"),
    ],
)
def test_what_the_specification_allows_has_no_error(alert: Alert) -> None:
    assert errors_of(check_spec_rules(alert)) == []


EMPTY_REFERENCES = "references is empty"
# Real alerts that break a CAP 1.2 rule, and the finding each must keep producing.
BROKEN_REAL_ALERTS = {
    "twab_tra.gov.tw_railAccident_201908220619.xml": ("references", EMPTY_REFERENCES),
    "cpl_CanadaNaad.xml": ("references", EMPTY_REFERENCES),
    "gcca_alert_5.xml": ("references", EMPTY_REFERENCES),
}


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_params("real"))
def test_real_alerts_break_no_rule_unless_known(path: Path) -> None:
    from publisher.cap.reader import read_alert

    alert = read_alert(path.read_bytes()).alert
    if alert is None:
        pytest.skip("the reader gives no alert for this file")
    errors = errors_of(check_spec_rules(alert))
    expected = BROKEN_REAL_ALERTS.get(path.name)
    if expected is None:
        assert errors == [], [str(error) for error in errors]
    else:
        assert matching(errors, *expected), [str(error) for error in errors]
    quirk = QUIRKY_REAL_ALERTS.get(path.name)
    if quirk is not None:
        assert matching(check_spec_rules(alert), *quirk), path.name


@pytest.mark.corpus
@pytest.mark.parametrize("name", ["oasisspec_v1dot0_appendix_adot1.xml",
                                  "oasisspec_v1dot1_appendix_adot1.xml"])
def test_spec_examples_without_mime_type_are_read_with_an_assumed_one(name: str) -> None:
    from publisher.cap.reader import read_alert

    result = read_alert((corpus_dir("real") / name).read_bytes())
    assert result.alert is not None
    assert result.alert.infos[0].resources[0].mime_type == "application/octet-stream"
    assert matching(list(result.problems), "info[0]/resource[0]/mimeType",
                    "assumed application/octet-stream")
    assert errors_of(result.problems) == []
    assert errors_of(check_spec_rules(result.alert)) == []


# Real alerts with a quirk that intake reads on with a warning.
QUIRKY_REAL_ALERTS = {
    "kde_mo-cap_monsoon.xml": ("references", "this message itself"),
    "kde_TMD25680225051318_2.xml": ("info[0]/area[0]/polygon[0]", "look swapped"),
    "wmocv_dz_valid.xml": ("info[0]/web", "full absolute URI"),
}
