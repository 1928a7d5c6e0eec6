"""The confirmation SMS every keyword gets, in Chinese or English.

Only the text: the SMS channel adds the sender signature when it sends it.
A reply that changes or names the districts followed lists all of them, so
the subscriber always knows what they will receive.
"""

from __future__ import annotations

from collections.abc import Sequence

from publisher.cap.districts import District
from publisher.services.languages import CHINESE, ENGLISH

__all__ = ["district_name", "reply_text"]

_TEXTS = {
    CHINESE: {
        "subscribed": "您已订阅{district}预警信息。回复TD退订，回复EN接收英文短信。",
        "added": "您已增加订阅{district}预警信息，现订阅：{followed}。"
                 "回复TD加区名退订该区，回复TD退订全部。",
        "already": "您已订阅{district}预警信息，现订阅：{followed}。",
        "too_many": "您已订阅{count}个区县：{followed}，已达上限。"
                    "请先回复TD加区名退订其中一个，如TD{example}。",
        "left": "您已退订{district}预警信息，仍接收：{followed}。回复TD退订全部。",
        "not_following": "您没有订阅{district}预警信息，现订阅：{followed}。",
        "unsubscribed": "您已退订全部预警短信，今后不再收到。回复DY加区名可重新订阅，如DY朝阳。",
        "not_subscribed": "您当前没有订阅预警短信。回复DY加区名订阅，如DY朝阳。",
        "language": "今后您将收到中文预警短信。",
        "unknown_district": "未找到区县“{wanted}”。您要找的是否是：{suggestions}？"
                            "请回复DY加区名，如DY朝阳。",
        "unknown_district_no_match": "未找到区县“{wanted}”。请回复DY加区名或区划代码，"
                                     "如DY朝阳或DY110105。",
        "unknown_district_leave": "未找到区县“{wanted}”。您要找的是否是：{suggestions}？"
                                  "请回复TD加区名退订该区，如TD朝阳；回复TD退订全部。",
        "no_district": "请在DY后写上区名，如DY朝阳。",
        "help": "未能识别您的指令。回复DY加区名订阅（如DY朝阳），TD退订，EN接收英文短信。",
    },
    ENGLISH: {
        "subscribed": "You are subscribed to alerts for {district}. Reply STOP to unsubscribe,"
                      " LANG ZH for Chinese.",
        "added": "You now receive alerts for {district} too; you follow {followed}."
                 " Reply STOP and a district to leave it, STOP alone to unsubscribe.",
        "already": "You already receive alerts for {district}; you follow {followed}.",
        "too_many": "You follow {count} districts ({followed}), the most allowed. Reply STOP"
                    " and a district to leave one first, e.g. STOP {example}.",
        "left": "You no longer receive alerts for {district}; you still follow {followed}."
                " Reply STOP to unsubscribe from all.",
        "not_following": "You do not follow {district}; you follow {followed}.",
        "unsubscribed": "You are unsubscribed from all alerts and will receive no more."
                        " Reply SUB and a district to subscribe again, e.g. SUB Chaoyang.",
        "not_subscribed": "You have no alert subscription. Reply SUB and a district to"
                          " subscribe, e.g. SUB Chaoyang.",
        "language": "You will receive alerts in English.",
        "unknown_district": "No district called \"{wanted}\". Did you mean {suggestions}?"
                            " Reply SUB and a district, e.g. SUB Chaoyang.",
        "unknown_district_no_match": "No district called \"{wanted}\". Reply SUB and a district"
                                     " name or code, e.g. SUB Chaoyang or SUB 110105.",
        "unknown_district_leave": "No district called \"{wanted}\". Did you mean {suggestions}?"
                                  " Reply STOP and a district to leave it, e.g. STOP Chaoyang,"
                                  " or STOP alone to unsubscribe from all.",
        "no_district": "Please name a district after SUB, e.g. SUB Chaoyang.",
        "help": "Command not recognised. Reply SUB and a district to subscribe"
                " (e.g. SUB Chaoyang), STOP to unsubscribe, LANG ZH for Chinese.",
    },
}
_SEPARATOR = {CHINESE: "、", ENGLISH: ", "}


def district_name(district: District, language: str) -> str:
    return district.name_zh if language == CHINESE else district.name_en


def reply_text(kind: str, language: str, *, district: District | None = None,
               followed: Sequence[District] = (), wanted: str = "",
               suggestions: Sequence[District] = ()) -> str:
    """The text of reply ``kind`` in ``language``, with the districts named in it.

    ``followed`` are the districts the subscriber follows after the command.
    """
    if kind == "unknown_district" and not suggestions:
        kind = "unknown_district_no_match"
    separator = _SEPARATOR[language]
    return _TEXTS[language][kind].format(
        district=district_name(district, language) if district else "",
        followed=separator.join(district_name(each, language) for each in followed),
        count=len(followed),
        example=district_name(followed[0], language) if followed else "",
        wanted=wanted,
        suggestions=separator.join(f"{district_name(each, language)} ({each.code})"
                                   for each in suggestions))
