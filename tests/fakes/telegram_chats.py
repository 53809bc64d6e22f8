"""Groups, members, invite links and join requests in the fake Bot API (a mixin of
:class:`fakes.telegram_api.FakeBotAPI`).

Guarantees: only groups added with ``add_group`` exist; managing invite links,
join requests and bans needs the bot to be an administrator (else Telegram's
``not enough rights ...``); invite links follow Telegram's limits (name ≤ 32,
``member_limit`` 1-99999 and not together with ``creates_join_request``, an
``expire_date`` in the future); a user joining through a link is refused when
the link is unknown, for another chat, revoked, expired or used up, or when the
user is banned or already a member (:class:`InviteLinkRefused` carries
Telegram's reason); every change of membership produces a ``chat_member``
update (``old_chat_member``/``new_chat_member``, ``invite_link``,
``via_join_request``), which Telegram only delivers when ``allowed_updates``
asks for it.

Knowingly simpler: no channels, permissions beyond "administrator or not",
restrictions, primary links, subscription invite links, or ``my_chat_member``
updates; ``member_limit`` counts joins through the link (Telegram counts
current members who joined through it).
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from fakes.telegram_common import Upload, bad_request, get_bool, get_int, get_str

if TYPE_CHECKING:
    from fakes.telegram_api import FakeBotAPI as _Base
else:
    _Base = object

__all__ = ["ChatsMixin", "InviteLinkRefused"]

IN_CHAT = frozenset({"creator", "administrator", "member", "restricted"})
_NO_LINK_RIGHTS = "not enough rights to manage chat invite links"
_NO_BAN_RIGHTS = "not enough rights to restrict/ban chat member"


class InviteLinkRefused(Exception):
    """Telegram refused to let the user in; ``reason`` is Telegram's code (e.g. ``USERS_TOO_MUCH``)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class ChatsMixin(_Base):
    def __init__(self) -> None:
        self.groups: dict[int, dict[str, Any]] = {}
        self.members: dict[int, dict[int, str]] = {}
        self.invite_links: dict[str, dict[str, Any]] = {}
        self.join_requests: dict[tuple[int, int], str | None] = {}  # (chat, user) -> the link used, if any
        self.declined_requests: list[tuple[int, int]] = []
        self._ban_until: dict[tuple[int, int], int] = {}

    # ---------------------------------------------------------------- test side

    def add_group(
        self, chat_id: int, *, title: str = "Paid group", bot_is_admin: bool = True, kind: str = "supergroup"
    ) -> None:
        """A group the bot is in (as an administrator unless told otherwise)."""
        self.groups[chat_id] = {"id": chat_id, "type": kind, "title": title}
        self.members.setdefault(chat_id, {})[self.bot_id] = "administrator" if bot_is_admin else "member"

    async def join_via_link(self, user_id: int, chat_id: int, invite_link: str) -> dict[str, Any]:
        """The user opens an invite link: a chat_member update, or a chat_join_request for request links."""
        link = self.invite_links.get(invite_link)
        if link is None or link["chat_id"] != chat_id:
            raise InviteLinkRefused("INVITE_HASH_INVALID")
        if link["is_revoked"] or (link.get("expire_date") and self._now_ts() >= link["expire_date"]):
            raise InviteLinkRefused("INVITE_HASH_EXPIRED")
        self._check_can_join(user_id, chat_id)
        if link["creates_join_request"]:
            return await self._join_request(user_id, chat_id, link)
        if link.get("member_limit") and link["uses"] >= link["member_limit"]:
            raise InviteLinkRefused("USERS_TOO_MUCH")
        link["uses"] += 1
        update = self._status_change(chat_id, user_id, "member", actor=self._user(user_id), link=link)
        assert update is not None
        return await self._inject(update)

    async def join_directly(self, user_id: int, chat_id: int) -> dict[str, Any]:
        """The user joins without the bot's link (e.g. a shared public link): a chat_member update."""
        self._check_can_join(user_id, chat_id)
        update = self._status_change(chat_id, user_id, "member", actor=self._user(user_id))
        assert update is not None
        return await self._inject(update)

    async def request_join(self, user_id: int, chat_id: int) -> dict[str, Any]:
        """The user asks to join (without a link): a chat_join_request update."""
        self._check_can_join(user_id, chat_id)
        return await self._join_request(user_id, chat_id, None)

    def _check_can_join(self, user_id: int, chat_id: int) -> None:
        if chat_id not in self.groups:
            raise InviteLinkRefused("CHANNEL_INVALID")
        status = self.members[chat_id].get(user_id, "left")
        if status == "kicked":
            raise InviteLinkRefused("USER_BANNED_IN_CHANNEL")
        if status in IN_CHAT:
            raise InviteLinkRefused("USER_ALREADY_PARTICIPANT")

    async def _join_request(self, user_id: int, chat_id: int, link: dict[str, Any] | None) -> dict[str, Any]:
        if (chat_id, user_id) in self.join_requests:
            raise InviteLinkRefused("INVITE_REQUEST_SENT")
        self.join_requests[(chat_id, user_id)] = link["invite_link"] if link else None
        request: dict[str, Any] = {
            "chat": self._group_chat(chat_id),
            "from": self._user(user_id),
            "user_chat_id": user_id,
            "date": self._now_ts(),
        }
        if link is not None:
            link["pending"] += 1
            request["invite_link"] = self._public_link(link)
        return await self._inject({"chat_join_request": request})

    # ---------------------------------------------------------------- helpers

    def _group_chat(self, chat_id: int) -> dict[str, Any]:
        group = self.groups[chat_id]
        return {"id": chat_id, "type": group["type"], "title": group["title"]}

    def _managed_group(self, p: dict[str, Any], rights_error: str) -> int:
        """The group named by chat_id, where the bot must be an administrator."""
        chat = self._target_chat(p, send=False)
        if chat["type"] == "private":
            raise bad_request("method is available for supergroup and channel chats only")
        if self.members[chat["id"]].get(self.bot_id) not in ("administrator", "creator"):
            raise bad_request(rights_error)
        return int(chat["id"])

    def _public_link(self, link: dict[str, Any]) -> dict[str, Any]:
        public = {k: link[k] for k in ("invite_link", "creator", "creates_join_request", "is_primary", "is_revoked")}
        for k in ("name", "expire_date", "member_limit"):
            if link.get(k) is not None:
                public[k] = link[k]
        if link["creates_join_request"]:
            public["pending_join_request_count"] = link["pending"]
        return public

    def _member(self, chat_id: int, user_id: int, status: str) -> dict[str, Any]:
        user = self.bot_user if user_id == self.bot_id else self._user(user_id)
        member: dict[str, Any] = {"status": status, "user": user}
        if status == "kicked":
            member["until_date"] = self._ban_until.get((chat_id, user_id), 0)
        elif status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            member.update(
                can_be_edited=False,
                is_anonymous=False,
                can_manage_chat=True,
                can_delete_messages=True,
                can_manage_video_chats=True,
                can_restrict_members=True,
                can_promote_members=False,
                can_change_info=True,
                can_invite_users=True,
                can_post_stories=False,
                can_edit_stories=False,
                can_delete_stories=False,
                can_pin_messages=True,
                can_manage_topics=False,
            )
        elif status == "restricted":
            rights = [
                "can_change_info",
                "can_invite_users",
                "can_pin_messages",
                "can_send_messages",
                "can_send_polls",
                "can_send_other_messages",
                "can_add_web_page_previews",
                "can_manage_topics",
                "can_send_audios",
                "can_send_documents",
                "can_send_photos",
                "can_send_videos",
                "can_send_video_notes",
                "can_send_voice_notes",
                "can_edit_tag",
            ]
            member.update(dict.fromkeys(rights, False), is_member=True, until_date=0)
        return member

    def _status_change(
        self,
        chat_id: int,
        user_id: int,
        new: str,
        *,
        actor: dict[str, Any],
        link: dict[str, Any] | None = None,
        via_join_request: bool = False,
    ) -> dict[str, Any] | None:
        """Apply a membership change; the chat_member update to deliver, or None when nothing changed."""
        old = self.members[chat_id].get(user_id, "left")
        if old == new:
            return None
        old_member = self._member(chat_id, user_id, old)
        self.members[chat_id][user_id] = new
        change: dict[str, Any] = {
            "chat": self._group_chat(chat_id),
            "from": actor,
            "date": self._now_ts(),
            "old_chat_member": old_member,
            "new_chat_member": self._member(chat_id, user_id, new),
        }
        if link is not None:
            change["invite_link"] = self._public_link(link)
        if via_join_request:
            change["via_join_request"] = True
        return {"chat_member": change}

    # ---------------------------------------------------------------- invite links

    def _m_createchatinvitelink(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        chat_id = self._managed_group(p, _NO_LINK_RIGHTS)
        name = get_str(p, "name")
        if name is not None and len(name) > 32:
            raise bad_request("INVITE_LINK_NAME_INVALID")
        expire_date = get_int(p, "expire_date")
        if expire_date is not None and expire_date != 0 and expire_date <= self._now_ts():
            raise bad_request("EXPIRE_DATE_INVALID")
        member_limit = get_int(p, "member_limit")
        if member_limit is not None and not 1 <= member_limit <= 99_999:
            raise bad_request("USAGE_LIMIT_INVALID")
        creates_join_request = get_bool(p, "creates_join_request")
        if creates_join_request and member_limit is not None:
            raise bad_request("member limit can't be specified for links requiring administrator approval")
        link = {
            "invite_link": f"https://t.me/+{secrets.token_urlsafe(12)}",
            "creator": self.bot_user,
            "creates_join_request": creates_join_request,
            "is_primary": False,
            "is_revoked": False,
            "name": name or None,
            "expire_date": expire_date or None,
            "member_limit": member_limit,
            "chat_id": chat_id,
            "uses": 0,
            "pending": 0,
        }
        self.invite_links[link["invite_link"]] = link
        return self._public_link(link)

    def _m_revokechatinvitelink(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        chat_id = self._managed_group(p, _NO_LINK_RIGHTS)
        link = self.invite_links.get(get_str(p, "invite_link") or "")
        if link is None or link["chat_id"] != chat_id:
            raise bad_request("INVITE_HASH_EXPIRED")
        link["is_revoked"] = True
        return self._public_link(link)

    def _m_approvechatjoinrequest(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        chat_id = self._managed_group(p, _NO_LINK_RIGHTS)
        user_id = get_int(p, "user_id", required=True, error="USER_ID_INVALID") or 0
        if (chat_id, user_id) not in self.join_requests:
            raise bad_request("HIDE_REQUESTER_MISSING")
        link = self.invite_links.get(self.join_requests.pop((chat_id, user_id)) or "")
        if link is not None:
            link["pending"] -= 1
            link["uses"] += 1
        update = self._status_change(chat_id, user_id, "member", actor=self.bot_user, link=link, via_join_request=True)
        if update is not None:
            self._enqueue(update)
        return True

    def _m_declinechatjoinrequest(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        chat_id = self._managed_group(p, _NO_LINK_RIGHTS)
        user_id = get_int(p, "user_id", required=True, error="USER_ID_INVALID") or 0
        if (chat_id, user_id) not in self.join_requests:
            raise bad_request("HIDE_REQUESTER_MISSING")
        link = self.invite_links.get(self.join_requests.pop((chat_id, user_id)) or "")
        if link is not None:
            link["pending"] -= 1
        self.declined_requests.append((chat_id, user_id))
        return True

    # ---------------------------------------------------------------- members

    def _m_banchatmember(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        chat_id = self._managed_group(p, _NO_BAN_RIGHTS)
        user_id = get_int(p, "user_id", required=True, error="USER_ID_INVALID") or 0
        if user_id == self.bot_id:
            raise bad_request("can't restrict self")
        if self.members[chat_id].get(user_id) in ("administrator", "creator"):
            raise bad_request("user is an administrator of the chat")
        self._ban_until[(chat_id, user_id)] = get_int(p, "until_date") or 0
        self.join_requests.pop((chat_id, user_id), None)
        update = self._status_change(chat_id, user_id, "kicked", actor=self.bot_user)
        if update is not None:
            self._enqueue(update)
        return True

    def _m_unbanchatmember(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        chat_id = self._managed_group(p, _NO_BAN_RIGHTS)
        user_id = get_int(p, "user_id", required=True, error="USER_ID_INVALID") or 0
        status = self.members[chat_id].get(user_id, "left")
        if get_bool(p, "only_if_banned") and status != "kicked":
            return True
        if status in ("administrator", "creator"):
            raise bad_request("user is an administrator of the chat")
        self._ban_until.pop((chat_id, user_id), None)
        update = self._status_change(chat_id, user_id, "left", actor=self.bot_user)
        if update is not None:
            self._enqueue(update)
        return True

    def _m_getchatmember(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        chat = self._target_chat(p, send=False)
        user_id = get_int(p, "user_id", required=True, error="USER_ID_INVALID") or 0
        if user_id != self.bot_id and user_id not in self.users:
            raise bad_request("user not found")
        if chat["type"] == "private":
            return self._member(chat["id"], user_id, "member" if user_id in (chat["id"], self.bot_id) else "left")
        return self._member(chat["id"], user_id, self.members[chat["id"]].get(user_id, "left"))

    def _m_getchatmembercount(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> int:
        chat = self._target_chat(p, send=False)
        if chat["type"] == "private":
            return 2
        return sum(1 for status in self.members[chat["id"]].values() if status in IN_CHAT)

    def _m_getchat(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> Any:
        raw = p.get("chat_id")
        chat_id = get_int(p, "chat_id", required=True, error="chat not found") or 0
        if chat_id > 0 and chat_id in self.users:
            chat = self._private_chat(chat_id)
        else:
            chat = self._target_chat({"chat_id": raw}, send=False)
        gifts = dict.fromkeys(
            ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels"), False
        )
        return {**chat, "accent_color_id": 0, "max_reaction_count": 11, "accepted_gift_types": gifts}

    def _m_leavechat(self, p: dict[str, Any], files: dict[str, Upload], rec: dict[str, Any]) -> bool:
        chat = self._target_chat(p, send=False)
        if chat["type"] == "private":
            raise bad_request("chat member status can't be changed in private chats")
        self.members[chat["id"]][self.bot_id] = "left"
        return True
