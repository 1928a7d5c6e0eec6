"""The confirmation SMS every keyword gets, in Chinese or English.

Only the text: the SMS channel adds the sender signature when it sends it.
"""

from __future__ import annotations

from collections.abc import Sequence

from publisher.cap.districts import District
from publisher.services.languages import CHINESE, ENGLISH

__all__ = ["district_name", "reply_text"]

_TEXTS = {
    CHINESE: {
        "subscribed": "您已订阅{district}预警信息。回复TD退订，回复EN接收英文短信。",
        "moved": "您已改为订阅{district}预警信息，不再接收{previous}预警信息。回复TD退订。",
        "unsubscribed": "您已退订全部预警短信，今后不再收到。回复DY加区名可重新订阅，如DY朝阳。",
        "not_subscribed": "您当前没有订阅预警短信。回复DY加区名订阅，如DY朝阳。",
        "language": "今后您将收到中文预警短信。",
        "unknown_district": "未找到区县“{wanted}”。您要找的是否是：{suggestions}？"
                            "请回复DY加区名，如DY朝阳。",
        "unknown_district_no_match": "未找到区县“{wanted}”。请回复DY加区名或区划代码，"
                                     "如DY朝阳或DY110105。",
        "no_district": "请在DY后写上区名，如DY朝阳。",
        "help": "未能识别您的指令。回复DY加区名订阅（如DY朝阳），TD退订，EN接收英文短信。",
    },
    ENGLISH: {
        "subscribed": "You are subscribed to alerts for {district}. Reply STOP to unsubscribe,"
                      " LANG ZH for Chinese.",
        "moved": "You are now subscribed to alerts for {district} instead of {previous}."
                 " Reply STOP to unsubscribe.",
        "unsubscribed": "You are unsubscribed from all alerts and will receive no more."
                        " Reply SUB and a district to subscribe again, e.g. SUB Chaoyang.",
        "not_subscribed": "You have no alert subscription. Reply SUB and a district to"
                          " subscribe, e.g. SUB Chaoyang.",
        "language": "You will receive alerts in English.",
        "unknown_district": "No district called \"{wanted}\". Did you mean {suggestions}?"
                            " Reply SUB and a district, e.g. SUB Chaoyang.",
        "unknown_district_no_match": "No district called \"{wanted}\". Reply SUB and a district"
                                     " name or code, e.g. SUB Chaoyang or SUB 110105.",
        "no_district": "Please name a district after SUB, e.g. SUB Chaoyang.",
        "help": "Command not recognised. Reply SUB and a district to subscribe"
                " (e.g. SUB Chaoyang), STOP to unsubscribe, LANG ZH for Chinese.",
    },
}
_SEPARATOR = {CHINESE: "、", ENGLISH: ", "}


def district_name(district: District, language: str) -> str:
    return district.name_zh if language == CHINESE else district.name_en


def reply_text(kind: str, language: str, *, district: District | None = None,
               previous: District | None = None, wanted: str = "",
               suggestions: Sequence[District] = ()) -> str:
    """The text of reply ``kind`` in ``language``, with the districts named in it."""
    if kind == "unknown_district" and not suggestions:
        kind = "unknown_district_no_match"
    named = _SEPARATOR[language].join(
        f"{district_name(each, language)} ({each.code})" for each in suggestions)
    return _TEXTS[language][kind].format(
        district=district_name(district, language) if district else "",
        previous=district_name(previous, language) if previous else "",
        wanted=wanted, suggestions=named)
