"""Subscribers in bulk from CSV, with an error per refused row naming its column and reason.

Columns (a header row first; only ``district`` and one contact are required):

| column          | value                                                        |
|-----------------|--------------------------------------------------------------|
| ``msisdn``      | a mobile number, any usual form (``138...``, ``+86 138...``) |
| ``wechat_openid`` | the subscriber's WeChat openid                             |
| ``district``    | GB/T 2260 codes or district names (Chinese or English),      |
|                 | several separated by ``|``: ``朝阳|海淀``, at most five      |
| ``language``    | ``zh-CN`` (default) or ``en-US``                             |
| ``is_test``     | ``true`` for a test recipient (Exercise and Test alerts)     |

A row is applied whole or not at all: it is checked, conflicts included,
before anything of it is written. Rows naming a number or an openid seen
before (in the file or in the database) update that subscriber: the
districts of the row are followed besides those followed already (a list
never takes away what a citizen chose by SMS), the later row's language
and test flag win, contact points are added. Importing a file again
therefore changes nothing: its rows count as unchanged.
Somebody who unsubscribed is never subscribed again by an import.
Rows are numbered as in a spreadsheet: the header is row 1.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from sqlalchemy.orm import Session

from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput
from publisher.services.languages import DEFAULT_LANGUAGE, LANGUAGES, language_named
from publisher.services.msisdn import normalise_msisdn
from publisher.services.subscribers import (
    MAX_DISTRICTS,
    TooManyDistricts,
    find_subscriber,
    followed_codes,
    new_subscriber,
    update_subscriber,
)
from publisher.store.models import ContactKind, Role, Subscriber

__all__ = [
    "COLUMNS",
    "DISTRICT_SEPARATOR",
    "ROWS_PER_COMMIT",
    "ImportReport",
    "RowError",
    "import_subscribers",
    "import_subscribers_as_staff",
]

T = TypeVar("T")

MSISDN = "msisdn"
OPENID = "wechat_openid"
DISTRICT = "district"
LANGUAGE = "language"
IS_TEST = "is_test"
COLUMNS = (MSISDN, OPENID, DISTRICT, LANGUAGE, IS_TEST)
DISTRICT_SEPARATOR = "|"
ROWS_PER_COMMIT = 500
"""Rows an import commits at once: alerts published meanwhile wait for no more than these."""
HEADER_ROW = 1
OPENID_LENGTH = 128
_TRUE = {"true", "yes", "1", "y", "是"}
_FALSE = {"false", "no", "0", "n", "否", ""}


@dataclass(frozen=True, slots=True)
class RowError:
    row: int
    column: str
    reason: str

    def __str__(self) -> str:
        where = f", column {self.column}" if self.column else ""
        return f"row {self.row}{where}: {self.reason}"


@dataclass(slots=True)
class ImportReport:
    created: int = 0
    """Subscribers new to the database."""
    updated: int = 0
    """Subscribers that existed before this import and were changed by it."""
    unchanged: int = 0
    """Subscribers that existed before this import and already were as its row says."""
    merged: int = 0
    """Rows that named a subscriber an earlier row of the file had named."""
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    msisdn: str | None
    openid: str | None
    district_codes: tuple[str, ...]
    language: str
    is_test: bool


def _header_errors(header: list[str] | None) -> list[RowError]:
    if header is None:
        return [RowError(HEADER_ROW, "", "the file is empty: a header row is required")]
    errors = [RowError(HEADER_ROW, name, f"unknown column; the columns are {', '.join(COLUMNS)}")
              for name in header if name not in COLUMNS]
    if DISTRICT not in header:
        errors.append(RowError(HEADER_ROW, DISTRICT, "missing column"))
    if MSISDN not in header and OPENID not in header:
        errors.append(RowError(HEADER_ROW, MSISDN, f"missing column: {MSISDN} or {OPENID}"))
    return errors


def _unknown_district(text: str, districts: DistrictNames) -> str:
    close = ", ".join(f"{each.code} ({each.name_en})" for each in districts.close_to(text))
    return f"unknown district {text!r}" + (f"; did you mean {close}?" if close else "")


def _district_codes(text: str, districts: DistrictNames) -> tuple[str, ...]:
    names = [name.strip() for name in text.split(DISTRICT_SEPARATOR) if name.strip()]
    if not names:
        raise InvalidInput("required", field=DISTRICT)
    found = {name: districts.find(name) for name in names}
    unknown = [_unknown_district(name, districts) for name, district in found.items()
               if district is None]
    if unknown:
        raise InvalidInput("; ".join(unknown), field=DISTRICT)
    codes = tuple(dict.fromkeys(district.code for district in found.values()
                                if district is not None))
    if len(codes) > MAX_DISTRICTS:
        raise InvalidInput(f"names {len(codes)} districts; a subscriber follows at most"
                           f" {MAX_DISTRICTS}", field=DISTRICT)
    return codes


def _language(text: str) -> str:
    if not text:
        return DEFAULT_LANGUAGE
    language = language_named(text)
    if language is None:
        raise InvalidInput(f"{text!r} is not one of {', '.join(LANGUAGES)}", field=LANGUAGE)
    return language


def _flag(text: str) -> bool:
    folded = text.casefold()
    if folded in _TRUE:
        return True
    if folded in _FALSE:
        return False
    raise InvalidInput(f"{text!r} is not true or false", field=IS_TEST)


def _openid(text: str) -> str | None:
    if len(text) > OPENID_LENGTH:
        raise InvalidInput(f"longer than {OPENID_LENGTH} characters", field=OPENID)
    return text or None


def _msisdn(text: str) -> str | None:
    return normalise_msisdn(text) if text else None


def _read_row(number: int, values: dict[str | None, object],
              districts: DistrictNames) -> _Row | list[RowError]:
    if None in values:
        return [RowError(number, "", "more fields than the header has columns")]
    cells = {name: str(value or "").strip() for name, value in values.items() if name}
    errors: list[RowError] = []

    def checked(column: str, check: Callable[[str], T]) -> T | None:
        try:
            return check(cells.get(column, ""))
        except InvalidInput as error:
            errors.append(RowError(number, column, error.reason))
            return None

    msisdn = checked(MSISDN, _msisdn)
    openid = checked(OPENID, _openid)
    district_codes = checked(DISTRICT, lambda text: _district_codes(text, districts))
    language = checked(LANGUAGE, _language)
    is_test = checked(IS_TEST, _flag)
    if errors:
        return errors
    if msisdn is None and openid is None:
        return [RowError(number, MSISDN, f"required: a number, or a {OPENID}")]
    assert district_codes is not None and language is not None and is_test is not None
    return _Row(number, msisdn, openid, district_codes, language, is_test)


def _owner(session: Session, row: _Row) -> Subscriber | RowError | None:
    """The subscriber the row's contact points already reach; a RowError when they disagree."""
    by_number = find_subscriber(session, ContactKind.MSISDN, row.msisdn) if row.msisdn else None
    by_openid = find_subscriber(session, ContactKind.WECHAT_OPENID, row.openid) \
        if row.openid else None
    if by_number is not None and by_openid is not None and by_number is not by_openid:
        return RowError(row.number, OPENID,
                        f"belongs to another subscriber than the {MSISDN} of this row")
    owner = by_number or by_openid
    if owner is not None and owner.unsubscribed_at is not None and not owner.active:
        # An opt-out is the citizen's to undo, by text message, never a list's.
        return RowError(row.number, MSISDN if by_number is not None else OPENID,
                        f"unsubscribed on {owner.unsubscribed_at:%Y-%m-%d}; only the subscriber"
                        " can subscribe again")
    return owner


