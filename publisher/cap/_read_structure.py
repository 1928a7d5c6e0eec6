"""The content models of the official CAP XSDs, and a check of one element against them.

Each complex CAP element is an XSD sequence: children in a fixed order, each
required or optional, single or repeated. The tables below restate the
official CAP 1.0, 1.1 and 1.2 schemas so that one pass over the children of
an element finds what an XSD validator would find there, and names it by path.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lxml import etree

from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.versions import XMLDSIG_NAMESPACE, CapVersion

__all__ = [
    "ContentModel",
    "Grouped",
    "check_attributes", "content_models", "group_children", "join_path"]

Grouped = dict[str, list[etree._Element]]

_XSI_PREFIX = "{http://www.w3.org/2001/XMLSchema-instance}"
_XMLDSIG_PREFIX = f"{{{XMLDSIG_NAMESPACE}}}"
SIGNATURE_CLAUSE_1_1 = "1.1 3.3.2.1"

# (name, required, repeats)
_Child = tuple[str, bool, bool]


@dataclass(frozen=True, slots=True)
class ContentModel:
    """One XSD sequence, keyed by qualified tag for a dictionary lookup per child."""

    name: str
    children: tuple[_Child, ...]
    namespace: str
    signature_level: ProblemLevel | None = None
    positions: dict[str, int] = field(init=False)
    names: tuple[str, ...] = field(init=False)
    repeats: tuple[bool, ...] = field(init=False)
    required: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        positions = {f"{{{self.namespace}}}{name}": index
                     for index, (name, _, _) in enumerate(self.children)}
        object.__setattr__(self, "positions", positions)
        object.__setattr__(self, "names", tuple(name for name, _, _ in self.children))
        # A signature stands after every CAP element and may repeat.
        object.__setattr__(self, "repeats",
                           (*(repeats for _, _, repeats in self.children), True))
        object.__setattr__(self, "required",
                           tuple(name for name, required, _ in self.children if required))

    @property
    def signature_position(self) -> int:
        return len(self.children)

    def local_name(self, position: int) -> str:
        return self.names[position] if position < len(self.names) else "Signature"


@dataclass(frozen=True, slots=True)
class ContentModels:
    alert: ContentModel
    info: ContentModel
    resource: ContentModel
    area: ContentModel
    named_value: ContentModel


_ALERT_1_2: tuple[_Child, ...] = (
    ("identifier", True, False), ("sender", True, False), ("sent", True, False),
    ("status", True, False), ("msgType", True, False), ("source", False, False),
    ("scope", True, False), ("restriction", False, False), ("addresses", False, False),
    ("code", False, True), ("note", False, False), ("references", False, False),
    ("incidents", False, False), ("info", False, True),
)
_ALERT_1_0: tuple[_Child, ...] = (
    *_ALERT_1_2[:5], ("password", False, False), ("source", False, False),
    ("scope", False, False), *_ALERT_1_2[7:],
)
_INFO_HEAD: tuple[_Child, ...] = (
    ("language", False, False), ("category", True, True), ("event", True, False),
    ("responseType", False, True),
)
_INFO_TAIL: tuple[_Child, ...] = (
    ("urgency", True, False), ("severity", True, False), ("certainty", True, False),
    ("audience", False, False), ("eventCode", False, True), ("effective", False, False),
    ("onset", False, False), ("expires", False, False), ("senderName", False, False),
    ("headline", False, False), ("description", False, False), ("instruction", False, False),
    ("web", False, False), ("contact", False, False), ("parameter", False, True),
    ("resource", False, True), ("area", False, True),
)
_INFO_1_0: tuple[_Child, ...] = (
    ("language", False, False), ("category", False, True), ("event", True, False), *_INFO_TAIL,
)
_RESOURCE_1_2: tuple[_Child, ...] = (
    ("resourceDesc", True, False), ("mimeType", True, False), ("size", False, False),
    ("uri", False, False), ("derefUri", False, False), ("digest", False, False),
)
_RESOURCE_1_1: tuple[_Child, ...] = (
    ("resourceDesc", True, False), ("mimeType", False, False), *_RESOURCE_1_2[2:],
)
_RESOURCE_1_0: tuple[_Child, ...] = (*_RESOURCE_1_1[:4], ("digest", False, False))
_AREA: tuple[_Child, ...] = (
    ("areaDesc", True, False), ("polygon", False, True), ("circle", False, True),
    ("geocode", False, True), ("altitude", False, False), ("ceiling", False, False),
)
_NAMED_VALUE: tuple[_Child, ...] = (("valueName", True, False), ("value", True, False))


def _models(version: CapVersion, alert: tuple[_Child, ...], info: tuple[_Child, ...],
            resource: tuple[_Child, ...], signature_level: ProblemLevel | None) -> ContentModels:
    namespace = version.namespace
    return ContentModels(
        alert=ContentModel("alert", alert, namespace, signature_level),
        info=ContentModel("info", info, namespace),
        resource=ContentModel("resource", resource, namespace),
        area=ContentModel("area", _AREA, namespace),
        named_value=ContentModel("valueName/value", _NAMED_VALUE, namespace),
    )


_CONTENT_MODELS = {
    CapVersion.V1_2: _models(CapVersion.V1_2, _ALERT_1_2, _INFO_HEAD + _INFO_TAIL,
                             _RESOURCE_1_2, ProblemLevel.ERROR),
    # CAP 1.1's XSD has no xmldsig wildcard, but its text allows an enveloped
    # signature; such a signature is reported as a warning, not an error.
    CapVersion.V1_1: _models(CapVersion.V1_1, _ALERT_1_2, _INFO_HEAD + _INFO_TAIL,
                             _RESOURCE_1_1, ProblemLevel.WARNING),
    CapVersion.V1_0: _models(CapVersion.V1_0, _ALERT_1_0, _INFO_1_0, _RESOURCE_1_0, None),
}


def content_models(version: CapVersion) -> ContentModels:
    return _CONTENT_MODELS[version]


def join_path(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def _child_path(prefix: str, model: ContentModel, position: int, grouped: Grouped) -> str:
    if position >= len(model.names):
        return prefix
    name = model.names[position]
    if not model.repeats[position]:
        return join_path(prefix, name)
    return join_path(prefix, f"{name}[{len(grouped.get(name, ()))}]")


def _shown(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:37] + "...")


def check_attributes(element: etree._Element, path: str, problems: list[Problem]) -> None:
    for key in element.attrib:
        name = str(key)
        if not name.startswith(_XSI_PREFIX):
            problems.append(Problem(path, f"attribute {name} is not allowed"))


def _foreign_position(child: etree._Element, model: ContentModel, path: str,
                      problems: list[Problem]) -> int | None:
    """Where a non-CAP element may stand: an xmldsig element after every CAP
    element, where the version allows one; any other nowhere."""
    tag = str(child.tag)
    local_name = etree.QName(tag).localname
    if model.signature_level is None or not tag.startswith(_XMLDSIG_PREFIX):
        problems.append(Problem(join_path(path, local_name), f"unexpected element {tag}"))
        return None
    if model.signature_level is ProblemLevel.WARNING:
        problems.append(Problem(
            join_path(path, local_name),
            "the CAP 1.1 XSD has no place for an XML signature; accepted because the CAP 1.1 "
            "text allows an enveloped signature of <alert>",
            ProblemLevel.WARNING,
            SIGNATURE_CLAUSE_1_1,
        ))
    return model.signature_position


def group_children(element: etree._Element, model: ContentModel, path: str,
                   problems: list[Problem]) -> Grouped:
    """Check ``element``'s children against ``model`` and return them by local name.

    Children in the xmldsig namespace are grouped under their qualified tag.
    Order, cardinality, unknown elements, attributes and stray text are
    reported; every known child is kept, whatever its position.
    """
    grouped: Grouped = {}
    furthest = -1
    positions, names, repeats = model.positions, model.names, model.repeats
    text = element.text
    if text is not None and not text.isspace():
        problems.append(Problem(path, f"text {_shown(text)} is not allowed here"))
    for child in element:
        tail = child.tail
        if tail is not None and not tail.isspace():
            problems.append(Problem(path, f"text {_shown(tail)} is not allowed here"))
        tag = child.tag
        # Comments and processing instructions have a non-string tag that no
        # table holds, so they fall to the slow branch with unknown elements.
        position = positions.get(tag)
        if position is None:
            if not isinstance(tag, str):
                continue
            position = _foreign_position(child, model, path, problems)
            if position is None:
                continue
            name = tag
        else:
            name = names[position]
            if child.attrib:
                check_attributes(child, _child_path(path, model, position, grouped), problems)
        if position < furthest:
            problems.append(Problem(_child_path(path, model, position, grouped),
                                    f"out of order: must come before {model.local_name(furthest)}"))
        else:
            furthest = position
        siblings = grouped.get(name)
        if siblings is None:
            grouped[name] = [child]
        else:
            if not repeats[position]:
                problems.append(Problem(join_path(path, name),
                                        "appears more than once; CAP allows one"))
            siblings.append(child)
    for name in model.required:
        if name not in grouped:
            problems.append(Problem(join_path(path, name), "required element is missing"))
    return grouped
