"""Boards, speakers and terminals in bulk from CSV, with an error per refused row and column.

A header row comes first; ``device_id``, ``kind``, ``district_code``,
``lon`` and ``lat`` are required, the others may be left out or empty:

| column | value |
|---|---|
| ``device_id`` | 1 to 64 letters, digits, ``.``, ``_``, ``-`` |
| ``kind`` | ``led``, ``speaker`` or ``terminal`` |
| ``endpoint`` | a board's or speaker's URL; a terminal has none |
| ``sector`` | a terminal's: ``school``, ``hospital``, ``newsroom``, ``rail``, ... |
| ``district_code`` | a district code or name (``district`` is taken as well) |
| ``lon``, ``lat`` | WGS 84 degrees (``longitude``, ``latitude`` are taken as well) |
| ``language``, ``heartbeat_interval``, ``is_test``, ``name`` | as for one device |
| ``rows``, ``columns``, ``colours``, ``scrolls`` | a board's capabilities |
| ``formats``, ``volume`` | a speaker's capabilities |
| ``languages`` | what it can show or speak |
| ``token`` | the device's token; left empty, a new device gets one generated |

Lists (``colours``, ``formats``, ``languages``) separate their items with
``|``. The checks are those of one device (``devices.device_spec``), so a
row is refused for what ``publisher device add`` refuses, and also when its
``device_id`` is on an earlier row of the file.

A row is applied whole or refused whole: it is checked, conflicts with
registered devices included, before anything of it is written; the valid
rows are applied, and each refused row is in the report with its number
(the header is row 1, as in a spreadsheet), its column and the reason. A
known device is brought in line with its row, keeping its token when the
row has none, so importing a file again changes nothing. Tokens generated
for new devices are in the report, the only place they are ever shown.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from publisher.services.device_import import token_sha256
from publisher.services.devices import (
    apply_device_spec,
    device_spec,
    find_device,
    new_device_token,
)
from publisher.services.district_names import DistrictNames
from publisher.services.errors import Conflict, InvalidInput
from publisher.services.subscriber_import import RowError
from publisher.services.users import token_digest

__all__ = [
    "COLUMNS",
    "LIST_SEPARATOR",
    "REQUIRED_COLUMNS",
    "DeviceCsvReport",
    "import_device_csv",
]

HEADER_ROW = 1
LIST_SEPARATOR = "|"
TOKEN = "token"  # noqa: S105 - a column name, not a secret
_TEXT = ("device_id", "kind", "endpoint", "sector", "district_code", "language", "name")
_NUMBERS = ("lon", "lat")
_WHOLE = ("heartbeat_interval",)
_FLAGS = ("is_test",)
_CAPABILITY_WHOLE = ("rows", "columns", "volume")
_CAPABILITY_FLAGS = ("scrolls",)
_CAPABILITY_LISTS = ("colours", "formats", "languages")
COLUMNS = (*_TEXT[:5], *_NUMBERS, *_TEXT[5:], *_WHOLE, *_FLAGS, *_CAPABILITY_WHOLE,
           *_CAPABILITY_FLAGS, *_CAPABILITY_LISTS, TOKEN)
REQUIRED_COLUMNS = ("device_id", "kind", "district_code", "lon", "lat")
_ALIASES = {"district": "district_code", "longitude": "lon", "latitude": "lat"}
_FLAG_WORDS = {word: True for word in ("true", "yes", "y", "1", "是")} | {
    word: False for word in ("false", "no", "n", "0", "否")}


@dataclass(slots=True)
class DeviceCsvReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict, repr=False)
    """The tokens generated for new devices, by device id: shown once, stored as SHA-256."""

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def refused(self) -> int:
        return len({error.row for error in self.errors})


def _number(text: str, column: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a number of degrees", field=column) from None
    if not math.isfinite(number):
        raise InvalidInput(f"{text!r} is not a number of degrees", field=column)
    return number


def _whole(text: str, column: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a whole number", field=column) from None


def _flag(text: str, column: str) -> bool:
    value = _FLAG_WORDS.get(text.casefold())
    if value is None:
        raise InvalidInput(f"{text!r} is not true or false", field=column)
    return value


def _items(text: str, _column: str) -> list[str]:
    return [item.strip() for item in text.split(LIST_SEPARATOR)]


_READERS: Mapping[str, Callable[[str, str], Any]] = {
    **{name: lambda text, _column: text for name in _TEXT}, **dict.fromkeys(_NUMBERS, _number),
    **dict.fromkeys((*_WHOLE, *_CAPABILITY_WHOLE), _whole),
    **dict.fromkeys((*_FLAGS, *_CAPABILITY_FLAGS), _flag),
    **dict.fromkeys(_CAPABILITY_LISTS, _items)}
_CAPABILITIES = (*_CAPABILITY_WHOLE, *_CAPABILITY_FLAGS, *_CAPABILITY_LISTS)


def _header(names: list[str] | None) -> tuple[dict[str, str], list[RowError]]:
    """Each column of the file by the field it gives, and what is wrong with the header."""
    if names is None:
        return {}, [RowError(HEADER_ROW, "", "the file is empty: a header row is required")]
    columns: dict[str, str] = {}
    errors = []
    for name in names:
        canonical = _ALIASES.get(name.casefold(), name.casefold())
        if canonical not in COLUMNS:
            errors.append(RowError(HEADER_ROW, name, "unknown column; the columns are"
                                                     f" {', '.join(COLUMNS)}"))
        elif canonical in columns:
            errors.append(RowError(HEADER_ROW, name, f"a second {canonical} column"))
        else:
            columns[canonical] = name
    errors += [RowError(HEADER_ROW, name, "missing column") for name in REQUIRED_COLUMNS
               if name not in columns]
    return columns, errors


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    fields: dict[str, Any]
    token: str


def _read_row(number: int, values: Mapping[str | None, Any], columns: Mapping[str, str]
              ) -> _Row | list[RowError]:
    if None in values:
        return [RowError(number, "", "more fields than the header has columns")]
    fields: dict[str, Any] = {}
    capabilities: dict[str, Any] = {}
    errors = []
    for canonical, name in columns.items():
        text = str(values.get(name) or "").strip()
        if not text or canonical == TOKEN:
            continue
        try:
            value = _READERS[canonical](text, name)
        except InvalidInput as error:
            errors.append(RowError(number, name, error.reason))
            continue
        (capabilities if canonical in _CAPABILITIES else fields)[canonical] = value
    if errors:
        return errors
    if capabilities:
        fields["capabilities"] = capabilities
    return _Row(number, fields, str(values.get(columns.get(TOKEN, "")) or "").strip())


def _column(failed: str | None, columns: Mapping[str, str]) -> str:
    """The file's column for the field ``device_spec`` names (``capabilities.rows``: ``rows``)."""
    name = (failed or "").removeprefix("capabilities.")
    return columns.get(name, name)


