"""Which customer messages are even looked at as answers to the desk (before any database work)."""

from __future__ import annotations

from bot.services.answers import wants


def test_only_answer_shaped_messages_from_idle_customers_are_considered() -> None:
    assert wants("lc:5:accept", "", idle=False)  # a button counts mid-intake too
    for text in ("1", "4 处理很快", "不满意", "Accept", "申诉 2611230001 还是漏水"):
        assert wants(None, text, idle=True), text
    for text in ("你好", "我买的水有异味", "", "6", "1" * 600):
        assert not wants(None, text, idle=True), text
    assert not wants(None, "1", idle=False)  # a menu key mid-intake is never a score
