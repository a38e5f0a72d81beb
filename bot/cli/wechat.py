"""``tousu wechat menu push``: set the Official Account's custom menu from ``wechat.menu``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from wechatpy.exceptions import WeChatClientException

from bot.channels.wechat_api import SharedTokenClient
from bot.settings import Settings
from storage import migrate
from storage.db import Database


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("wechat", help="WeChat Official Account")
    wsub = parser.add_subparsers(dest="wechat_command", required=True, metavar="ACTION")
    menu = wsub.add_parser("menu", help="the custom menu")
    msub = menu.add_subparsers(dest="menu_command", required=True, metavar="ACTION")
    msub.add_parser("push", help="create the menu configured in wechat.menu").set_defaults(handler=push_menu)


def push_menu(_args: argparse.Namespace, settings: Settings) -> int:
    wc = settings.wechat
    if not settings.has_wechat or wc.app_id is None or wc.app_secret is None:
        print("error: wechat.app_id, wechat.app_secret and wechat.token must be set", file=sys.stderr)
        return 2
    if not wc.menu:
        print("error: wechat.menu is empty; nothing to push", file=sys.stderr)
        return 2
    migrate.upgrade(settings.database_url)
    db = Database(settings.database_url)
    secret = wc.app_secret.get_secret_value()
    client = SharedTokenClient(wc.app_id, secret, api_base_url=wc.api_base_url, db=db)
    try:
        client.menu.create({"button": wc.menu})
    except WeChatClientException as exc:
        print(f"error: WeChat refused the menu ({exc.errcode}): {exc.errmsg}", file=sys.stderr)
        return 1
    finally:
        db.close()
    print(f"menu with {len(wc.menu)} top-level buttons pushed")
    return 0
