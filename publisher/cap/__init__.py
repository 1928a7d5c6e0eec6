"""CAP 1.2 (OASIS Common Alerting Protocol), pure: no database, network or web.

Read any CAP 1.0, 1.1 or 1.2 document safely, check it against the
specification and a profile, write it as CAP 1.2, sign and verify it, and
relate its areas to places and districts.

    report = check_document(data, profile="municipal")
    if report.ok:
        alert = report.alert
"""

from publisher.cap._read_values import read_circle, read_polygon
from publisher.cap.areas import AreaIndex, area_covers, area_geometry, area_intersects_district
from publisher.cap.authorities import Authority, AuthorityRegistry, load_authorities
from publisher.cap.districts import District, DistrictTable, UnknownDistrictError, load_districts
from publisher.cap.document import CheckedAlert, DocumentReport, check_document
from publisher.cap.keys import generate_demo_identity
from publisher.cap.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    Info,
    MsgType,
    NamedValue,
    Point,
    Polygon,
    Reference,
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from publisher.cap.municipal import make_identifier
from publisher.cap.problems import (
    CapError,
    HostileXmlError,
    InvalidAlertError,
    NotCapError,
    Problem,
    ProblemLevel,
)
from publisher.cap.profiles import Profile, available_profiles, get_profile
from publisher.cap.reader import ReadResult, read_alert
from publisher.cap.references import format_references, parse_references
from publisher.cap.signing import (
    SignatureOutcome,
    Verification,
    load_certificates,
    sign_alert_xml,
    verify_alert_xml,
)
from publisher.cap.versions import CapVersion
from publisher.cap.views import alert_to_json, areas_to_geojson
from publisher.cap.writer import write_alert
from publisher.cap.xmlsafe import XmlLimits

__all__ = [
    "Alert",
    "Area",
    "AreaIndex",
    "Authority",
    "AuthorityRegistry",
    "CapError",
    "CapVersion",
    "Category",
    "Certainty",
    "CheckedAlert",
    "Circle",
    "District",
    "DistrictTable",
    "DocumentReport",
    "HostileXmlError",
    "Info",
    "InvalidAlertError",
    "MsgType",
    "NamedValue",
    "NotCapError",
    "Point",
    "Polygon",
    "Problem",
    "ProblemLevel",
    "Profile",
    "ReadResult",
    "Reference",
    "Resource",
    "ResponseType",
    "Scope",
    "Severity",
    "SignatureOutcome",
    "Status",
    "UnknownDistrictError",
    "Urgency",
    "Verification",
    "XmlLimits",
    "alert_to_json",
    "area_covers",
    "area_geometry",
    "area_intersects_district",
    "areas_to_geojson",
    "available_profiles",
    "check_document",
    "format_references",
    "generate_demo_identity",
    "get_profile",
    "load_authorities",
    "load_certificates",
    "load_districts",
    "make_identifier",
    "parse_references",
    "read_alert",
    "read_circle",
    "read_polygon",
    "sign_alert_xml",
    "verify_alert_xml",
    "write_alert",
]
