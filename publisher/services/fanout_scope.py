"""What the fan-out of one message plans: which channels, and the area each one reaches.

The channels are those the installation runs, less those the message's
agency may not use (``agency_channels``); the area is the message's own,
except on the channels whose targets follow districts, where a drawn area
reaches the followers of the districts it overlaps (``drawn_area_followers``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from sqlalchemy.orm import Session

from publisher.cap.districts import DistrictTable
from publisher.cap.model import Alert
from publisher.services.agency_channels import permitted_channels
from publisher.services.drawn_area_followers import (
    DISTRICT_FOLLOWING_CHANNELS,
    with_overlapped_districts,
)
from publisher.services.targets import AreaSelection

__all__ = ["fanout_scope"]


def fanout_scope(session: Session, message_id: int, alert: Alert, channels: Sequence[str],
                 districts: DistrictTable | None) -> Iterator[tuple[str, AreaSelection]]:
    """(channel, the area it reaches) for each channel the message is planned on."""
    selection = AreaSelection.of_alert(alert, districts)
    followed: AreaSelection | None = None
    for channel in permitted_channels(session, message_id, channels):
        if channel in DISTRICT_FOLLOWING_CHANNELS and districts is not None:
            if followed is None:
                followed = AreaSelection.of_alert(with_overlapped_districts(alert, districts),
                                                  districts)
            yield channel, followed
        else:
            yield channel, selection
