"""The words of the delivery dashboard and the audit log pages, in Chinese and in English."""

from __future__ import annotations

from publisher.services.languages import CHINESE, ENGLISH
from publisher.web.dashboard_chart import ChartText

__all__ = ["CHART_TEXT", "DASHBOARD_TEXT"]

DASHBOARD_TEXT: dict[str, dict[str, str]] = {
    CHINESE: {
        "dashboard_title": "发送看板", "live": "实时更新中", "not_live": "刷新页面以更新",
        "refresh": "刷新", "channel": "渠道", "queued": "排队", "sent": "已发送",
        "delivered": "已送达", "failed": "失败", "expired": "已过期", "skipped": "已跳过",
        "total": "合计", "delivered_share": "送达率", "no_deliveries": "尚无发送记录。",
        "districts_title": "区分中心确认", "node": "分中心", "node_offline": "离线",
        "node_online": "在线", "acked": "已确认", "not_acked": "未确认",
        "local_counts": "本地设备（送达/失败/等待）", "no_nodes": "没有推送到区分中心。",
        "failed_title": "失败的发送对象", "address": "地址", "district": "区县",
        "reason": "原因", "attempts": "尝试次数", "failed_at": "失败时间",
        "no_failures": "没有失败的发送。", "retry_title": "重试失败的发送",
        "retry_channel": "渠道", "all_channels": "全部渠道", "retry": "重试失败的发送",
        "retry_help": "只重试当前消息中失败的发送；已送达的不会重发。",
        "retried": "已重新排队 {count} 条发送。", "retry_none": "没有需要重试的失败发送。",
        "health_title": "渠道与设备状态", "health_ok": "正常", "health_failing": "故障",
        "broker": "消息队列", "database": "数据库", "devices_offline": "离线设备",
        "offline_of": "{offline} / {total} 台离线", "sms_binds": "短信网关连接",
        "binds_of": "{bound} / {total} 条已连接", "binds_unknown": "未知（30 秒内无报告）",
        "page": "页", "previous": "上一页",
        "next": "下一页",
        "audit_title": "审计日志", "alert": "预警编号", "user": "操作人", "action": "操作",
        "any_action": "全部操作", "filter": "筛选", "when": "时间（北京时间）",
        "message": "消息", "detail": "详情", "no_entries": "没有符合条件的记录。",
        "entries": "共 {total} 条", "read_only": "审计日志只读，任何页面都不能修改。",
        "eew_title": "地震预警时效", "eew_sender": "自动发布方",
        "eew_request": "验签 / 发布（毫秒）", "eew_handed_on": "交给渠道（毫秒）",
        "eew_terminals_started": "开始发往终端（收到后毫秒）",
        "eew_first_ack": "首个确认（毫秒，自发布起）",
    },
    ENGLISH: {
        "dashboard_title": "Delivery dashboard", "live": "Live", "not_live":
            "Refresh the page to update", "refresh": "Refresh", "channel": "Channel",
        "queued": "Queued", "sent": "Sent", "delivered": "Delivered", "failed": "Failed",
        "expired": "Expired", "skipped": "Skipped", "total": "Total",
        "delivered_share": "Share delivered", "no_deliveries": "No deliveries yet.",
        "districts_title": "District node acks", "node": "Node", "node_offline": "offline",
        "node_online": "online", "acked": "acked", "not_acked": "not acked",
        "local_counts": "Local devices (delivered/failed/pending)",
        "no_nodes": "Nothing was pushed to a district node.",
        "failed_title": "Failed targets", "address": "Address", "district": "District",
        "reason": "Reason", "attempts": "Attempts", "failed_at": "Failed at",
        "no_failures": "No delivery failed.", "retry_title": "Retry failed deliveries",
        "retry_channel": "Channel", "all_channels": "All channels",
        "retry": "Retry failed deliveries",
        "retry_help": "Only the failed deliveries of the current message are retried;"
                      " nothing delivered is sent again.",
        "retried": "{count} deliveries are queued again.",
        "retry_none": "No failed delivery to retry.",
        "health_title": "Channel and device health", "health_ok": "ok",
        "health_failing": "failing", "broker": "Broker", "database": "Database",
        "devices_offline": "Devices offline", "offline_of": "{offline} of {total} offline",
        "sms_binds": "SMSC binds", "binds_of": "{bound} of {total} bound",
        "binds_unknown": "unknown (no report in 30 s)",
        "page": "Page", "previous": "Previous", "next": "Next",
        "audit_title": "Audit log", "alert": "Alert no.", "user": "User", "action": "Action",
        "any_action": "Any action", "filter": "Filter", "when": "When (Beijing time)",
        "message": "Message", "detail": "Detail", "no_entries": "No entry matches.",
        "entries": "{total} entries",
        "read_only": "The audit log is read-only: no page can change it.",
        "eew_title": "Earthquake early warning timings", "eew_sender": "Automatic sender",
        "eew_request": "verified / published (ms)", "eew_handed_on": "handed to the channel (ms)",
        "eew_terminals_started": "terminals published to (ms after arrival)",
        "eew_first_ack": "first ack (ms after publishing)",
    },
}

CHART_TEXT = {
    CHINESE: ChartText(title="送达比例随时间变化", x_axis="发布后时间（{unit}）",
                       y_axis="已送达", empty="尚无发送记录"),
    ENGLISH: ChartText(title="Share delivered over time", x_axis="time since publishing ({unit})",
                       y_axis="delivered", empty="No deliveries yet"),
}
