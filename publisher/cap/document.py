"""Check one document as an intake desk would: is it safe, is it CAP, is it valid, is it signed.

This is the single entry point that the command line, the intake API and the
benchmark share, so that every door into the system gives the same verdict.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import NamedTuple

from lxml import etree

from publisher.cap.authorities import Authority, AuthorityRegistry
from publisher.cap.containers import ContainerKind, inspect_container
from publisher.cap.model import Alert
from publisher.cap.problems import (
    CapError,
    HostileXmlError,
    Problem,
    ProblemLevel,
    errors_of,
)
from publisher.cap.profiles import Profile, get_profile
from publisher.cap.reader import read_alert_element
from publisher.cap.signing import Verification, check_signature, signature_holds
from publisher.cap.versions import XMLDSIG_NAMESPACE, CapVersion, version_of_namespace
from publisher.cap.xmlsafe import XmlLimits, parse_untrusted_xml

__all__ = ["DOCUMENT_PATH", "CheckedAlert", "DocumentReport", "check_document"]

DOCUMENT_PATH = "document"
SIGNATURE_PATH = "Signature"


class CheckedAlert(NamedTuple):
    path: str
    alert: Alert | None
    version: CapVersion
    signed: bool


@dataclass(frozen=True, slots=True)
class DocumentReport:
    """The verdict on one document.

    ``kind`` is "alert" for a CAP message, a container kind for a feed or
    envelope, and "refused" when the bytes never became a tree.
    """

    kind: str
    problems: tuple[Problem, ...]
    alerts: tuple[CheckedAlert, ...] = ()
    hostile: bool = False

    @property
    def ok(self) -> bool:
        return not errors_of(self.problems)

    @property
    def alert(self) -> Alert | None:
        """The message of a single-alert document."""
        if self.kind == "alert" and self.alerts:
            return self.alerts[0].alert
        return None

    @property
    def errors(self) -> list[Problem]:
        return errors_of(self.problems)

    @property
    def warnings(self) -> list[Problem]:
        return [problem for problem in self.problems if not problem.is_error]


def _prefixed(problems: tuple[Problem, ...] | list[Problem], prefix: str) -> list[Problem]:
    if not prefix:
        return list(problems)
    return [
        replace(problem, path=f"{prefix}/{problem.path}" if problem.path else prefix)
        for problem in problems
    ]


_WITHOUT_INDENTATION = etree.XMLParser(
    remove_blank_text=True, resolve_entities=False, no_network=True, load_dtd=False
)


def _without_indentation(element: etree._Element) -> etree._Element:
    # Serialising a tree that was parsed safely cannot bring back a DOCTYPE,
    # so this second parse sees only what the first one accepted.
    return etree.fromstring(etree.tostring(element), _WITHOUT_INDENTATION)


def _is_elided(element: etree._Element) -> bool:
    signature = element.find(f"{{{XMLDSIG_NAMESPACE}}}Signature")
    return signature is not None and len(signature) == 0


def _unsigned_problems(authority: Authority | None) -> list[Problem]:
    if authority is not None and authority.requires_signature:
        return [Problem(
            SIGNATURE_PATH,
            f"no signature, but sender {authority.sender} ({authority.name}) is registered "
            "as signing every message",
        )]
    return []


def _mismatch_problems(element: etree._Element, verification: Verification,
                       authority: Authority | None) -> list[Problem]:
    """A well-formed signature that does not hold: tell tampering from re-formatting."""
    if signature_holds(_without_indentation(element)):
        return [Problem(
            SIGNATURE_PATH,
            "the signature holds only once the indentation added after signing is removed "
            "(white space between elements changes no CAP value)",
            ProblemLevel.WARNING,
        )]
    if authority is not None:
        return [Problem(SIGNATURE_PATH, f"{verification.reason} (sender {authority.sender} is a "
                        "registered signing authority)")]
    return [Problem(
        SIGNATURE_PATH,
        f"{verification.reason}; the sender is not a registered signing authority, "
        "so the message is treated as unsigned",
        ProblemLevel.WARNING,
    )]


def _signature_problems(element: etree._Element, alert: Alert | None, signed: bool,
                        authorities: AuthorityRegistry) -> list[Problem]:
    """Signature findings for validation.

    A broken signature element is an error wherever it appears. A signature
    that is well formed but does not hold is an error for a registered
    signing authority, and a warning otherwise: authenticity is decided by
    ``verify`` against trusted certificates, not by a message's own claim.
    """
    authority = authorities.for_sender(alert.sender) if alert is not None else None
    if not signed:
        return _unsigned_problems(authority)
    if _is_elided(element):
        return [Problem(SIGNATURE_PATH, "the Signature element is empty (elided); "
                        "the message is treated as unsigned", ProblemLevel.WARNING),
                *_unsigned_problems(authority)]
    verification = check_signature(element)
    if not verification.valid:
        if verification.well_formed:
            return _mismatch_problems(element, verification, authority)
        return [Problem(SIGNATURE_PATH, verification.reason)]
    certificate = verification.certificate
    if authority is not None and authority.certificates and (
            certificate is None or not authority.holds(certificate)):
        signer = certificate.subject.rfc4514_string() if certificate else "a bare key"
        return [Problem(
            SIGNATURE_PATH,
            f"untrusted certificate: {signer} is not registered for sender "
            f"{authority.sender} ({authority.name})",
        )]
    return []


def _check_alert(element: etree._Element, path: str, profile: Profile,
                 authorities: AuthorityRegistry) -> tuple[CheckedAlert, list[Problem]]:
    result = read_alert_element(element)
    problems = list(result.problems)
    if result.alert is not None:
        problems.extend(profile.check(result.alert))
    problems.extend(_signature_problems(element, result.alert, result.signed, authorities))
    checked = CheckedAlert(path, result.alert, result.version, result.signed)
    return checked, _prefixed(problems, path)


def _refused(reason: str, *, hostile: bool) -> DocumentReport:
    return DocumentReport("refused", (Problem(DOCUMENT_PATH, reason),), hostile=hostile)


def _not_cap(root: etree._Element) -> DocumentReport:
    name = etree.QName(root)
    shown = f"{{{name.namespace}}}{name.localname}" if name.namespace else name.localname
    if name.localname == "alert":
        reason = (f"root element is {shown}, not a CAP alert: the namespace is not "
                  "CAP 1.0, 1.1 or 1.2")
    else:
        reason = f"root element is {shown}: neither a CAP alert nor a feed or envelope of alerts"
    return DocumentReport("refused", (Problem(DOCUMENT_PATH, reason),))


def _escalated(problems: list[Problem]) -> tuple[Problem, ...]:
    return tuple(replace(problem, level=ProblemLevel.ERROR) for problem in problems)


def check_document(
    data: bytes,
    *,
    profile: str | Profile = "cap12",
    strict: bool = False,
    limits: XmlLimits = XmlLimits(),
    authorities: AuthorityRegistry | None = None,
) -> DocumentReport:
    """Check ``data`` and return every problem found; never raise on bad input.

    In strict mode every warning counts as an error.
    """
    chosen = get_profile(profile) if isinstance(profile, str) else profile
    registry = authorities if authorities is not None else AuthorityRegistry()
    try:
        root = parse_untrusted_xml(data, limits)
    except HostileXmlError as error:
        return _refused(error.reason, hostile=True)
    except CapError as error:
        return _refused(str(error), hostile=False)
    problems: list[Problem] = []
    checked: list[CheckedAlert] = []
    if etree.QName(root).localname == "alert" and \
            version_of_namespace(etree.QName(root).namespace) is not None:
        kind = "alert"
        one, found = _check_alert(root, "", chosen, registry)
        checked.append(one)
        problems.extend(found)
    else:
        container = inspect_container(root)
        if container is None:
            return _not_cap(root)
        kind = str(container.kind)
        problems.extend(container.problems)
        for embedded in container.alerts:
            one, found = _check_alert(embedded.element, embedded.path, chosen, registry)
            checked.append(one)
            problems.extend(found)
        if not container.alerts and container.kind in (ContainerKind.EDXL_DE,
                                                       ContainerKind.ALERT_LIST):
            problems.append(Problem(DOCUMENT_PATH, f"the {kind} document carries no CAP alert"))
    final = _escalated(problems) if strict else tuple(problems)
    return DocumentReport(kind, final, tuple(checked))
