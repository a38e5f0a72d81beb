"""Customer-facing texts the manager writes itself (the flows carry their own)."""

from __future__ import annotations

from dialogues.types import Language

STATUS_NAMES: dict[str, dict[Language, str]] = {
    "new": {"zh": "已受理", "en": "received"},
    "acknowledged": {"zh": "已确认", "en": "acknowledged"},
    "in_progress": {"zh": "处理中", "en": "in progress"},
    "solution_proposed": {"zh": "已提出解决方案", "en": "solution proposed"},
    "resolved": {"zh": "已解决", "en": "resolved"},
    "closed": {"zh": "已结案", "en": "closed"},
    "reopened": {"zh": "已重新打开", "en": "reopened"},
    "escalated": {"zh": "已升级处理", "en": "escalated"},
    "cancelled": {"zh": "已撤销", "en": "cancelled"},
}

KIND_NAMES: dict[str, dict[Language, str]] = {
    "complaint": {"zh": "投诉", "en": "complaint"},
    "consultation": {"zh": "咨询", "en": "consultation"},
    "suggestion": {"zh": "建议", "en": "suggestion"},
    "grievance": {"zh": "意见", "en": "feedback"},
}

CATALOG: dict[str, dict[Language, str]] = {
    "progress_header": {"zh": "您的工单：", "en": "Your tickets:"},
    "progress_line": {
        "zh": "· {number}（{kind}）：{status}，提交于 {created}",
        "en": "· {number} ({kind}): {status}, filed {created}",
    },
    "progress_none": {
        "zh": "暂未查到您名下的工单。如需投诉，请回复 1。",
        "en": "We found no tickets under your account. To file a complaint, reply 1.",
    },
    "progress_not_found": {
        "zh": "未找到您名下编号为 {number} 的工单，请核对编号。",
        "en": "We found no ticket {number} under your account; please check the number.",
    },
    "internal_error": {
        "zh": "抱歉，系统暂时出现问题，您的消息已保存，我们会尽快回复您。",
        "en": "Sorry, something went wrong on our side. Your message is saved and we will reply soon.",
    },
    "agents_away": {
        "zh": "现在是非工作时间，人工客服将于 {back} 上线后第一时间回复您；您的留言和工单都已保存。",
        "en": "Our staff are away now and will reply from {back}; your messages and ticket are kept.",
    },
    "agent_joined": {
        "zh": "客服{agent}已接入，接下来由我为您服务。",
        "en": "{agent} from our team has joined the chat and will help you from here.",
    },
    "agent_left": {
        "zh": "人工服务已结束，智能助手继续为您服务。",
        "en": "The member of staff has left the chat; our assistant will carry on.",
    },
    "agent_transferred": {
        "zh": "正在为您转接其他同事，请稍候。",
        "en": "We are passing you to a colleague; please wait a moment.",
    },
    "with_agent": {
        "zh": "您的消息已转给人工客服，请稍候。",
        "en": "Your message has been passed to our staff; please wait a moment.",
    },
    "chat_too_fast": {
        "zh": "发送太频繁了，请稍等片刻再发。",
        "en": "You are sending messages too fast; please wait a moment.",
    },
}


def text(key: str, language: Language, **values: object) -> str:
    return CATALOG[key][language].format(**values)


def status_name(status: str, language: Language) -> str:
    return STATUS_NAMES.get(status, {"zh": status, "en": status})[language]


def kind_name(kind: str, language: Language) -> str:
    return KIND_NAMES.get(kind, {"zh": kind, "en": kind})[language]
