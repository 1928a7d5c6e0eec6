"""Subscribers from CSV: good rows in, bad rows refused whole and reported, duplicates merged."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cli_errors import UsageError
from publisher.cli_subscribers import add_subscriber_commands
from publisher.services.actors import Actor
from publisher.services.errors import Forbidden
from publisher.services.subscriber_commands import handle_mo
from publisher.services.subscriber_import import (
    ImportReport,
    RowError,
    import_subscribers,
    import_subscribers_as_staff,
)
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import AuditEntry, ContactPoint, Role, Subscriber
from tests.integration.subscriber_support import DISTRICTS, sms_targets

Factory = sessionmaker[Session]

GOOD_AND_BAD = """msisdn,wechat_openid,district,language,is_test
13800138000,,朝阳,zh-CN,
+86 139 0013 9000,oAbc123,Haidian,en,true
12345,,朝阳,,
13700137000,,火星,,
13600136000,,110105,fr,maybe
,,110105,,
"""


def _import(factory: Factory, text: str) -> ImportReport:
    with factory() as session:
        report = import_subscribers(session, text, districts=DISTRICTS)
        session.commit()
    return report


def _counts(report: ImportReport) -> tuple[int, int, int, int]:
    return report.created, report.updated, report.unchanged, report.merged


def test_good_rows_are_imported_and_bad_rows_reported(session_factory: Factory) -> None:
    report = _import(session_factory, GOOD_AND_BAD)
    assert _counts(report) == (2, 0, 0, 0)
    assert [(error.row, error.column) for error in report.errors] == [
        (4, "msisdn"), (5, "district"), (6, "language"), (6, "is_test"), (7, "msisdn")]
    assert "not a valid phone number" in report.errors[0].reason
    assert "unknown district '火星'" in report.errors[1].reason
    assert str(report.errors[2]).startswith("row 6, column language: 'fr' is not one of")
    assert sms_targets(session_factory) == [
        ("+8613800138000", "110105", "zh-CN", False, True),
        ("+8613900139000", "110108", "en-US", True, True)]
    with session_factory() as session:
        # Nothing of a refused row was written: two subscribers, three contact points.
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 2
        assert sorted(session.scalars(select(ContactPoint.value))) == [
            "+8613800138000", "+8613900139000", "oAbc123"]


def test_duplicates_are_merged_their_districts_added(session_factory: Factory) -> None:
    report = _import(session_factory, "msisdn,district,language\n"
                                      "13800138000,朝阳,zh-CN\n"
                                      "+86 138 0013 8000,海淀,en-US\n")
    assert (_counts(report), report.errors) == ((1, 0, 0, 1), [])
    assert sms_targets(session_factory) == [
        ("+8613800138000", "110105|110108", "en-US", False, True)]


def test_a_row_names_several_districts(session_factory: Factory) -> None:
    report = _import(session_factory, "msisdn,district\n"
                                      "13800138000,朝阳|Haidian | 110112|朝阳区\n")
    assert (_counts(report), report.errors) == ((1, 0, 0, 0), [])
    assert sms_targets(session_factory) == [
        ("+8613800138000", "110105|110108|110112", "zh-CN", False, True)]


def test_an_unknown_district_in_a_list_refuses_the_row(session_factory: Factory) -> None:
    report = _import(session_factory, "msisdn,district\n"
                                      "13800138000,朝阳|110199|火星\n"
                                      "13900139000,朝阳|海淀|通州|东城|西城|丰台\n"
                                      "13700137000,朝阳|\n")
    assert [(error.row, error.column) for error in report.errors] == [
        (2, "district"), (3, "district")]
    unknown, too_many = (error.reason for error in report.errors)
    assert unknown.startswith("unknown district '110199'; did you mean ")
    assert "110109 (Mentougou)" in unknown and unknown.endswith("; unknown district '火星'")
    assert too_many == "names 6 districts; a subscriber follows at most 5"
    assert sms_targets(session_factory) == [("+8613700137000", "110105", "zh-CN", False, True)]


def test_an_import_follows_at_most_five_districts_per_subscriber(
        session_factory: Factory) -> None:
    _import(session_factory, "msisdn,district\n13800138000,朝阳|海淀|通州|东城\n")
    report = _import(session_factory, "msisdn,district,language\n"
                                      "13800138000,西城|丰台,en-US\n")
    assert [(error.row, error.column) for error in report.errors] == [(2, "district")]
    assert "would follow 6 districts" in report.errors[0].reason
    # Nothing of the refused row was written, its language included.
    assert sms_targets(session_factory) == [
        ("+8613800138000", "110101|110105|110108|110112", "zh-CN", False, True)]


def test_importing_a_file_again_changes_nothing(session_factory: Factory) -> None:
    text = ("msisdn,wechat_openid,district,language,is_test\n"
            "13800138000,oAbc,朝阳|海淀,en-US,true\n"
            "13900139000,,通州,,\n")
    assert _counts(_import(session_factory, text)) == (2, 0, 0, 0)
    before = sms_targets(session_factory)
    again = _import(session_factory, text)
    assert (_counts(again), again.errors) == ((0, 0, 2, 0), [])
    assert sms_targets(session_factory) == before
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Subscriber)) == 2
        assert session.scalar(select(func.count()).select_from(ContactPoint)) == 3
    changed = _import(session_factory, "msisdn,district\n13900139000,通州|朝阳\n")
    assert _counts(changed) == (0, 1, 0, 0)


def test_an_openid_row_joins_the_subscriber_of_its_number(session_factory: Factory) -> None:
    _import(session_factory, "msisdn,district\n13800138000,朝阳\n")
    report = _import(session_factory, "msisdn,wechat_openid,district\n"
                                      "13800138000,oXyz,朝阳\n"
                                      ",oXyz,海淀\n")
    assert _counts(report) == (0, 1, 0, 1)
    with session_factory() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        assert [point.value for point in subscriber.contact_points] == ["+8613800138000", "oXyz"]


def test_an_openid_of_another_subscriber_refuses_the_row(session_factory: Factory) -> None:
    _import(session_factory, "msisdn,wechat_openid,district\n"
                             "13800138000,oXyz,朝阳\n"
                             "13900139000,,朝阳\n")
    report = _import(session_factory, "msisdn,wechat_openid,district\n13900139000,oXyz,海淀\n")
    assert report.errors == [RowError(2, "wechat_openid",
                                      "belongs to another subscriber than the msisdn of this row")]
    assert [target[1] for target in sms_targets(session_factory)] == ["110105", "110105"]


def test_an_import_never_resubscribes_someone_who_stopped(session_factory: Factory) -> None:
    with session_factory() as session:
        handle_mo(session, "13800138000", "DY 朝阳", districts=DISTRICTS)
        handle_mo(session, "13800138000", "TD", districts=DISTRICTS)
        session.commit()
    report = _import(session_factory, "msisdn,district\n13800138000,海淀\n")
    assert [(error.row, error.column) for error in report.errors] == [(2, "msisdn")]
    assert "only the subscriber can subscribe again" in report.errors[0].reason
    assert sms_targets(session_factory) == [("+8613800138000", "", "zh-CN", False, False)]


@pytest.mark.parametrize(("text", "errors"), [
    ("", [(1, "")]),
    ("phone,district\n13800138000,朝阳\n", [(1, "phone"), (1, "msisdn")]),
    ("msisdn\n13800138000\n", [(1, "district")]),
])
def test_a_bad_header_imports_nothing(session_factory: Factory, text: str,
                                      errors: list[tuple[int, str]]) -> None:
    report = _import(session_factory, text)
    assert [(error.row, error.column) for error in report.errors] == errors
    assert (report.created, sms_targets(session_factory)) == (0, [])


def test_a_row_longer_than_the_header_is_refused(session_factory: Factory) -> None:
    report = _import(session_factory, "\ufeffmsisdn,district\n13800138000,朝阳,extra\n")
    assert [str(error) for error in report.errors] == [
        "row 2: more fields than the header has columns"]


def test_a_long_list_is_committed_as_it_goes(session_factory: Factory) -> None:
    text = ("msisdn,district\n"
            "13800138000,朝阳\n"
            "13900139000,海淀\n"
            "+86 138 0013 8000,通州\n"
            "13700137000,东城\n"
            "13600136000,西城\n")
    with session_factory() as session:
        report = import_subscribers(session, text, districts=DISTRICTS, commit_every=2)
        # What the caller did not commit: the row after the last whole pair.
        session.rollback()
    assert _counts(report) == (4, 0, 0, 1)
    assert [target[:2] for target in sms_targets(session_factory)] == [
        ("+8613700137000", "110101"), ("+8613800138000", "110105|110112"),
        ("+8613900139000", "110108")]


def test_an_import_by_staff_needs_the_admin_role_and_is_audited(
        session_factory: Factory) -> None:
    author = Actor(1, "alice", frozenset({Role.AUTHOR}))
    admin = Actor(2, "root", frozenset({Role.ADMIN}))
    with session_factory() as session, pytest.raises(Forbidden) as refused:
        import_subscribers_as_staff(session, author, GOOD_AND_BAD, districts=DISTRICTS)
    assert refused.value.field == "role" and "admin" in refused.value.reason
    with session_factory() as session:
        report = import_subscribers_as_staff(session, admin, GOOD_AND_BAD, districts=DISTRICTS)
        session.commit()
        entry = session.scalars(select(AuditEntry)).one()
    assert report.created == 2
    assert (entry.actor, entry.action) == ("root", "import_subscribers")
    assert entry.detail == {"user_id": 2, "created": 2, "updated": 0, "unchanged": 0,
                            "merged": 0, "refused_rows": 4}


def _command(argv: list[str]) -> int:
    """``publisher subscriber ...`` through its own parser, as ``publisher.cli`` mounts it."""
    parser = argparse.ArgumentParser(prog="publisher")
    add_subscriber_commands(parser.add_subparsers(dest="command", required=True))
    arguments = parser.parse_args(argv)
    code: int = arguments.handler(arguments)
    return code


def test_the_cli_imports_a_file_and_reports_refused_rows(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = tmp_path / "data"
    csv_file = tmp_path / "subscribers.csv"
    csv_file.write_text(GOOD_AND_BAD, encoding="utf-8-sig")
    code = _command(["subscriber", "import", str(csv_file), "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert code == 1
    assert "2 created, 0 updated, 0 unchanged, 0 duplicate rows merged, 5 refused" in out
    assert f"{csv_file}: row 4, column msisdn:" in err
    engine = make_engine(f"sqlite:///{data_dir / 'publisher.db'}")
    try:
        with make_session_factory(engine)() as session:
            assert session.scalar(select(func.count()).select_from(Subscriber)) == 2
    finally:
        engine.dispose()


def test_the_cli_names_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"absent\.csv: no such file"):
        _command(["subscriber", "import", str(tmp_path / "absent.csv"),
                  "--data-dir", str(tmp_path)])
