"""Section numbers of the OASIS CAP 1.2 standard (1 July 2010) that findings cite."""

from __future__ import annotations

__all__ = [
    "ALERT_CLAUSE",
    "AREA_CLAUSE",
    "DATETIME_CLAUSE",
    "INFO_CLAUSE",
    "RESOURCE_CLAUSE",
    "WGS84_CLAUSE",
]

ALERT_CLAUSE = "3.2.1"
"""The "alert" element and its sub-elements (identifier ... references, incidents)."""

INFO_CLAUSE = "3.2.2"
"""The "info" element and its sub-elements (language ... parameter)."""

RESOURCE_CLAUSE = "3.2.3"
"""The "resource" element and its sub-elements."""

AREA_CLAUSE = "3.2.4"
"""The "area" element and its sub-elements (polygon, circle, geocode, altitude, ceiling)."""

WGS84_CLAUSE = "3.3.1"
"""Implementation note: coordinates are WGS 84 latitude,longitude pairs."""

DATETIME_CLAUSE = "3.3.2"
"""Implementation note: every dateTime is YYYY-MM-DDThh:mm:ssXzh:zm, with a time zone."""
