"""The operator pages' words, in Chinese and English: one catalogue, looked up by key."""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["LANGUAGES", "TEXT", "page_language"]

LANGUAGES = ("zh", "en")

TEXT: Mapping[str, Mapping[str, str]] = {
    "title": {"zh": "区预警信息发布分中心", "en": "District warning sub-center"},
    "login": {"zh": "登录", "en": "Sign in"},
    "logout": {"zh": "退出", "en": "Sign out"},
    "username": {"zh": "用户名", "en": "User name"},
    "password": {"zh": "密码", "en": "Password"},
    "login_failed": {"zh": "用户名或密码不正确。", "en": "The user name or password is wrong."},
    "csrf_failed": {"zh": "表单已过期，请重新提交。",
                    "en": "The form has expired: please send it again."},
    "messages": {"zh": "已收信息", "en": "Messages held"},
    "compose": {"zh": "编制预警", "en": "Compose an alert"},
    "drafts": {"zh": "待审核与已发布", "en": "Drafts and published alerts"},
    "identifier": {"zh": "标识", "en": "Identifier"},
    "msg_type": {"zh": "类型", "en": "Type"},
    "origin": {"zh": "来源", "en": "From"},
    "origin_center": {"zh": "市级", "en": "City"},
    "origin_local": {"zh": "本区", "en": "District"},
    "state": {"zh": "状态", "en": "State"},
    "counts": {"zh": "各渠道（送达/失败/待定）", "en": "Per channel (delivered/failed/pending)"},
    "none": {"zh": "暂无。", "en": "None yet."},
    "event": {"zh": "事件", "en": "Event"},
    "headline": {"zh": "标题", "en": "Headline"},
    "description": {"zh": "描述", "en": "Description"},
    "instruction": {"zh": "防御指引", "en": "Instruction"},
    "severity": {"zh": "严重程度", "en": "Severity"},
    "urgency": {"zh": "紧急程度", "en": "Urgency"},
    "certainty": {"zh": "确定程度", "en": "Certainty"},
    "category": {"zh": "类别", "en": "Category"},
    "status": {"zh": "性质", "en": "Status"},
    "language": {"zh": "语言", "en": "Language"},
    "expires_in_hours": {"zh": "有效时长（小时）", "en": "In force for (hours)"},
    "area_desc": {"zh": "区域名称", "en": "Area"},
    "geocodes": {"zh": "行政区划代码（逗号分隔）", "en": "GB/T 2260 codes (comma separated)"},
    "polygon": {"zh": "多边形（每行一个“纬度,经度”，首尾相同）",
                "en": "Polygon (one \"lat,lon\" per line, the first repeated last)"},
    "references": {"zh": "所替换的信息", "en": "Replaces"},
    "note": {"zh": "解除原因", "en": "Why it is cancelled"},
    "submit_draft": {"zh": "提交审核", "en": "Submit for approval"},
    "composed": {"zh": "已提交，待另一位用户审核。",
                 "en": "Submitted: another district user approves it."},
    "author": {"zh": "编制人", "en": "Author"},
    "approver": {"zh": "审核人", "en": "Approver"},
    "approve": {"zh": "审核发布", "en": "Approve and publish"},
    "approved": {"zh": "已签名发布并上报市级平台。",
                 "en": "Signed, published and reported to the city."},
    "update": {"zh": "更新", "en": "Update"},
    "cancel": {"zh": "解除", "en": "Cancel"},
    "in_force": {"zh": "本区生效中的预警", "en": "District alerts in force"},
    "Alert": {"zh": "预警", "en": "Alert"},
    "Update": {"zh": "更新", "en": "Update"},
    "Cancel": {"zh": "解除", "en": "Cancel"},
    "pending": {"zh": "待审核", "en": "pending"},
    "published": {"zh": "已发布", "en": "published"},
    "relayed": {"zh": "已发布", "en": "relayed"},
    "expired": {"zh": "已过期", "en": "expired"},
    "cancelled": {"zh": "已解除", "en": "cancelled"},
    "superseded": {"zh": "已更新", "en": "superseded"},
    "other_language": {"zh": "English", "en": "中文"},
}


def page_language(requested: str | None, accept_language: str) -> str:
    """``zh`` or ``en``: what the page asks for, else what the browser prefers, else Chinese."""
    if requested in LANGUAGES:
        return requested
    first = accept_language.split(",", 1)[0].strip().lower()
    return "en" if first.startswith("en") else "zh"
