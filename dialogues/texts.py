"""What the engine itself says (as opposed to the flow's own step texts), in zh and en.

A flow may override any of these under ``messages:``; the validator only accepts keys listed here
and placeholders each message is given, so an admin's edit cannot break a reply at run time.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from dialogues.types import Language

MESSAGES: Mapping[str, Mapping[Language, str]] = {
    "welcome_short": {
        "zh": "您好！已收到您反映的问题，我们来帮您登记。",
        "en": "Hello! We have your message and will help you file it.",
    },
    "empty": {
        "zh": "您发送的消息是空的，请输入文字内容。",
        "en": "Your message was empty; please type a reply.",
    },
    "too_long": {
        "zh": "消息太长了（超过 {limit} 个字），请精简到 {limit} 个字以内后重新发送。",
        "en": "Your message is too long (over {limit} characters). "
        "Please shorten it to {limit} characters or fewer and send it again.",
    },
    "unsupported": {
        "zh": "抱歉，暂时无法识别这类消息（如表情、贴纸），请用文字回复，或发送图片、文件。",
        "en": "Sorry, we cannot read this kind of message (stickers and the like). "
        "Please reply in text, or send a photo or a file.",
    },
    "unsupported_images_only": {
        "zh": "抱歉，这里暂时无法接收这类消息（如文件、视频），请用文字回复，或发送图片。",
        "en": "Sorry, this kind of message (files, videos and the like) cannot be received here. "
        "Please reply in text, or send a photo.",
    },
    "download_failed": {
        "zh": "抱歉，刚才的图片或语音没有收到，请重新发送。",
        "en": "Sorry, that photo or voice message did not come through; please send it again.",
    },
    "too_large": {
        "zh": "抱歉，这个文件太大，无法接收。请压缩后重新发送，或改发截图。",
        "en": "Sorry, that file is too large to accept. Please send a smaller file or a screenshot.",
    },
    "stale": {
        "zh": "该菜单已过期，请使用下面最新的选项。",
        "en": "That menu is no longer current; please use the options below.",
    },
    "help": {
        "zh": "使用说明：\n· 回复数字选择选项\n· # 重听当前问题，* 返回上一步，0 转人工客服\n"
        "· 发送“进度”或“进度 工单号”查询工单\n· 发送“重新开始”从头开始，“取消”结束本次服务\n"
        "· Send “English” to switch to English",
        "en": "How this works:\n· Reply with a number to choose an option\n"
        "· # repeats the question, * goes back one step, 0 reaches a person\n"
        "· Send “progress” or “progress <ticket number>” to check a ticket\n"
        "· Send “restart” to start over, “cancel” to stop\n· 发送“中文”切换为中文",
    },
    "not_a_choice": {
        "zh": "请回复选项前的数字。",
        "en": "Please reply with the number of an option.",
    },
    "attachment_ack": {
        "zh": "已收到 {count} 个附件（共 {total} 个），将附在您的投诉中。",
        "en": "Received {count} attachment(s) ({total} in all); they will go with your complaint.",
    },
    "attachments_not_now": {
        "zh": "图片和文件只能在登记投诉时接收。",
        "en": "Photos and files can only be received while filing a complaint.",
    },
    "failed_offer": {
        "zh": "抱歉，我还是没能理解您的回答。回复 1 再试一次，回复 0 转人工客服。",
        "en": "Sorry, I still could not understand. Reply 1 to try again, or 0 to talk to a person.",
    },
    "retry_label": {"zh": "再试一次", "en": "Try again"},
    "human_label": {"zh": "人工客服", "en": "Talk to a person"},
    "handoff": {
        "zh": "正在为您转接人工客服，请稍候。如需返回自助服务，请发送“重新开始”。",
        "en": "We are passing you to a member of staff; please wait. "
        "To return to self-service, send “restart”.",
    },
    "cancelled": {
        "zh": "已取消本次服务。如需帮助，随时给我们发消息。",
        "en": "Cancelled. Message us any time you need help.",
    },
    "language_switched": {"zh": "已切换为中文。", "en": "Switched to English."},
    "skip_label": {"zh": "跳过", "en": "Skip"},
    "use_on_file": {"zh": "使用 {phone}", "en": "Use {phone}"},
    "done_label": {"zh": "完成", "en": "Done"},
    "collect_hint": {
        "zh": "请发送图片或文件；发送完毕请回复 1，没有请回复 2。",
        "en": "Please send photos or files; reply 1 when done, or 2 if you have none.",
    },
    "guess_question": {
        "zh": "您反映的问题是否属于「{category}」？",
        "en": "Is this about {category}?",
    },
    "guess_yes": {"zh": "是，{category}", "en": "Yes, {category}"},
    "guess_second": {"zh": "不是，是「{category}」", "en": "No, {category}"},
    "guess_other": {"zh": "其他类型", "en": "Another type"},
    "confirm_label": {"zh": "确认提交", "en": "Confirm"},
    "edit_label": {"zh": "修改", "en": "Edit"},
    "edit_prompt": {"zh": "请选择要修改的内容：", "en": "What would you like to change?"},
    "not_given": {"zh": "未填写", "en": "not given"},
    "no_files": {"zh": "无", "en": "none"},
    "files": {"zh": "{count} 个文件", "en": "{count} file(s)"},
    "yes": {"zh": "是", "en": "yes"},
    "no": {"zh": "否", "en": "no"},
    "invalid_text": {"zh": "请输入文字内容。", "en": "Please type an answer."},
    "too_short": {
        "zh": "请再多描述一些（至少 {min} 个字）。",
        "en": "Please tell us a little more (at least {min} characters).",
    },
    "invalid_phone": {
        "zh": "手机号格式不正确，请输入 11 位手机号（如 13800138000），或以 + 开头的国际号码。",
        "en": "That phone number does not look right. Please enter an 11-digit mainland mobile "
        "number (e.g. 13800138000) or an international number starting with +.",
    },
    "invalid_date": {
        "zh": "没能识别这个日期，请回复如“今天”“昨天”“上周三”“11月20日”或“2024-11-20”。",
        "en": "We could not read that date. Try “today”, “yesterday”, “last Wednesday”, "
        "“Nov 20” or “2024-11-20”.",
    },
    "future_date": {
        "zh": "日期不能晚于今天，请重新输入。",
        "en": "The date cannot be in the future; please enter it again.",
    },
    "invalid_choice": {
        "zh": "请回复选项前的数字，或选项的名称。",
        "en": "Please reply with the number or the name of an option.",
    },
    "invalid_reference": {
        "zh": "没能识别编号，请输入订单号或单据号（字母和数字，至少 4 位，含数字）。",
        "en": "We could not read a reference number. Please enter the order or receipt number "
        "(letters and digits, at least 4, with a digit).",
    },
}

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def placeholders(template: str) -> frozenset[str]:
    """The ``{name}`` placeholders a template uses."""
    return frozenset(_PLACEHOLDER.findall(template))


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replace ``{name}`` with ``values[name]``, leaving unknown names as they are.

    Unlike ``str.format`` this never fails on braces inside customer text, and it leaves
    ``{ticket_number}``-style markers for the manager to fill.
    """
    if "{" not in template:
        return template
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


MESSAGE_PARAMS: Mapping[str, frozenset[str]] = {
    key: placeholders(texts["zh"]) | placeholders(texts["en"]) for key, texts in MESSAGES.items()
}
"""The placeholders each message is given; a flow's override may use only these."""