def _import_row(session: Session, row: _Row, districts: DistrictNames,
                report: DeviceCsvReport) -> None:
    spec = device_spec(row.fields, districts)
    token = row.token
    if token:
        digest: str | None = token_sha256(token)
    elif find_device(session, spec.device_id) is None:
        token = new_device_token()
        digest = token_digest(token)
    else:
        digest = None  # a registered device keeps the token it has
    _, outcome = apply_device_spec(session, spec, digest)
    setattr(report, outcome, getattr(report, outcome) + 1)
    if outcome == "created" and not row.token:
        report.tokens[spec.device_id] = token


def import_device_csv(session: Session, csv_text: str, districts: DistrictNames
                      ) -> DeviceCsvReport:
    """Register or update a device per valid row; every refused row is in the report.

    Changes are flushed in ``session``; committing is the caller's.
    """
    report = DeviceCsvReport()
    reader = csv.DictReader(io.StringIO(csv_text.removeprefix("\ufeff")))
    names = [name.strip() for name in reader.fieldnames] if reader.fieldnames else None
    columns, report.errors = _header(names)
    if report.errors:
        return report
    reader.fieldnames = names
    listed: dict[str, int] = {}
    for number, values in enumerate(reader, start=HEADER_ROW + 1):
        row = _read_row(number, values, columns)
        if isinstance(row, list):
            report.errors += row
            continue
        device_id = str(row.fields.get("device_id", ""))
        if device_id and device_id in listed:
            report.errors.append(RowError(number, columns["device_id"],
                                          f"{device_id} is on row {listed[device_id]} already:"
                                          " list a device once"))
            continue
        if device_id:
            listed[device_id] = number
        try:
            _import_row(session, row, districts, report)
        except (InvalidInput, Conflict) as error:
            report.errors.append(RowError(number, _column(error.field, columns), error.reason))
    return report

