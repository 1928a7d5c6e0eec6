"""Read a CAP 1.0, 1.1 or 1.2 alert into the model, and say what was wrong with it.

One pass over the tree checks each element against the content model of its
version's official XSD and converts its value. In lenient mode (the default)
every quirk becomes a Problem and the alert is still built whenever its
required alert-level elements are usable, because a real-world quirk must
never stop intake. Strict mode raises on any problem at all.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import Enum
from typing import TypeVar

from lxml import etree

from publisher.cap._read_structure import (
    ContentModels,
    Grouped,
    check_attributes,
    content_models,
    group_children,
    join_path,
)
from publisher.cap._read_values import (
    element_text,
    raw_text,
    read_circle,
    read_datetime,
    read_decimal,
    read_enumerated,
    read_integer,
    read_language,
    read_polygon,
)
from publisher.cap._read_versions import (
    DEFAULT_LANGUAGE,
    MSG_TYPES,
    SCOPES,
    SEVERITIES,
    URGENCIES,
    VERY_LIKELY,
    VOCABULARIES,
    assumed_mime_type,
    legacy_named_value,
    password_dropped,
    scope_missing,
    very_likely_read,
)
from publisher.cap.model import (
    Alert,
    Area,
    Certainty,
    Circle,
    Info,
    NamedValue,
    Polygon,
    Resource,
    Severity,
    Urgency,
)
from publisher.cap.problems import InvalidAlertError, NotCapError, Problem
from publisher.cap.versions import XMLDSIG_NAMESPACE, CapVersion, version_of_namespace
from publisher.cap.xmlsafe import XmlLimits, parse_untrusted_xml

__all__ = ["ReadResult", "read_alert", "read_alert_element"]

E = TypeVar("E", bound=Enum)
S = TypeVar("S", Polygon, Circle)

_SIGNATURE_TAG = f"{{{XMLDSIG_NAMESPACE}}}Signature"
_DEFAULT_LIMITS = XmlLimits()


@dataclass(frozen=True, slots=True)
class ReadResult:
    alert: Alert | None
    """None only when a required alert element is missing or unusable."""
    version: CapVersion
    problems: tuple[Problem, ...]
    signed: bool
    """A ds:Signature child of <alert> was present (not verified here)."""

    @property
    def ok(self) -> bool:
        return self.alert is not None and not any(problem.is_error for problem in self.problems)


def _blank(text: str | None) -> bool:
    return text is None or text.isspace()


class _AlertReader:
    """The state of one read: the version's tables and the problems found so far."""

    def __init__(self, version: CapVersion) -> None:
        self.version = version
        self.models: ContentModels = content_models(version)
        self.vocabulary = VOCABULARIES[version]
        self.problems: list[Problem] = []
        self.legacy = version is CapVersion.V1_0
        self.named_value_tags = (f"{{{version.namespace}}}valueName",
                                 f"{{{version.namespace}}}value")

    # leaves

    def _text(self, grouped: Grouped, name: str, prefix: str) -> str | None:
        elements = grouped.get(name)
        if elements is None:
            return None
        element = elements[0]
        if len(element):
            return element_text(element, join_path(prefix, name), self.problems)
        text = element.text
        return "" if text is None else text.strip()

    def _texts(self, grouped: Grouped, name: str, prefix: str) -> list[tuple[str, str]]:
        """Every text of a repeated element, with its path."""
        found = []
        for index, element in enumerate(grouped.get(name, ())):
            path = join_path(prefix, f"{name}[{index}]")
            found.append((path, element_text(element, path, self.problems)))
        return found

    def _time(self, grouped: Grouped, name: str, prefix: str) -> datetime | None:
        text = self._text(grouped, name, prefix)
        if text is None:
            return None
        return read_datetime(text, join_path(prefix, name), self.problems,
                             xsd_has_cap_pattern=self.version is CapVersion.V1_2)

    def _enumerated(self, grouped: Grouped, name: str, prefix: str,
                    allowed: dict[str, E]) -> E | None:
        elements = grouped.get(name)
        if not elements:
            return None
        path = join_path(prefix, name)
        return read_enumerated(raw_text(elements[0], path, self.problems), allowed, path,
                               self.problems)

    def _number(self, grouped: Grouped, name: str, prefix: str) -> float | None:
        text = self._text(grouped, name, prefix)
        if text is None:
            return None
        return read_decimal(text, join_path(prefix, name), self.problems)

    def _named_values(self, grouped: Grouped, name: str, prefix: str) -> tuple[NamedValue, ...]:
        if self.legacy:
            return tuple(legacy_named_value(text, path, self.problems)
                         for path, text in self._texts(grouped, name, prefix))
        elements = grouped.get(name)
        if elements is None:
            return ()
        found = []
        value_name_tag, value_tag = self.named_value_tags
        for index, element in enumerate(elements):
            # Nearly every pair is exactly <valueName/><value/>: take it without
            # grouping; anything else gets the full check and its problems.
            if len(element) == 2:
                first, second = element
                if first.tag == value_name_tag and second.tag == value_tag \
                        and not len(first) and not len(second) \
                        and not first.keys() and not second.keys() \
                        and _blank(element.text) and _blank(first.tail) and _blank(second.tail):
                    value_name, value = first.text, second.text
                    found.append(NamedValue("" if value_name is None else value_name.strip(),
                                            "" if value is None else value.strip()))
                    continue
            path = join_path(prefix, f"{name}[{index}]")
            pair = group_children(element, self.models.named_value, path, self.problems)
            found.append(NamedValue(self._text(pair, "valueName", path) or "",
                                    self._text(pair, "value", path) or ""))
        return tuple(found)

    # complex elements

    def read(self, root: etree._Element) -> Alert | None:
        grouped = group_children(root, self.models.alert, "", self.problems)
        identifier = self._text(grouped, "identifier", "")
        sender = self._text(grouped, "sender", "")
        sent = self._time(grouped, "sent", "")
        status = self._enumerated(grouped, "status", "", self.vocabulary.status)
        msg_type = self._enumerated(grouped, "msgType", "", MSG_TYPES)
        scope = self._enumerated(grouped, "scope", "", SCOPES)
        if self.legacy:
            self._legacy_alert(grouped)
        infos = tuple(self._info(element, f"info[{index}]")
                      for index, element in enumerate(grouped.get("info", ())))
        if identifier is None or sender is None or sent is None or status is None \
                or msg_type is None or scope is None:
            return None
        return Alert(
            identifier=identifier,
            sender=sender,
            sent=sent,
            status=status,
            msg_type=msg_type,
            scope=scope,
            source=self._text(grouped, "source", ""),
            restriction=self._text(grouped, "restriction", ""),
            addresses=self._text(grouped, "addresses", ""),
            codes=tuple(text for _, text in self._texts(grouped, "code", "")),
            note=self._text(grouped, "note", ""),
            references=self._text(grouped, "references", ""),
            incidents=self._text(grouped, "incidents", ""),
            infos=infos,
        )

    def _legacy_alert(self, grouped: Grouped) -> None:
        if "password" in grouped:
            self.problems.append(password_dropped())
        if "scope" not in grouped:
            self.problems.append(scope_missing())

    def _info(self, element: etree._Element, path: str) -> Info:
        grouped = group_children(element, self.models.info, path, self.problems)
        vocabulary = self.vocabulary
        return Info(
            language=self._language(grouped, path),
            categories=self._all_enumerated(grouped, "category", path, vocabulary.category),
            event=self._text(grouped, "event", path) or "",
            response_types=self._all_enumerated(grouped, "responseType", path,
                                                vocabulary.response_type),
            urgency=self._enumerated(grouped, "urgency", path, URGENCIES) or Urgency.UNKNOWN,
            severity=self._enumerated(grouped, "severity", path, SEVERITIES)
            or Severity.UNKNOWN,
            certainty=self._certainty(grouped, path),
            audience=self._text(grouped, "audience", path),
            event_codes=self._named_values(grouped, "eventCode", path),
            effective=self._time(grouped, "effective", path),
            onset=self._time(grouped, "onset", path),
            expires=self._time(grouped, "expires", path),
            sender_name=self._text(grouped, "senderName", path),
            headline=self._text(grouped, "headline", path),
            description=self._text(grouped, "description", path),
            instruction=self._text(grouped, "instruction", path),
            web=self._text(grouped, "web", path),
            contact=self._text(grouped, "contact", path),
            parameters=self._named_values(grouped, "parameter", path),
            resources=tuple(self._resource(child, join_path(path, f"resource[{index}]"))
                            for index, child in enumerate(grouped.get("resource", ()))),
            areas=tuple(self._area(child, join_path(path, f"area[{index}]"))
                        for index, child in enumerate(grouped.get("area", ()))),
        )

    def _language(self, grouped: Grouped, path: str) -> str:
        text = self._text(grouped, "language", path)
        if text is None:
            return DEFAULT_LANGUAGE
        return read_language(text, join_path(path, "language"), self.problems) \
            or DEFAULT_LANGUAGE

    def _all_enumerated(self, grouped: Grouped, name: str, prefix: str,
                        allowed: dict[str, E]) -> tuple[E, ...]:
        found = []
        for index, element in enumerate(grouped.get(name, ())):
            path = join_path(prefix, f"{name}[{index}]")
            value = read_enumerated(raw_text(element, path, self.problems), allowed, path,
                                    self.problems)
            if value is not None:
                found.append(value)
        return tuple(found)

    def _certainty(self, grouped: Grouped, path: str) -> Certainty:
        certainty = self._enumerated(grouped, "certainty", path, self.vocabulary.certainty)
        if certainty is None:
            return Certainty.UNKNOWN
        if self.legacy and grouped["certainty"][0].text == VERY_LIKELY:
            self.problems.append(very_likely_read(join_path(path, "certainty")))
        return certainty

    def _resource(self, element: etree._Element, path: str) -> Resource:
        grouped = group_children(element, self.models.resource, path, self.problems)
        mime_type = self._text(grouped, "mimeType", path)
        uri = self._text(grouped, "uri", path)
        if mime_type is None and self.version is not CapVersion.V1_2:
            mime_type = assumed_mime_type(uri, self.version, join_path(path, "mimeType"),
                                          self.problems)
        size = self._text(grouped, "size", path)
        return Resource(
            resource_desc=self._text(grouped, "resourceDesc", path) or "",
            mime_type=mime_type or "",
            size=None if size is None else read_integer(size, join_path(path, "size"),
                                                        self.problems),
            uri=uri,
            deref_uri=self._text(grouped, "derefUri", path),
            digest=self._text(grouped, "digest", path),
        )

    def _area(self, element: etree._Element, path: str) -> Area:
        grouped = group_children(element, self.models.area, path, self.problems)
        return Area(
            area_desc=self._text(grouped, "areaDesc", path) or "",
            polygons=self._shapes(grouped, "polygon", path, read_polygon),
            circles=self._shapes(grouped, "circle", path, read_circle),
            geocodes=self._named_values(grouped, "geocode", path),
            altitude=self._number(grouped, "altitude", path),
            ceiling=self._number(grouped, "ceiling", path),
        )

    def _shapes(self, grouped: Grouped, name: str, prefix: str,
                read_shape: Callable[[str, str, list[Problem]], S | None]) -> tuple[S, ...]:
        if name not in grouped:
            return ()
        shapes = (read_shape(text, path, self.problems)
                  for path, text in self._texts(grouped, name, prefix))
        return tuple(shape for shape in shapes if shape is not None)