def _contacts(row: _Row) -> list[tuple[ContactKind, str]]:
    return [(kind, value) for kind, value in ((ContactKind.MSISDN, row.msisdn),
                                              (ContactKind.WECHAT_OPENID, row.openid))
            if value is not None]


def _state(subscriber: Subscriber) -> tuple[object, ...]:
    return (sorted((point.kind, point.value) for point in subscriber.contact_points),
            followed_codes(subscriber), subscriber.language, subscriber.is_test,
            subscriber.active)


def _apply(session: Session, row: _Row, subscriber: Subscriber) -> None:
    """Raises TooManyDistricts, before anything is written, when the cap would be passed."""
    update_subscriber(session, subscriber, contact_points=_contacts(row),
                      district_codes=row.district_codes, language=row.language,
                      is_test=row.is_test)


def _import_row(session: Session, row: _Row, report: ImportReport, touched: set[int]) -> None:
    owner = _owner(session, row)
    if isinstance(owner, RowError):
        report.errors.append(owner)
        return
    subscriber = owner if owner is not None else new_subscriber(session)
    before = _state(subscriber)
    try:
        _apply(session, row, subscriber)
    except TooManyDistricts as refused:
        # Only a subscriber known already can pass the cap: a row names five at most.
        report.errors.append(RowError(row.number, DISTRICT, refused.reason))
        return
    if owner is None:
        report.created += 1
    elif owner.id in touched:
        report.merged += 1
    elif _state(owner) == before:
        report.unchanged += 1
    else:
        report.updated += 1
    touched.add(subscriber.id)


def import_subscribers(session: Session, csv_text: str, *, districts: DistrictNames,
                       commit_every: int | None = None) -> ImportReport:
    """Create or update a subscriber per valid row; every refused row is in the report.

    Changes are flushed in ``session``; committing is the caller's, except
    that with ``commit_every`` the rows so far are committed after each that
    many rows: a long list then never holds the database (SQLite locks it
    whole) from the alerts being published meanwhile. Importing the list
    again completes one that was interrupted.
    """
    # newline="": the csv module finds the ends of rows itself, a lone \r included.
    reader = csv.DictReader(io.StringIO(csv_text.removeprefix("\ufeff"), newline=""))
    try:
        return _import_rows(session, reader, districts, commit_every)
    except csv.Error as error:
        raise InvalidInput(f"malformed CSV: {error}", field="body") from None


def _import_rows(session: Session, reader: csv.DictReader[str], districts: DistrictNames,
                 commit_every: int | None) -> ImportReport:
    report = ImportReport()
    header = [name.strip() for name in reader.fieldnames] if reader.fieldnames else None
    report.errors += _header_errors(header)
    if report.errors:
        return report
    reader.fieldnames = header
    touched: set[int] = set()
    for number, values in enumerate(reader, start=HEADER_ROW + 1):
        row = _read_row(number, values, districts)
        if isinstance(row, list):
            report.errors += row
        else:
            _import_row(session, row, report, touched)
        if commit_every and (number - HEADER_ROW) % commit_every == 0:
            session.commit()
    return report


def import_subscribers_as_staff(session: Session, actor: Actor, csv_text: str, *,
                                districts: DistrictNames,
                                commit_every: int | None = None) -> ImportReport:
    """``import_subscribers`` for an administrator, audited with its counts."""
    require_role(actor, Role.ADMIN, "importing subscribers")
    report = import_subscribers(session, csv_text, districts=districts,
                                commit_every=commit_every)
    audit.record(session, actor, "import_subscribers", detail={
        "created": report.created, "updated": report.updated, "unchanged": report.unchanged,
        "merged": report.merged, "refused_rows": len({error.row for error in report.errors})})
    return report
