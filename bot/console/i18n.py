"""The console's interface words in Chinese (default) and English."""

from __future__ import annotations

from collections.abc import Callable

WORDS: dict[str, tuple[str, str]] = {
    "title": ("投诉服务台", "Complaint desk"),
    "login": ("登录", "Log in"),
    "logout": ("退出", "Log out"),
    "username": ("用户名", "Username"),
    "password": ("密码", "Password"),
    "bad_login": ("用户名或密码错误。", "Wrong username or password."),
    "throttled": ("登录失败次数过多，请稍后再试。", "Too many failed logins; try again later."),
    "queue": ("等待人工", "Waiting for a person"),
    "mine": ("我的会话", "My conversations"),
    "alerts": ("提醒", "Alerts"),
    "empty": ("暂无", "None"),
    "take": ("接入", "Take over"),
    "open": ("打开", "Open"),
    "reply": ("回复客户", "Reply to customer"),
    "send": ("发送", "Send"),
    "note": ("内部备注（客户看不到）", "Internal note (the customer never sees it)"),
    "add_note": ("添加备注", "Add note"),
    "transfer": ("转接", "Transfer"),
    "to_colleague": ("转给同事", "To a colleague"),
    "to_department": ("转到部门", "To a department"),
    "hand_back": ("交还机器人", "Hand back to the bot"),
    "resume": ("回到客户中断的问题", "At the question the customer was at"),
    "menu": ("从主菜单开始", "From the main menu"),
    "survey": ("发送满意度调查", "With the satisfaction survey"),
    "transcript": ("对话记录", "Transcript"),
    "ticket": ("工单", "Ticket"),
    "earlier": ("历史工单", "Earlier tickets"),
    "none_ticket": ("该客户暂无工单。", "This customer has no ticket."),
    "status": ("状态", "Status"),
    "severity": ("严重程度", "Severity"),
    "department": ("部门", "Department"),
    "category": ("类别", "Category"),
    "level": ("级", "level"),
    "save": ("保存", "Save"),
    "move_to": ("变更状态为", "Move to"),
    "propose": ("提出解决方案（客户可接受或不满意）", "Propose a solution (the customer accepts or not)"),
    "investigation": ("记录调查结论", "Record an investigation finding"),
    "deadlines": ("时限", "Deadlines"),
    "history": ("处理记录", "History"),
    "canned": ("快捷回复", "Canned replies"),
    "insert": ("插入", "Insert"),
    "files": ("附件", "Files"),
    "held_by": ("处理人", "Held by"),
    "waiting": ("等待", "Waiting"),
    "reason": ("原因", "Reason"),
    "channel": ("渠道", "Channel"),
    "customer": ("客户", "Customer"),
    "supervisor": ("主管视图", "Supervisor view"),
    "handling": ("正在处理", "Being handled"),
    "near": ("即将超时", "Near the deadline"),
    "overdue": ("已超时", "Past the deadline"),
    "escalated": ("已升级", "Escalated"),
    "due": ("截止", "Due"),
    "wechat_open": ("微信客服消息窗口开放至", "WeChat 48-hour window open until"),
    "wechat_closed": (
        "已超过微信48小时窗口：回复将以模板消息发送。",
        "WeChat's 48-hour window has closed: replies go out as template messages.",
    ),
    "not_holding": ("接入后才能回复客户。", "Take over the conversation to reply."),
    "bot_has_it": ("机器人正在服务该客户。", "The bot is serving this customer."),
    "title_canned": ("快捷回复管理", "Manage canned replies"),
    "title_field": ("标题", "Title"),
    "language": ("语言", "Language"),
    "text": ("内容", "Text"),
    "variables": ("可用变量", "Variables"),
    "add": ("添加", "Add"),
    "delete": ("删除", "Delete"),
    "mark_read": ("已读", "Mark read"),
    "switch_language": ("English", "中文"),
    "live_lost": ("实时连接中断，正在重连…", "Live updates interrupted; reconnecting…"),
    "major": ("重大", "Major"),
    "normal": ("一般", "Normal"),
    "solution": ("解决方案", "Solution"),
    "satisfaction": ("满意度", "Satisfaction"),
    "description": ("描述", "Description"),
    "contact": ("联系电话", "Phone"),
    "outcome": ("诉求", "Desired outcome"),
    "assignee": ("经办人", "Handler"),
    "done": ("已完成。", "Done."),
}


def translator(language: str) -> Callable[[str], str]:
    index = 1 if language == "en" else 0

    def t(key: str) -> str:
        pair = WORDS.get(key)
        return key if pair is None else pair[index]

    return t
