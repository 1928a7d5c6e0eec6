"""A realistic Beijing rainstorm red warning, built the way the composer will build alerts.

The demo and the tests use it as a known-good municipal alert.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from publisher.cap.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    NamedValue,
    Point,
    Polygon,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from publisher.cap.municipal import make_identifier

__all__ = ["BEIJING", "rainstorm_red_warning"]

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

_CHAOYANG_OUTLINE = Polygon((
    Point(39.95, 116.45), Point(40.00, 116.52), Point(39.93, 116.58),
    Point(39.88, 116.50), Point(39.95, 116.45),
))


def _area(language_is_chinese: bool) -> Area:
    return Area(
        area_desc="北京市朝阳区" if language_is_chinese else "Chaoyang District, Beijing",
        polygons=(_CHAOYANG_OUTLINE,),
        geocodes=(NamedValue("GB/T 2260", "110105"),),
    )


def _info(language: str, sent: datetime) -> Info:
    chinese = language == "zh-CN"
    return Info(
        language=language,
        categories=(Category.MET,),
        event="暴雨" if chinese else "Rainstorm",
        response_types=(ResponseType.SHELTER, ResponseType.AVOID),
        urgency=Urgency.IMMEDIATE,
        severity=Severity.EXTREME,
        certainty=Certainty.LIKELY,
        effective=sent,
        onset=sent,
        expires=sent + timedelta(hours=6),
        sender_name="北京市气象台" if chinese else "Beijing Meteorological Observatory",
        headline="北京市气象台发布暴雨红色预警信号" if chinese
        else "Beijing Meteorological Observatory issues a red rainstorm warning",
        description=(
            "预计未来3小时朝阳区降雨量将达100毫米以上。" if chinese
            else "More than 100 mm of rain is expected in Chaoyang within 3 hours."
        ),
        instruction=(
            "停止集会、停课、停业；远离低洼地带和地下空间。" if chinese
            else "Stop gatherings, classes and business; keep away from low ground and basements."
        ),
        parameters=(NamedValue("warningColor", "red"),),
        areas=(_area(chinese),),
    )


def rainstorm_red_warning(sent: datetime, sequence: int = 1,
                          status: Status = Status.EXERCISE) -> Alert:
    """A red rainstorm warning for Chaoyang sent at ``sent`` (any time zone).

    It is an Exercise unless asked otherwise, so that a demo never produces
    a message that could pass for a real warning.
    """
    sent_beijing = sent.astimezone(BEIJING).replace(microsecond=0)
    return Alert(
        identifier=make_identifier("110105", "QXJ", sent_beijing, sequence),
        sender="bjmb@weather.bj.gov.cn",
        sent=sent_beijing,
        status=status,
        msg_type=MsgType.ALERT,
        scope=Scope.PUBLIC,
        infos=(_info("zh-CN", sent_beijing), _info("en-US", sent_beijing)),
    )
