"""Users: first boot, registration with invitations, login, self-service and the admin's user management.

E-mail addresses: a user's address lets its owner log in by it and reset the password through it, so only an
address somebody has vouched for is stored: proved by a code sent to it (sign-up with EmailVerificationEnabled,
binding), verified by the outside provider (GitHub's public address, an OIDC ``email`` with
``email_verified``), or set by an administrator. With EmailVerificationEnabled off, sign-up keeps no address
(One API's rule).

Role rules (SPEC 2.1): an admin cannot see, change or delete users of equal or higher role; only root
promotes; nobody deletes or disables root. Passwords are bcrypt hashes (``passwords.py``); responses never
carry a password hash or an access token, except the one call that issues a new access token.
"""

from __future__ import annotations

import logging
import re
import time
import uuid
from typing import Any, Literal

from oneapi import keyformat
from oneapi.config import Config
from oneapi.errors import AuthenticationError, ConflictError, InvalidInputError, NotFoundError, PermissionDeniedError
from oneapi.services import keys, passwords, sessions
from oneapi.services.inputs import MAX_SAFE_INT, Fields
from oneapi.services.ledger import Ledger
from oneapi.services.logs import TYPE_MANAGE, TYPE_SYSTEM, TYPE_TOPUP, Logs
from oneapi.services.options import Options
from oneapi.services.verification import Verifications
from oneapi.store.facade import Store
from oneapi.store.queries import channels as channel_q
from oneapi.store.queries import users as q
from oneapi.store.queries.accounting import LogRow
from oneapi.store.queries.common import PAGE_SIZE
from oneapi.store.queries.users import STATUS_ENABLED, Identity

log = logging.getLogger("oneapi.accounts")

ROLE_GUEST, ROLE_COMMON, ROLE_ADMIN, ROLE_ROOT = 0, 1, 10, 100
ROOT_QUOTA = 500_000_000_000_000
USERNAME_MAX, DISPLAY_NAME_MAX, EMAIL_MAX, GROUP_MAX = 12, 20, 50, 32
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_HIDDEN = ("password", "access_token")
PROVIDER_LABELS: dict[str, str] = {"github_id": "GitHub", "wechat_id": "WeChat", "lark_id": "Lark",
                                   "oidc_id": "OIDC"}

Action = Literal["disable", "enable", "delete", "promote", "demote"]


def public(user: dict[str, Any]) -> dict[str, Any]:
    """A user row without its secrets."""
    return {k: v for k, v in user.items() if k not in _HIDDEN}


def default_token(name: str = "default", key: str | None = None) -> dict[str, Any]:
    now = int(time.time())
    return {"name": name, "key": key or keys.token_key(), "status": 1, "created_time": now,
            "accessed_time": now, "expired_time": -1, "remain_quota": -1, "unlimited_quota": True,
            "used_quota": 0, "models": "", "subnet": ""}


def _check_password(password: str) -> str:
    if not passwords.MIN_LENGTH <= len(password) <= passwords.MAX_LENGTH:
        raise InvalidInputError(f"password must be {passwords.MIN_LENGTH} to {passwords.MAX_LENGTH} characters")
    if len(password.encode()) > 72:
        raise InvalidInputError("password is too long (at most 72 bytes)")
    return password


def _check_username(username: str) -> str:
    if not username:
        raise InvalidInputError("username is required")
    if len(username) > USERNAME_MAX:
        raise InvalidInputError(f"username must be at most {USERNAME_MAX} characters")
    if any(c.isspace() for c in username) or username.startswith("deleted_"):
        raise InvalidInputError("username must not contain spaces or start with 'deleted_'")
    return username


def check_email(email: str) -> str:
    if email and (len(email) > EMAIL_MAX or not _EMAIL.match(email)):
        raise InvalidInputError(f"email must be a valid address of at most {EMAIL_MAX} characters")
    return email


