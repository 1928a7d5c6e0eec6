"""Subscribers for tests: the city's district names, and the SMS targets fan-out will reach."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.services.district_names import DistrictNames
from publisher.services.subscribers import SMS_CHANNEL
from publisher.store.models import Target, TargetDistrict

__all__ = ["DISTRICTS", "SmsTarget", "sms_targets"]

DISTRICTS = DistrictNames(load_districts(Path(__file__).parents[2] / "config" / "districts.toml"))

SmsTarget = tuple[str, str, str, bool, bool]
"""(number, the districts it follows as ``110105|110108``, language, is_test, active)."""


def sms_targets(factory: sessionmaker[Session]) -> list[SmsTarget]:
    with factory() as session:
        followed: dict[int, list[str]] = {}
        for target_id, code in session.execute(
                select(TargetDistrict.target_id, TargetDistrict.district_code)
                .order_by(TargetDistrict.district_code)):
            followed.setdefault(target_id, []).append(code)
        return [(target.address, "|".join(followed.get(target.id, [])), target.language,
                 target.is_test, target.active)
                for target in session.scalars(select(Target).where(
                    Target.channel == SMS_CHANNEL).order_by(Target.address))]
