"""Subscribers in bulk from CSV, with an error per refused row naming its column and reason.

Columns (a header row first; only ``district`` and one contact are required):

| column          | value                                                        |
|-----------------|--------------------------------------------------------------|
| ``msisdn``      | a mobile number, any usual form (``138...``, ``+86 138...``) |
| ``wechat_openid`` | the subscriber's WeChat openid                             |
| ``district``    | a GB/T 2260 code or a district name (Chinese or English)     |
| ``language``    | ``zh-CN`` (default) or ``en-US``                             |
| ``is_test``     | ``true`` for a test recipient (Exercise and Test alerts)     |

A row is applied whole or not at all: it is checked, conflicts included,
before anything of it is written. Rows naming a number or an openid seen
before (in the file or in the database) update that subscriber: the later
row's district, language and test flag win, contact points are added.
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

from publisher.cap.districts import District
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput
from publisher.services.languages import DEFAULT_LANGUAGE, LANGUAGES, language_named
from publisher.services.msisdn import normalise_msisdn
from publisher.services.subscribers import (
    add_contact_point,
    find_subscriber,
    follow_district,
    new_subscriber,
    set_language,
    set_test,
)
from publisher.store.models import ContactKind, Subscriber

__all__ = ["COLUMNS", "ImportReport", "RowError", "import_subscribers"]

T = TypeVar("T")

MSISDN = "msisdn"
OPENID = "wechat_openid"
DISTRICT = "district"
LANGUAGE = "language"
IS_TEST = "is_test"
COLUMNS = (MSISDN, OPENID, DISTRICT, LANGUAGE, IS_TEST)
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
    """Subscribers that existed before this import."""
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
    district: District
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


def _district(text: str, districts: DistrictNames) -> District:
    if not text:
        raise InvalidInput("required", field=DISTRICT)
    found = districts.find(text)
    if found is not None:
        return found
    close = ", ".join(f"{each.code} ({each.name_en})" for each in districts.close_to(text))
    hint = f"; did you mean {close}?" if close else ""
    raise InvalidInput(f"unknown district {text!r}{hint}", field=DISTRICT)


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
    district = checked(DISTRICT, lambda text: _district(text, districts))
    language = checked(LANGUAGE, _language)
    is_test = checked(IS_TEST, _flag)
    if errors:
        return errors
    if msisdn is None and openid is None:
        return [RowError(number, MSISDN, f"required: a number, or a {OPENID}")]
    assert district is not None and language is not None and is_test is not None
    return _Row(number, msisdn, openid, district, language, is_test)


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


def _apply(session: Session, row: _Row, subscriber: Subscriber) -> None:
    for kind, value in ((ContactKind.MSISDN, row.msisdn), (ContactKind.WECHAT_OPENID, row.openid)):
        if value is not None:
            add_contact_point(session, subscriber, kind, value)
    set_language(session, subscriber, row.language)
    set_test(session, subscriber, row.is_test)
    follow_district(session, subscriber, row.district.code)


def import_subscribers(session: Session, csv_text: str, *,
                       districts: DistrictNames) -> ImportReport:
    """Create or update a subscriber per valid row; every refused row is in the report.

    Changes are flushed in ``session``; committing is the caller's.
    """
    report = ImportReport()
    reader = csv.DictReader(io.StringIO(csv_text.removeprefix("\ufeff")))
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
            continue
        owner = _owner(session, row)
        if isinstance(owner, RowError):
            report.errors.append(owner)
            continue
        if owner is None:
            owner = new_subscriber(session)
            report.created += 1
        elif owner.id in touched:
            report.merged += 1
        else:
            report.updated += 1
        _apply(session, row, owner)
        touched.add(owner.id)
    return report
