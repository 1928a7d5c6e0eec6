"""Atom, RSS, EDXL-DE and alert-list wrappers are checked by their own rules."""

from __future__ import annotations

import pytest

from publisher.cap.containers import ContainerKind, ContainerReport, inspect_container
from publisher.cap.xmlsafe import parse_untrusted_xml

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
ALERT = f'<alert xmlns="{CAP12}"><identifier>a</identifier></alert>'


def _inspect(document: str) -> ContainerReport:
    report = inspect_container(parse_untrusted_xml(document.encode()))
    assert report is not None
    return report


def _reasons(document: str) -> list[str]:
    return [f"{problem.path}: {problem.reason}" for problem in _inspect(document).problems]


ATOM_OK = f"""<feed xmlns="http://www.w3.org/2005/Atom"><id>f</id><title>t</title>
<updated>2026-11-28T13:00:00+08:00</updated>
<entry><id>e</id><title>t</title><updated>2026-11-28T13:00:00+08:00</updated>
<link href="https://example.org/a.cap"/></entry>
<entry><id>e2</id><title>t</title><updated>2026-11-28T13:00:00+08:00</updated>
<content type="text/xml">{ALERT}</content></entry></feed>"""


def test_valid_atom_has_no_problems_and_finds_the_embedded_alert() -> None:
    report = _inspect(ATOM_OK)
    assert report.kind is ContainerKind.ATOM
    assert report.problems == ()
    assert [alert.path for alert in report.alerts] == ["entry[1]/content[0]/alert"]


@pytest.mark.parametrize(("change", "expected"), [
    (("<id>f</id>", ""), "id: required element is missing (RFC 4287 4.1.1)"),
    (("<id>e</id>", ""), "entry[0]/id: required element is missing (RFC 4287 4.1.2)"),
    (('<link href="https://example.org/a.cap"/>', ""),
     "entry[0]: entry has no content and no alternate link"),
    (("<title>t</title>\n<updated>", "<title>t</title><foo/>\n<updated>"),
     "foo[0]: unexpected element in the Atom namespace"),
    (("<entry>", f"{ALERT}<entry>"), "alert: a CAP alert directly under <feed>"),
])
def test_atom_defects(change: tuple[str, str], expected: str) -> None:
    reasons = _reasons(ATOM_OK.replace(*change, 1))
    assert any(reason.startswith(expected) for reason in reasons), reasons


def test_link_with_other_rel_does_not_lead_to_the_alert() -> None:
    document = ATOM_OK.replace('<link href=', '<link rel="self" href=', 1)
    assert any("no alternate link" in reason for reason in _reasons(document))


RSS_OK = """<rss version="2.0"><channel><title>t</title><link>https://x</link>
<description>d</description><item><title>a</title></item></channel></rss>"""


def test_rss() -> None:
    assert _inspect(RSS_OK).problems == ()
    assert "channel/title: required element is missing (RSS 2.0)" in _reasons(
        RSS_OK.replace("<title>t</title>", ""))
    empty_item = _reasons(RSS_OK.replace("<item><title>a</title></item>", "<item/>"))
    assert any(reason.startswith("channel/item[0]: item has neither") for reason in empty_item)
    assert _reasons("<rss/>") == ["channel: required element is missing (RSS 2.0)"]


EDXL = f"""<EDXLDistribution xmlns="urn:oasis:names:tc:emergency:EDXL:DE:1.0">
<distributionID>d</distributionID><senderID>s@example.org</senderID>
<dateTimeSent>2026-11-28T13:00:00+08:00</dateTimeSent><distributionStatus>Actual</distributionStatus>
<distributionType>Report</distributionType><combinedConfidentiality>UNCLASSIFIED</combinedConfidentiality>
<contentObject><xmlContent><embeddedXMLContent>{ALERT}</embeddedXMLContent></xmlContent></contentObject>
<contentObject><xmlContent><embeddedXMLContent></embeddedXMLContent></xmlContent></contentObject>
</EDXLDistribution>"""


def test_edxl_envelope() -> None:
    report = _inspect(EDXL)
    assert report.kind is ContainerKind.EDXL_DE
    assert len(report.alerts) == 1
    assert [problem.path for problem in report.problems] == [
        "contentObject[1]/xmlContent[0]/embeddedXMLContent[0]"]
    broken = _reasons(EDXL.replace("<senderID>s@example.org</senderID>", ""))
    assert any(reason.startswith("dateTimeSent[0]: ") and "senderID" in reason
               for reason in broken), broken


def test_alert_list_warns_and_lists_alerts() -> None:
    bare = "<alert><identifier>a</identifier></alert>"
    report = _inspect(f'<alerts xmlns="{CAP12}">{bare}{bare}</alerts>')
    assert report.kind is ContainerKind.ALERT_LIST
    assert [alert.path for alert in report.alerts] == ["alert", "alert[1]"]
    assert not report.problems[0].is_error


def test_unknown_root_is_not_a_container() -> None:
    assert inspect_container(parse_untrusted_xml(b"<html/>")) is None
