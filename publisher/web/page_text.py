"""The words of the public page in each language the platform speaks."""

from __future__ import annotations

from publisher.services.languages import CHINESE, ENGLISH

__all__ = ["LABELS", "district_label"]

LABELS: dict[str, dict[str, str]] = {
    CHINESE: {
        "title": "预警信息", "all_districts": "全部区域", "district": "区域", "filter": "筛选",
        "none": "当前没有生效的预警。", "area": "区域", "time": "发布时间",
        "expires": "失效时间", "instruction": "防御指南", "description": "详情",
        "cancelled": "已解除", "expired": "已过期", "exercise": "演练", "cap": "CAP 原文",
        "details": "查看详情", "feeds": "订阅", "back": "返回列表", "sender": "发布单位",
        "updated": "更新时间", "cancel_note": "解除说明",
    },
    ENGLISH: {
        "title": "Public alerts", "all_districts": "All districts", "district": "District",
        "filter": "Filter", "none": "No alert is in force now.", "area": "Area",
        "time": "Issued", "expires": "Expires", "instruction": "What to do",
        "description": "Details", "cancelled": "Cancelled", "expired": "Expired",
        "exercise": "Exercise", "cap": "CAP message", "details": "Details",
        "feeds": "Subscribe", "back": "All alerts", "sender": "Issued by",
        "updated": "Updated", "cancel_note": "Why it was cancelled",
    },
}


def district_label(name_zh: str, name_en: str, language: str) -> str:
    return name_zh if language == CHINESE else name_en
