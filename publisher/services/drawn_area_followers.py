"""Targets that follow districts, reached by a polygon or a circle as well as by a geocode.

An app (``publisher.services.apps``) and a citizen subscribed by SMS or
WeChat (``publisher.services.subscribers``) follow districts and have no
location, so an alert drawn as a polygon or a circle, with no district
geocode, would reach none of them. The whole of each district a drawn area
overlaps is reached: a follower may be anywhere in it, and a warning that
reaches a few more people is better than one that misses those in the area.
For those channels a drawn area also names every district it overlaps
(more than along a border: ``publisher.cap.areas.districts_of_area``). Only
districts of the district level are named: the city's outline holds every
area, and a follower of the whole city is reached through the district
anyway (a target following 110000 follows each of its districts).
"""

from __future__ import annotations

from dataclasses import replace

from publisher.cap.areas import area_geometry, districts_of_area
from publisher.cap.districts import GB_T_2260, DistrictTable
from publisher.cap.model import Alert, Area, NamedValue
from publisher.services.apps import APP_CHANNEL
from publisher.services.subscribers import SMS_CHANNEL, WECHAT_CHANNEL

__all__ = ["DISTRICT_FOLLOWING_CHANNELS", "DISTRICT_LEVEL", "with_overlapped_districts"]

DISTRICT_FOLLOWING_CHANNELS = frozenset({APP_CHANNEL, SMS_CHANNEL, WECHAT_CHANNEL})
DISTRICT_LEVEL = "district"


def _naming_overlapped(area: Area, districts: DistrictTable) -> Area:
    if area_geometry(area).is_empty:
        return area
    named = {geocode.value.strip() for geocode in area.geocodes}
    added = tuple(NamedValue(GB_T_2260, district.code)
                  for district in districts_of_area(area, districts)
                  if district.level == DISTRICT_LEVEL and district.code not in named)
    return replace(area, geocodes=area.geocodes + added) if added else area


def with_overlapped_districts(alert: Alert, districts: DistrictTable) -> Alert:
    """``alert`` with each drawn area naming, by GB/T 2260 geocode, the districts it overlaps."""
    return replace(alert, infos=tuple(
        replace(info, areas=tuple(_naming_overlapped(area, districts) for area in info.areas))
        for info in alert.infos))