def _not_cap_reason(root: etree._Element) -> str:
    tag = root.tag if isinstance(root.tag, str) else repr(root.tag)
    if etree.QName(tag).localname == "alert":
        return (f"root element is {tag}, not a CAP alert "
                "(namespace is not CAP 1.0, 1.1 or 1.2)")
    return f"root element is {tag}, not a CAP alert"


def _read(root: etree._Element, version: CapVersion) -> tuple[Alert | None, list[Problem]]:
    reader = _AlertReader(version)
    if root.attrib:
        check_attributes(root, "", reader.problems)
    return reader.read(root), reader.problems


def read_alert_element(root: etree._Element, *, strict: bool = False) -> ReadResult:
    """Read an <alert> element, such as one embedded in a feed or an EDXL-DE envelope.

    Raises NotCapError when ``root`` is not a CAP alert, and in strict mode
    InvalidAlertError when anything at all was found wrong.
    """
    tag = root.tag
    name = etree.QName(tag) if isinstance(tag, str) else None
    version = version_of_namespace(name.namespace) if name is not None else None
    if name is None or version is None or name.localname != "alert":
        raise NotCapError(_not_cap_reason(root))
    alert, found = _read(root, version)
    signed = root.find(_SIGNATURE_TAG) is not None
    problems = tuple(found)
    if strict and problems:
        raise InvalidAlertError(problems)
    return ReadResult(alert, version, problems, signed)


def read_alert(data: bytes, *, strict: bool = False,
               limits: XmlLimits = _DEFAULT_LIMITS) -> ReadResult:
    """Parse untrusted bytes and read the CAP alert they hold.

    Raises HostileXmlError for a refused document, NotCapError when it is not
    a CAP alert, and in strict mode InvalidAlertError on any problem.
    """
    return read_alert_element(parse_untrusted_xml(data, limits), strict=strict)