class Accounts:
    def __init__(self, store: Store, options: Options, logs: Logs, config: Config, ledger: Ledger,
                 codes: Verifications | None = None) -> None:
        self._store = store
        self.codes = codes or Verifications()  # e-mail codes and reset tokens (verification.py)
        self._ledger = ledger  # told about every change to a user's row, so the relay's cached view follows
        self._options = options
        self._logs = logs
        self._config = config

    # -- first boot -------------------------------------------------------------------------------

    async def ensure_root(self) -> bool:
        """Create root / 123456 when the users table is empty. Idempotent; True if it created root."""
        if await self._store.read(q.count) > 0:
            return False
        access_token = self._config.initial_root_access_token or keys.uuid_hex()
        root = {"username": "root", "password": await passwords.hash_password("123456"),
                "display_name": "Root User", "role": ROLE_ROOT, "status": STATUS_ENABLED,
                "quota": ROOT_QUOTA, "access_token": access_token, "aff_code": keys.aff_code()}
        tokens = [default_token()]
        if self._config.initial_root_token:
            tokens.append(default_token("Initial Root Token", self._config.initial_root_token))
        try:
            await self._store.write(q.insert, root, tokens)
        except ConflictError:  # another node created root first
            return False
        log.warning("created the root account (username root, password 123456): "
                    "log in and change the password now")
        return True

    # -- authentication ---------------------------------------------------------------------------

    async def login(self, username: str, password: str) -> dict[str, Any]:
        if not self._options.get_bool("PasswordLoginEnabled"):
            raise PermissionDeniedError("password login is disabled by the administrator")
        if not username or not password:
            raise InvalidInputError("username and password are required")
        user = await self._store.read(q.find_for_login, username[:64])
        ok = await passwords.check_password(password[:128], user["password"] if user else None)
        if not ok or user is None:
            raise AuthenticationError("用户名或密码错误，或用户已被封禁 (wrong username or password, or user banned)",
                                      status=200)
        if user["status"] != STATUS_ENABLED:
            raise AuthenticationError("用户名或密码错误，或用户已被封禁 (wrong username or password, or user banned)",
                                      status=200)
        return user

    async def by_access_token(self, token: str) -> dict[str, Any] | None:
        """The user whose access token is exactly ``token``; a malformed one is never looked up."""
        if not keyformat.is_access_token(token):
            return None
        return await self._store.read(q.find_by_access_token, token)

    async def root(self) -> dict[str, Any] | None:
        """The enabled root user (the admin socket acts as it), or None."""
        root: dict[str, Any] | None = await self._store.read(q.find_root)
        return root

    async def get(self, user_id: int) -> dict[str, Any] | None:
        return await self._store.read(q.get, user_id)

    # -- registration -----------------------------------------------------------------------------

    async def register(self, body: Any) -> int:
        opts = self._options
        if not opts.get_bool("RegisterEnabled"):
            raise PermissionDeniedError("registration is closed by the administrator")
        if not opts.get_bool("PasswordRegisterEnabled"):
            raise PermissionDeniedError("password registration is disabled; use another login method")
        f = Fields(body)
        username = _check_username(f.str("username", max_len=USERNAME_MAX, required=True))
        password = _check_password(f.str("password", max_len=passwords.MAX_LENGTH, required=True, strip=False))
        email = check_email(f.str("email", max_len=EMAIL_MAX))
        code = f.str("verification_code", max_len=64)
        verify = opts.get_bool("EmailVerificationEnabled")
        if verify and (not email or not code):
            raise InvalidInputError("管理员开启了邮箱验证，请输入邮箱地址和验证码 "
                                    "(e-mail verification is on: enter your e-mail address and its code)")
        if not verify:
            email = ""  # One API's rule: an address is kept only when its code proved it (see bind_email)
        if email:
            self.check_email_domain(email)
            if await self._store.read(q.email_taken, email):
                raise ConflictError("邮箱地址已被占用 (this e-mail address is already in use)")
        if verify and not self.codes.take("verify", email, code):
            raise InvalidInputError("验证码错误或已过期 (the verification code is wrong or has expired)")
        inviter = None
        aff = f.str("aff_code", max_len=32)
        if aff:
            inviter = await self._store.read(q.find_by_aff_code, aff)
        try:
            return await self._create(username, password, display_name=username, email=email,
                                      inviter_id=inviter["id"] if inviter else 0,
                                      inviter_name=inviter["username"] if inviter else "")
        except BaseException:
            if verify:
                self.codes.restore("verify", email, code)  # the account was not created: the code still works
            raise

    def check_email_domain(self, email: str) -> None:
        """EmailDomainRestrictionEnabled: only addresses in the EmailDomainWhitelist's domains."""
        if not self._options.get_bool("EmailDomainRestrictionEnabled"):
            return
        domains = {d.strip().lower() for d in self._options.get("EmailDomainWhitelist").split(",") if d.strip()}
        if email.rpartition("@")[2].lower() not in domains:
            raise PermissionDeniedError("管理员启用了邮箱域名白名单，您的邮箱地址的域名不在白名单中 "
                                        "(the administrator only accepts e-mail addresses of certain domains, "
                                        "and yours is not one of them)")

    async def _create(self, username: str, password: str, *, display_name: str, email: str = "",
                      role: int = ROLE_COMMON, inviter_id: int = 0, inviter_name: str = "",
                      extra: dict[str, str] | None = None) -> int:
        """A new user (an empty ``password``: none, for accounts of outside logins), its gifts and their logs
        in one transaction; ``extra`` sets more columns (an outside account's id)."""
        opts = self._options
        gift = opts.get_int("QuotaForNewUser")
        invitee_gift = opts.get_int("QuotaForInvitee") if inviter_id else 0
        inviter_gift = opts.get_int("QuotaForInviter") if inviter_id else 0
        user = {"username": username, "password": await passwords.hash_password(password) if password else "",
                "display_name": display_name or username, "email": email, "role": role,
                "status": STATUS_ENABLED, "quota": gift + invitee_gift, "access_token": keys.uuid_hex(),
                "aff_code": keys.aff_code(), "inviter_id": inviter_id, "group": "default", **(extra or {})}
        rows: list[LogRow] = []

        def gift_logs(user_id: int) -> list[LogRow]:  # written in the transaction that creates the user
            if gift:
                rows.append(Logs.row(user_id, TYPE_SYSTEM, f"新用户注册赠送 {opts.display(gift)}", username))
            if invitee_gift:
                rows.append(Logs.row(user_id, TYPE_SYSTEM, f"使用邀请码赠送 {opts.display(invitee_gift)}",
                                     username))
            if inviter_gift:
                rows.append(Logs.row(inviter_id, TYPE_SYSTEM, f"邀请用户赠送 {opts.display(inviter_gift)}",
                                     inviter_name))
            return rows

        user_id, leftover = await self._store.write(q.register, user, [default_token()],
                                                    (inviter_id, inviter_gift) if inviter_id else None, gift_logs)
        self._logs.committed(rows, leftover)
        if inviter_gift:
            await self._ledger.user_changed(inviter_id)
        return user_id

    # -- e-mail codes, password reset, outside accounts -----------------------------------------

    async def email_taken(self, email: str) -> bool:
        return bool(await self._store.read(q.email_taken, email))

    async def reset_password(self, email: str, token: str, password: str = "") -> str:
        """Use a reset token: the live users with ``email`` get ``password`` (a chosen one, checked), else a new
        random 12-character one as One API gives. Returns the password set."""
        if not email or not token:
            raise InvalidInputError("email and token are required")
        chosen = _check_password(password) if password else ""
        if not self.codes.take("reset", email, token):
            raise InvalidInputError("重置链接非法或已过期 (the reset link is invalid or has expired)")
        new = chosen or keys.random_string(12)
        try:
            changed = await self._store.write(q.set_password_by_email, email, await passwords.hash_password(new))
        except BaseException:
            self.codes.restore("reset", email, token)
            raise
        if not changed:
            raise NotFoundError("该邮箱地址未注册 (no account uses this e-mail address)")
        for user_id in await self._store.read(q.ids_with_email, email):
            await self._ledger.user_changed(user_id)
        return new

    async def bind_email(self, user: dict[str, Any], email: str, code: str) -> None:
        """Bind ``email`` to ``user`` with the code sent to it (``/api/oauth/email/bind``)."""
        email = check_email(email)
        if not email or not code:
            raise InvalidInputError("email and code are required")
        if not self.codes.take("verify", email, code):
            raise InvalidInputError("验证码错误或已过期 (the verification code is wrong or has expired)")
        if not await self._store.write(q.bind_identity, user["id"], "email", email):
            raise ConflictError("邮箱地址已被占用 (this e-mail address is already in use)")
        await self._ledger.user_changed(user["id"])

    async def outside_login(self, kind: Identity, outside_id: str, *, display_name: str = "", email: str = "",
                            username: str = "") -> dict[str, Any]:
        """Log in by an outside account (GitHub, WeChat, Lark, OIDC): the user bound to ``outside_id``, else a
        new user (when registration is open) named ``<provider>_<max user id + 1>`` as One API names them, or
        ``username`` when the provider suggests a free, valid one (OIDC's preferred_username). ``email`` must be
        an address the provider has verified (``outside.Account.email``): it lets the person log in and reset
        the password by it."""
        label = PROVIDER_LABELS[kind]
        if not outside_id or len(outside_id) > 191:
            raise InvalidInputError(f"the {label} answer carries no usable account id")
        user = await self._store.read(q.find_by_identity, kind, outside_id)
        if user is None:
            if not self._options.get_bool("RegisterEnabled"):
                raise PermissionDeniedError("管理员关闭了新用户注册 (registration is closed by the administrator)")
            email = email if email and len(email) <= EMAIL_MAX and _EMAIL.match(email) else ""
            if email and await self.email_taken(email):
                email = ""  # the address belongs to another account: do not let this one log in by it
            user_id = await self._create_named(kind, username, display_name=display_name[:DISPLAY_NAME_MAX]
                                               or f"{label} User", email=email, extra={kind: outside_id})
            user = await self._store.read(q.get, user_id)
            assert user is not None
        if user["status"] != STATUS_ENABLED:
            raise AuthenticationError("用户已被封禁 (user banned)", status=200)
        return user

    async def _create_named(self, kind: Identity, wanted: str, **fields: Any) -> int:
        prefix = kind.removesuffix("_id")
        candidates = [wanted] if wanted and len(wanted) <= USERNAME_MAX and wanted.isascii() and \
            not any(c.isspace() for c in wanted) and not wanted.startswith("deleted_") else []
        for attempt in range(5):
            if not candidates:
                candidates.append(f"{prefix}_{await self._store.read(q.max_id) + 1 + attempt}")
            name = candidates.pop(0)
            try:
                return await self._create(name, "", **fields)
            except ConflictError:  # the name is taken (by a person, or a concurrent sign-up): the next one
                continue
        raise ConflictError("could not find a free username; try again")

    async def bind_outside(self, user: dict[str, Any], kind: Identity, outside_id: str) -> None:
        """Bind an outside account to the logged-in ``user``; refused when another user holds it."""
        label = PROVIDER_LABELS[kind]
        if not outside_id or len(outside_id) > 191:
            raise InvalidInputError(f"the {label} answer carries no usable account id")
        if not await self._store.write(q.bind_identity, user["id"], kind, outside_id):
            raise ConflictError(f"该 {label} 账户已被绑定 (this {label} account is already bound to another user)")
        await self._ledger.user_changed(user["id"])

    # -- self service -----------------------------------------------------------------------------

    async def update_self(self, user: dict[str, Any], body: Any, session: str = "") -> None:
        """The user's own changes. A new password ends the user's other web sessions; ``session`` is the sid of
        the one that asked, which stays logged in ("" when the change came with an access token: all end)."""
        f = Fields(body)
        fields: dict[str, Any] = {}
        if f.has("username"):
            username = _check_username(f.str("username", max_len=USERNAME_MAX, required=True))
            if username != user["username"]:
                fields["username"] = username
        if f.has("display_name"):
            fields["display_name"] = f.str("display_name", max_len=DISPLAY_NAME_MAX)
        password = f.str("password", max_len=passwords.MAX_LENGTH, strip=False)
        if password and password != "$I_LOVE_U":  # One API's UI sends this placeholder for "unchanged"
            fields["password"] = await passwords.hash_password(_check_password(password))
        await self._store.write(q.update, user["id"], fields, sessions.digest(session) if session else "")
        await self._ledger.user_changed(user["id"])

    async def delete_self(self, user: dict[str, Any]) -> None:
        if user["role"] == ROLE_ROOT:
            raise PermissionDeniedError("不能删除超级管理员账户 (the root account cannot be deleted)")
        await self._store.write(q.soft_delete, user["id"], f"deleted_{uuid.uuid4().hex}")
        await self._ledger.user_changed(user["id"])

    async def regenerate_access_token(self, user_id: int) -> str:
        for _ in range(3):
            token = keys.uuid_hex()
            if await self._store.write(q.set_unique, user_id, "access_token", token):
                return token
        raise ConflictError("could not generate a unique access token; try again")

    async def aff_code(self, user: dict[str, Any]) -> str:
        if user.get("aff_code"):
            return str(user["aff_code"])
        for _ in range(5):
            code = keys.aff_code()
            if await self._store.write(q.set_unique, user["id"], "aff_code", code):
                return code
        raise ConflictError("could not generate a unique invitation code; try again")

    async def available_models(self, user: dict[str, Any]) -> list[str]:
        return await self._store.read(channel_q.group_models, user.get("group") or "default")

    # -- administration ---------------------------------------------------------------------------

    def _require_above(self, actor: dict[str, Any], target: dict[str, Any], message: str) -> None:
        if actor["role"] != ROLE_ROOT and actor["role"] <= target["role"]:
            raise PermissionDeniedError(message)

    async def _target(self, user_id: int) -> dict[str, Any]:
        target = await self._store.read(q.get, user_id)
        if target is None or target["status"] == q.STATUS_DELETED:
            raise NotFoundError(f"user {user_id} does not exist")
        return target

    async def list_page(self, page: int, order: str) -> list[dict[str, Any]]:
        if order not in ("", "quota", "used_quota", "request_count"):
            raise InvalidInputError("order must be quota, used_quota or request_count")
        sort: q.UserOrder = order or "id"  # type: ignore[assignment]
        rows = await self._store.read(q.list_page, page * PAGE_SIZE, PAGE_SIZE, sort)
        return [public(r) for r in rows]

    async def search(self, keyword: str) -> list[dict[str, Any]]:
        if len(keyword) > 64:
            raise InvalidInputError("keyword must be at most 64 characters")
        return [public(r) for r in await self._store.read(q.search, keyword, 100)]

    async def named(self, username: str) -> list[dict[str, Any]]:
        """The user called ``username`` (as ``manage`` finds it), as a list of none or one: a search that never
        takes a prefix or an id for a name."""
        if len(username) > 64:
            raise InvalidInputError("username must be at most 64 characters")
        row = await self._store.read(q.find_by_username, username)
        return [public(row)] if row is not None and row["status"] != q.STATUS_DELETED else []

    async def get_for(self, actor: dict[str, Any], user_id: int) -> dict[str, Any]:
        target = await self._target(user_id)
        self._require_above(actor, target,
                            "无权获取同级或更高等级用户的信息 (cannot view a user of equal or higher role)")
        return public(target)

    async def create(self, actor: dict[str, Any], body: Any) -> int:
        f = Fields(body)
        username = _check_username(f.str("username", max_len=USERNAME_MAX, required=True))
        password = _check_password(f.str("password", max_len=passwords.MAX_LENGTH, required=True, strip=False))
        display_name = f.str("display_name", max_len=DISPLAY_NAME_MAX) or username
        role = f.int("role", default=ROLE_COMMON)
        if role not in (ROLE_COMMON, ROLE_ADMIN):
            raise InvalidInputError("role must be 1 (common) or 10 (admin)")
        if role >= actor["role"]:
            raise PermissionDeniedError("无法创建权限大于等于自己的用户 (cannot create a user with a role >= yours)")
        return await self._create(username, password, display_name=display_name, role=role)

    async def manage(self, actor: dict[str, Any], body: Any) -> dict[str, int]:
        f = Fields(body)
        username = f.str("username", max_len=64, required=True)
        action = f.str("action", max_len=16, required=True)
        if action not in ("disable", "enable", "delete", "promote", "demote"):
            raise InvalidInputError("action must be disable, enable, delete, promote or demote")
        target = await self._store.read(q.find_by_username, username)
        if target is None or target["status"] == q.STATUS_DELETED:
            raise NotFoundError(f"user {username!r} does not exist")
        self._require_above(actor, target, "无权更新同权限等级或更高权限等级的用户信息 "
                                           "(cannot change a user of equal or higher role)")
        role, status = target["role"], target["status"]
        if action in ("disable", "delete") and role == ROLE_ROOT:
            raise PermissionDeniedError(f"cannot {action} the root user")
        if action == "disable":
            status = q.STATUS_DISABLED
        elif action == "enable":
            status = STATUS_ENABLED
        elif action == "delete":
            await self._store.write(q.soft_delete, target["id"], f"deleted_{uuid.uuid4().hex}")
            await self._ledger.user_changed(target["id"])
            return {"role": role, "status": q.STATUS_DELETED}
        elif action == "promote":
            if actor["role"] != ROLE_ROOT:
                raise PermissionDeniedError("普通管理员用户无法提升其他用户为管理员 (only root can promote)")
            if role >= ROLE_ADMIN:
                raise ConflictError("该用户已经是管理员 (the user is already an admin)")
            role = ROLE_ADMIN
        elif action == "demote":
            if role == ROLE_ROOT:
                raise PermissionDeniedError("无法降级超级管理员用户 (cannot demote root)")
            if role == ROLE_COMMON:
                raise ConflictError("该用户已经是普通用户 (the user is already a common user)")
            role = ROLE_COMMON
        await self._store.write(q.update, target["id"], {"role": role, "status": status})
        await self._ledger.user_changed(target["id"])
        return {"role": role, "status": status}

    async def update(self, actor: dict[str, Any], body: Any) -> None:
        f = Fields(body)
        user_id = f.int("id", required=True, low=1)
        target = await self._target(user_id)
        self._require_above(actor, target, "无权更新同权限等级或更高权限等级的用户信息 "
                                           "(cannot change a user of equal or higher role)")
        if f.has("role") and f.int("role") != target["role"]:
            raise InvalidInputError("role cannot be changed here; use promote or demote")
        fields: dict[str, Any] = {}
        if f.has("username"):
            fields["username"] = _check_username(f.str("username", max_len=USERNAME_MAX, required=True))
        if f.has("display_name"):
            fields["display_name"] = f.str("display_name", max_len=DISPLAY_NAME_MAX)
        if f.has("email"):
            fields["email"] = check_email(f.str("email", max_len=EMAIL_MAX))
        if f.has("group"):
            group = f.str("group", max_len=GROUP_MAX, required=True)
            if "," in group:
                raise InvalidInputError("group must be a single group name")
            fields["group"] = group
        password = f.str("password", max_len=passwords.MAX_LENGTH, strip=False)
        if password and password != "$I_LOVE_U":
            fields["password"] = await passwords.hash_password(_check_password(password))
        new_quota = f.int("quota", low=0, high=MAX_SAFE_INT) if f.has("quota") else None
        if "username" in fields and fields["username"] != target["username"] and \
                await self._store.read(q.username_taken, fields["username"], user_id):
            raise ConflictError(f"username {fields['username']!r} is already taken")
        await self._store.write(q.update, user_id, fields)
        await self._ledger.user_changed(user_id)
        if new_quota is not None and new_quota != target["quota"]:
            opts = self._options
            username = fields.get("username", target["username"])
            rows: list[LogRow] = []

            def describe(old: int, new: int) -> LogRow:  # written in the transaction that sets the quota
                rows.append(Logs.row(user_id, TYPE_MANAGE, f"管理员将用户额度从 {opts.display(old)}修改为 "
                                                            f"{opts.display(new)}", username))
                return rows[-1]

            change = await self._store.write(q.set_quota, user_id, new_quota, describe)
            if change:
                self._logs.committed(rows, change[2])  # before any await: the change is in, its log must follow
            await self._ledger.user_changed(user_id)

    async def delete(self, actor: dict[str, Any], user_id: int) -> None:
        target = await self._target(user_id)
        if actor["role"] <= target["role"]:  # even root cannot delete root
            raise PermissionDeniedError("无权删除同权限等级或更高权限等级的用户 "
                                        "(cannot delete a user of equal or higher role)")
        await self._store.write(q.soft_delete, user_id, f"deleted_{uuid.uuid4().hex}")
        await self._ledger.user_changed(user_id)

    async def topup(self, actor: dict[str, Any], body: Any) -> None:
        """POST /api/topup: an administrator credits quota to a user, with a top-up log."""
        f = Fields(body)
        user_id = f.int("user_id", required=True, low=1)
        quota = f.int("quota", required=True, low=1, high=MAX_SAFE_INT)
        remark = f.str("remark", max_len=255)
        target = await self._target(user_id)
        self._require_above(actor, target, "cannot top up a user of equal or higher role")
        row = Logs.row(user_id, TYPE_TOPUP, remark or f"管理员充值 {self._options.display(quota)}",
                       target["username"], quota=quota)
        leftover = await self._store.write(q.credit, user_id, quota, row)  # balance and log: one transaction
        if leftover is None:
            raise NotFoundError(f"user {user_id} does not exist")
        self._logs.committed([row], leftover)  # before any await: the credit is in, its log must follow
        await self._ledger.user_changed(user_id)
