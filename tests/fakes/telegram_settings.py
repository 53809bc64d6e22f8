"""The bot's own settings in the fake Bot API: getMe, logOut/close, commands, descriptions and the menu
button (a mixin of :class:`fakes.telegram_api.FakeBotAPI`).

Guarantees: ``setMyCommands`` takes at most 100 commands of 1-32 characters
``a-z0-9_`` with 1-256 character descriptions (else ``BOT_COMMAND_INVALID`` /
``BOT_COMMAND_DESCRIPTION_INVALID``), stored per scope and two-letter language
code (``commands`` holds the default scope); descriptions ≤ 512 and short
descriptions ≤ 120 characters per language.

Knowingly simpler: an empty command list clears the commands (as Telegram
does) instead of being an error; ``getMyCommands`` does not fall back from a
narrower scope to a wider one; menu buttons are stored, not rendered.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any

from fakes.telegram_common import Upload, bad_request, get_int, get_json, get_str

if TYPE_CHECKING:
    from fakes.telegram_api import FakeBotAPI as _Base
else:
    _Base = object

__all__ = ["SettingsMixin"]

_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_SCOPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)


class SettingsMixin(_Base):
    def __init__(self) -> None:
        self.commands: dict[str | None, list[dict[str, Any]]] = {}
        self.scoped_commands: dict[tuple[str, str | None], list[dict[str, Any]]] = {}
        self.descriptions: dict[str | None, str] = {}
        self.short_descriptions: dict[str | None, str] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}

    def _m_getme(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_logout(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        return True

    def _m_close(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        return True

    @staticmethod
    def _scope_and_language(p: dict[str, Any]) -> tuple[str, str | None]:
        scope = get_json(p, "scope") or {"type": "default"}
        if not isinstance(scope, dict) or scope.get("type") not in _SCOPES:
            raise bad_request("BOT_COMMAND_SCOPE_INVALID")
        language = get_str(p, "language_code") or None
        if language is not None and not re.fullmatch(r"[a-z]{2}", language):
            raise bad_request("LANG_CODE_INVALID")
        return json.dumps(scope, sort_keys=True), language

    def _m_setmycommands(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        commands = get_json(p, "commands")
        if not isinstance(commands, list):
            raise bad_request("can't parse commands JSON object")
        if len(commands) > 100:
            raise bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict):
                raise bad_request("can't parse BotCommand JSON object")
            name, description = command.get("command"), command.get("description")
            if not isinstance(name, str) or not _COMMAND_RE.match(name):
                raise bad_request("BOT_COMMAND_INVALID")
            if not isinstance(description, str) or not 1 <= len(description.strip()) <= 256:
                raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        scope, language = self._scope_and_language(p)
        cleaned = [{"command": c["command"], "description": c["description"]} for c in commands]
        self._store_commands(scope, language, cleaned)
        return True

    def _store_commands(self, scope: str, language: str | None, commands: list[dict[str, Any]]) -> None:
        if commands:
            self.scoped_commands[(scope, language)] = commands
        else:
            self.scoped_commands.pop((scope, language), None)
        if json.loads(scope) == {"type": "default"}:
            if commands:
                self.commands[language] = commands
            else:
                self.commands.pop(language, None)

    def _m_getmycommands(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        return self.scoped_commands.get(self._scope_and_language(p), [])

    def _m_deletemycommands(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        scope, language = self._scope_and_language(p)
        self._store_commands(scope, language, [])
        return True

    def _set_description(self, p: dict[str, Any], field: str, store: dict[str | None, str], limit: int) -> bool:
        _, language = self._scope_and_language({"language_code": p.get("language_code")})
        text = get_str(p, field) or ""
        if len(text) > limit:
            raise bad_request(f"{field.replace('_', ' ')} is too long")
        if text:
            store[language] = text
        else:
            store.pop(language, None)
        return True

    def _m_setmydescription(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        return self._set_description(p, "description", self.descriptions, 512)

    def _m_getmydescription(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        language = get_str(p, "language_code") or None
        return {"description": self.descriptions.get(language, self.descriptions.get(None, ""))}

    def _m_setmyshortdescription(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        return self._set_description(p, "short_description", self.short_descriptions, 120)

    def _m_getmyshortdescription(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        language = get_str(p, "language_code") or None
        return {"short_description": self.short_descriptions.get(language, self.short_descriptions.get(None, ""))}

    def _m_setchatmenubutton(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        chat_id = get_int(p, "chat_id")
        if chat_id is not None:
            self._target_chat(p, send=False)
        button = get_json(p, "menu_button") or {"type": "default"}
        kind = button.get("type") if isinstance(button, dict) else None
        if kind not in ("default", "commands", "web_app"):
            raise bad_request("can't parse menu button JSON object")
        if kind == "web_app":
            web_app = button.get("web_app") or {}
            if not button.get("text") or not str(web_app.get("url", "")).startswith("https://"):
                raise bad_request("BUTTON_URL_INVALID")
        self.menu_buttons[chat_id] = button
        return True

    def _m_getchatmenubutton(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        chat_id = get_int(p, "chat_id")
        return self.menu_buttons.get(chat_id, self.menu_buttons.get(None, {"type": "default"}))
