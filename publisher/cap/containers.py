"""Documents that carry CAP alerts: Atom and RSS feeds, EDXL-DE envelopes, alert lists.

Alerting authorities publish CAP inside these wrappers as often as on its
own. Each wrapper is checked against the rules of its own standard, and the
alerts it embeds are handed back with the path where they stand, so that the
caller can check them as CAP and report problems where a person can find them.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from importlib import resources

from lxml import etree

from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.versions import version_of_namespace

__all__ = ["ContainerKind", "ContainerReport", "EmbeddedAlert", "inspect_container"]

ATOM = "http://www.w3.org/2005/Atom"
EDXL_DE = "urn:oasis:names:tc:emergency:EDXL:DE:1.0"

_ATOM_FEED_CHILDREN = frozenset(
    {"author", "category", "contributor", "generator", "icon", "id", "link", "logo", "rights",
     "subtitle", "title", "updated", "entry"}
)
_ATOM_ENTRY_CHILDREN = frozenset(
    {"author", "category", "content", "contributor", "id", "link", "published", "rights",
     "source", "summary", "title", "updated"}
)
_ATOM_REQUIRED = ("id", "title", "updated")
_RSS_CHANNEL_REQUIRED = ("title", "link", "description")


class ContainerKind(enum.StrEnum):
    ATOM = "atom"
    RSS = "rss"
    EDXL_DE = "edxl-de"
    ALERT_LIST = "alert-list"


@dataclass(frozen=True, slots=True)
class EmbeddedAlert:
    path: str
    element: etree._Element


@dataclass(frozen=True, slots=True)
class ContainerReport:
    kind: ContainerKind
    problems: tuple[Problem, ...]
    alerts: tuple[EmbeddedAlert, ...]


def _local(element: etree._Element) -> str:
    return etree.QName(element).localname


def _namespace(element: etree._Element) -> str | None:
    return etree.QName(element).namespace


def _is_cap_alert(element: etree._Element) -> bool:
    return _local(element) == "alert" and version_of_namespace(_namespace(element)) is not None


def _indexed_children(parent: etree._Element) -> Iterator[tuple[str, etree._Element]]:
    """Yield (name[index], child) for element children, indexed per local name."""
    counts: dict[str, int] = {}
    for child in parent.iterchildren(tag=etree.Element):
        name = _local(child)
        index = counts.get(name, 0)
        counts[name] = index + 1
        yield f"{name}[{index}]", child


def _embedded_alerts(parent: etree._Element, path: str) -> list[EmbeddedAlert]:
    found: list[EmbeddedAlert] = []
    for step, child in _indexed_children(parent):
        child_path = f"{path}/{step}" if path else step
        if _is_cap_alert(child):
            found.append(EmbeddedAlert(child_path.removesuffix("[0]"), child))
        else:
            found.extend(_embedded_alerts(child, child_path))
    return found


def _missing(parent: etree._Element, namespace: str | None, names: tuple[str, ...],
             path: str, standard: str) -> list[Problem]:
    tag = "{%s}%s" if namespace else "%s%s"
    prefix = f"{path}/" if path else ""
    return [
        Problem(f"{prefix}{name}", f"required element is missing ({standard})")
        for name in names
        if parent.find(tag % (namespace or "", name)) is None
    ]


def _check_atom_entry(entry: etree._Element, path: str) -> list[Problem]:
    problems = _missing(entry, ATOM, _ATOM_REQUIRED, path, "RFC 4287 4.1.2")
    for step, child in _indexed_children(entry):
        if _namespace(child) == ATOM and _local(child) not in _ATOM_ENTRY_CHILDREN:
            problems.append(Problem(f"{path}/{step}", "unexpected element in the Atom namespace"))
    content = entry.find(f"{{{ATOM}}}content")
    has_content = content is not None and (len(content) > 0 or bool((content.text or "").strip())
                                           or content.get("src"))
    links = [link for link in entry.iterfind(f"{{{ATOM}}}link") if link.get("href")]
    alternate = [link for link in links if link.get("rel", "alternate") == "alternate"]
    if not has_content and not alternate:
        problems.append(Problem(
            path,
            "entry has no content and no alternate link: nothing leads to its CAP alert "
            "(RFC 4287 4.1.2)",
        ))
    return problems


def _check_atom(feed: etree._Element) -> list[Problem]:
    problems = _missing(feed, ATOM, _ATOM_REQUIRED, "", "RFC 4287 4.1.1")
    for step, child in _indexed_children(feed):
        if _namespace(child) == ATOM:
            if _local(child) not in _ATOM_FEED_CHILDREN:
                problems.append(Problem(step, "unexpected element in the Atom namespace"))
            elif _local(child) == "entry":
                problems.extend(_check_atom_entry(child, step))
        elif _is_cap_alert(child):
            problems.append(Problem(
                step.removesuffix("[0]"),
                "a CAP alert directly under <feed>; it belongs inside an <entry>",
            ))
    return problems


def _check_rss(rss: etree._Element) -> list[Problem]:
    channel = rss.find("channel")
    if channel is None:
        return [Problem("channel", "required element is missing (RSS 2.0)")]
    problems = _missing(channel, None, _RSS_CHANNEL_REQUIRED, "channel", "RSS 2.0")
    for index, item in enumerate(channel.iterfind("item")):
        if item.find("title") is None and item.find("description") is None:
            problems.append(Problem(
                f"channel/item[{index}]",
                "item has neither title nor description (RSS 2.0: at least one is required)",
            ))
    return problems


@cache
def _edxl_schema() -> etree.XMLSchema:
    schema_file = resources.files("publisher.cap").joinpath("schema/EDXL-DE-1.0.xsd")
    return etree.XMLSchema(etree.fromstring(schema_file.read_bytes()))


def _readable_path(element: etree._Element) -> str:
    steps: list[str] = []
    while (parent := element.getparent()) is not None:
        name = _local(element)
        index = sum(1 for sibling in element.itersiblings(preceding=True)
                    if isinstance(sibling.tag, str) and _local(sibling) == name)
        steps.append(f"{name}[{index}]")
        element = parent
    return "/".join(reversed(steps))


def _check_edxl(envelope: etree._Element) -> list[Problem]:
    problems: list[Problem] = []
    for embedded in envelope.iter(f"{{{EDXL_DE}}}embeddedXMLContent"):
        if len(embedded) == 0:
            problems.append(Problem(
                _readable_path(embedded),
                "embedded XML content is empty: the content object carries no message",
            ))
    schema = _edxl_schema()
    if schema.validate(envelope):
        return problems
    tree = envelope.getroottree()
    for error in list(schema.error_log):  # type: ignore[call-overload]
        found = tree.xpath(error.path) if error.path else []
        element = found[0] if isinstance(found, list) and found else envelope
        if isinstance(element, etree._Element) and _local(element) == "embeddedXMLContent":
            continue  # reported above in plainer words
        problems.append(Problem(_readable_path(element) if isinstance(element, etree._Element)
                                else "", error.message))
    return problems


def inspect_container(root: etree._Element) -> ContainerReport | None:
    """Check a wrapper document and list its alerts; None when ``root`` is no known wrapper."""
    namespace, name = _namespace(root), _local(root)
    if namespace == ATOM and name == "feed":
        kind, problems = ContainerKind.ATOM, _check_atom(root)
    elif namespace is None and name == "rss":
        kind, problems = ContainerKind.RSS, _check_rss(root)
    elif namespace == EDXL_DE and name == "EDXLDistribution":
        kind, problems = ContainerKind.EDXL_DE, _check_edxl(root)
    elif name == "alerts" and version_of_namespace(namespace) is not None:
        kind = ContainerKind.ALERT_LIST
        problems = [Problem(
            "", "a non-standard <alerts> list; CAP defines one <alert> per document",
            ProblemLevel.WARNING,
        )]
    else:
        return None
    return ContainerReport(kind, tuple(problems), tuple(_embedded_alerts(root, "")))
