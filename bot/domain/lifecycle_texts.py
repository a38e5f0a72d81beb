"""What the customer and staff read about a ticket's progress, in Chinese and English.

Staff alerts are written in Chinese and English together, since the directory has no language
per staff member yet.
"""

from __future__ import annotations

from dialogues.types import Language

CUSTOMER: dict[str, dict[Language, str]] = {
    "acknowledged": {
        "zh": "您的工单 {number} 已由{department}的{handler}负责处理，我们将于 {due} 前给您答复。",
        "en": "Ticket {number} is handled by {handler} ({department}); you will hear from us by {due}.",
    },
    "queued": {
        "zh": "您的工单 {number} 已转交{department}，我们将于 {due} 前给您答复。",
        "en": "Ticket {number} is with our {department} team; you will hear from us by {due}.",
    },
    "major": {
        "zh": "非常抱歉给您带来这样的困扰，我们高度重视。您的工单 {number} 已提交经理，"
        "经理将于 {due} 前亲自与您联系。",
        "en": "We are very sorry for what happened and take it most seriously. Ticket {number} is "
        "now with a manager, who will contact you personally by {due}.",
    },
    "status": {
        "zh": "您的工单 {number} 状态更新：{status}。{note}",
        "en": "Ticket {number} update: {status}. {note}",
    },
    "solution": {
        "zh": "关于工单 {number}，我们的处理方案是：\n{solution}\n请选择：1 接受方案；2 不满意。",
        "en": "About ticket {number}, here is what we propose:\n{solution}\n"
        "Please reply: 1 accept; 2 not satisfied.",
    },
    "accepted": {
        "zh": "感谢您的确认，工单 {number} 已解决。稍后我们会回访，听听您的意见。",
        "en": "Thank you. Ticket {number} is resolved; we will check back with you shortly.",
    },
    "redispatched": {
        "zh": "抱歉方案未能让您满意。工单 {number} 已重新派给{department}处理，我们将于 {due} 前再次答复。",
        "en": "Sorry the proposal did not satisfy you. Ticket {number} is back with our {department} "
        "team; you will hear from us again by {due}.",
    },
    "to_manager": {
        "zh": "抱歉仍未能让您满意。工单 {number} 已转交经理，经理将于 {due} 前与您联系。",
        "en": "We are sorry this is still not right. Ticket {number} is now with a manager, who will "
        "contact you by {due}.",
    },
    "survey": {
        "zh": "您好，工单 {number} 已处理完毕。请为本次处理打分：1 很不满意 … 5 非常满意。"
        "也可以在分数后写下意见，例如：4 处理很快",
        "en": "Hello, ticket {number} has been dealt with. How satisfied are you? 1 very "
        "dissatisfied … 5 very satisfied. You may add a comment after the score, e.g. '4 quick help'.",
    },
    "survey_reminder": {
        "zh": "提醒：工单 {number} 的满意度评价还在等您，请回复 1-5 分。",
        "en": "A reminder: how satisfied are you with ticket {number}? Please reply with 1-5.",
    },
    "survey_thanks": {
        "zh": "感谢您的评价！工单 {number} 已结案。"
        "如对处理结果有异议，可在 {appeal_until} 前回复“申诉 {number}”。",
        "en": "Thank you for your rating! Ticket {number} is closed. If you disagree with the outcome "
        "you may appeal until {appeal_until}: reply 'appeal {number}'.",
    },
    "survey_reopened": {
        "zh": "很抱歉让您失望。工单 {number} 已重新打开，主管会亲自跟进。",
        "en": "We are sorry to have let you down. Ticket {number} is reopened and a supervisor "
        "will follow it up personally.",
    },
    "auto_closed": {
        "zh": "工单 {number} 已结案。如仍有问题，可在 {appeal_until} 前回复“申诉 {number}”。",
        "en": "Ticket {number} is closed. If something is still wrong you may appeal until "
        "{appeal_until}: reply 'appeal {number}'.",
    },
    "appeal_filed": {
        "zh": "您的申诉已受理，申诉工单号 {number}（原工单 {original}），我们将于 {due} 前答复。",
        "en": "Your appeal is filed as ticket {number} (about {original}); you will hear from us by {due}.",
    },
    "appeal_too_late": {
        "zh": "工单 {number} 已超过申诉期限（{appeal_until}）。如有新的问题，请重新投诉。",
        "en": "The appeal period for ticket {number} ended on {appeal_until}. Please file a new "
        "complaint if something new has happened.",
    },
    "appeal_not_closed": {
        "zh": "工单 {number} 尚未结案，仍在处理中，无需申诉。",
        "en": "Ticket {number} is still open and being handled; no appeal is needed.",
    },
    "cancelled": {
        "zh": "工单 {number} 已按您的要求撤销。",
        "en": "Ticket {number} is cancelled as you asked.",
    },
    "stale_answer": {
        "zh": "工单 {number} 当前不需要这个答复，可发送“进度”查看最新状态。",
        "en": "Ticket {number} is not waiting for that answer; send 'progress' to see where it stands.",
    },
    "answer_unclear": {
        "zh": "请回复 1 接受方案，或 2 表示不满意。",
        "en": "Please reply 1 to accept the proposal or 2 if you are not satisfied.",
    },
}

STAFF: dict[str, str] = {
    "assigned": "新工单 {number}（{category}）已派给您 / ticket {number} assigned to you",
    "queued": "工单 {number} 暂无可派处理人 / ticket {number} has no available handler in {department}",
    "major": "重大投诉 {number}：{reasons}，请在 {due} 前联系客户 / major complaint {number}: {reasons}",
    "warning": "工单 {number} 的时限“{deadline}”将于 {due} 到期 / {deadline} of {number} is due {due}",
    "urge": "催办：工单 {number} 已超过时限“{deadline}” / {number} missed its deadline {deadline}",
    "breach": "工单 {number} 超时（{deadline}），已升级给您 / {number} missed {deadline}; escalated to you",
    "dissatisfied": "客户对工单 {number} 不满意（{score} 分）：{comment} / customer rated {number} {score}",
    "to_manager": "客户两次不满意，工单 {number} 转交经理 / {number} escalated to a manager",
    "appeal": "工单 {original} 的申诉 {number} / appeal {number} against {original}",
}

DEADLINE_NAMES: dict[str, str] = {
    "acknowledge": "受理确认 acknowledge",
    "propose_solution": "提出方案 propose a solution",
    "close": "结案 close",
    "callback": "回访 callback",
    "report_to_management": "上报管理层 report to management",
    "first_investigation": "初步调查 first investigation",
    "plan": "处理方案 plan",
    "reply": "答复 reply",
}


def customer_text(key: str, language: Language, **values: object) -> str:
    return CUSTOMER[key][language].format(**values).rstrip()


def staff_text(key: str, **values: object) -> str:
    return STAFF[key].format(**values)


DEPARTMENTS: dict[str, dict[Language, str]] = {
    "customer_service": {"zh": "客户服务部", "en": "Customer Service"},
    "quality": {"zh": "质量管理部", "en": "Quality"},
    "logistics": {"zh": "物流部", "en": "Logistics"},
    "finance": {"zh": "财务部", "en": "Finance"},
    "after_sales": {"zh": "售后服务部", "en": "After-sales"},
    "compliance": {"zh": "合规监察部", "en": "Compliance"},
    "operations": {"zh": "运营部", "en": "Operations"},
}


def department_name(key: str | None, language: Language) -> str:
    if not key:
        return DEPARTMENTS["customer_service"][language]
    return DEPARTMENTS.get(key, {"zh": key, "en": key})[language]
