"""Sign in, sign up and sign out over HTTP: every refusal has a clear message (in the reader's language), the
forms need their CSRF token, and the session cookie is the /api one."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from tests.conftest import open_backend
from tests.functional.conftest import Api, make_config, start_api
from tests.functional.web_client import WebClient, alert, flash, text_of

PASSWORD = "password123"


@pytest.fixture
async def web(api: Api, aiohttp_client: Any) -> WebClient:
    """A browser of its own (cookie jar apart from the root-token client ``api`` uses)."""
    return WebClient(await aiohttp_client(api.client.server))


async def set_option(api: Api, key: str, value: str) -> None:
    await api.ok("PUT", "/api/option/", json={"key": key, "value": value})


async def register(web: WebClient, status: int = 200, **fields: str) -> str:
    await web.get("/register")
    form = {"username": "alice", "password": PASSWORD, "password2": PASSWORD, "email": "", "aff_code": "", **fields}
    return await web.post("/register", form, status=status)


async def test_register_then_log_in(api: Api, web: WebClient) -> None:
    assert 'name="email"' not in await web.get("/register")  # (asked only with EmailVerificationEnabled)
    page = await register(web, username="alice", email="alice@example.com")  # (sent anyway: not kept)
    assert "Your account is ready" in flash(page) and 'value="alice"' in page  # on the login page, name filled in
    user = await api.ok("GET", "/api/user/search?keyword=alice")
    assert user[0]["email"] == "" and user[0]["role"] == 1
    page = await web.post("/login", {"username": "alice@example.com", "password": PASSWORD}, status=403)
    assert "wrong username or password" in alert(page)
    page = await web.post("/login", {"username": "alice", "password": PASSWORD})
    assert "Dashboard" in text_of(page) and "/logout" in page
    me = await web.client.get("/api/user/self")  # the same session cookie serves /api
    assert (await me.json())["data"]["username"] == "alice"


async def test_log_in_by_email_and_go_back_where_asked(api: Api, web: WebClient) -> None:
    uid, _ = await api.make_user("alice")
    await api.ok("PUT", "/api/user/", json={"id": uid, "email": "alice@example.com"})
    await web.get("/login?next=/token")
    resp = await web.raw_post("/login", {"username": "alice@example.com", "password": PASSWORD, "next": "/token"},
                              follow=False)
    assert resp.status == 303 and resp.headers["Location"] == "/token"
    morsel = resp.cookies["session"]
    assert morsel["httponly"] and morsel["samesite"] == "Lax" and morsel["path"] == "/"
    resp = await web.client.get("/login", allow_redirects=False)  # already logged in
    assert resp.status == 303 and resp.headers["Location"] == "/dashboard"


async def test_console_pages_send_visitors_to_login_and_back(api: Api, web: WebClient) -> None:
    for path in ("/dashboard", "/token", "/token/new", "/topup", "/log?model=x", "/setting", "/token/1/edit"):
        resp = await api.client.get(path, allow_redirects=False)
        assert resp.status == 303, path
        assert resp.headers["Location"] == "/login?next=" + quote(path, safe="/"), path
    page = await web.get("/dashboard")  # followed: the login page says why
    assert "Log in to continue" in flash(page)


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example", "/\\evil.example", "javascript:x"])
async def test_login_never_redirects_off_site(api: Api, web: WebClient, target: str) -> None:
    await web.get("/login")
    resp = await web.raw_post("/login", {"username": "root", "password": "123456", "next": target}, follow=False)
    assert resp.status == 303 and resp.headers["Location"] == "/dashboard"


LOGIN_REFUSALS = [
    ({"username": "root", "password": "wrong-password"}, "wrong username or password", 403),
    ({"username": "nobody", "password": PASSWORD}, "wrong username or password", 403),
    ({"username": "", "password": ""}, "username and password are required", 400),
    ({"username": "root", "password": ""}, "username and password are required", 400),
    ({"username": "root", "password": "x" * 200}, "wrong username or password", 403),
    ({"username": "r" * 5000, "password": PASSWORD}, "wrong username or password", 403),
]


@pytest.mark.parametrize(("form", "message", "status"), LOGIN_REFUSALS)
async def test_login_refusals(web: WebClient, form: dict[str, str], message: str, status: int) -> None:
    await web.get("/login")
    page = await web.post("/login", form, status=status)
    assert message in alert(page)
    assert "/logout" not in page


async def test_login_refusals_in_chinese(web: WebClient) -> None:
    await web.get("/login", **{"Accept-Language": "zh-CN"})
    resp = await web.raw_post("/login", {"username": "root", "password": "wrong-password"},
                              headers={"Accept-Language": "zh-CN"})
    page = await resp.text()
    assert alert(page) == "用户名或密码错误，或用户已被封禁"
    resp = await web.raw_post("/login", {"username": "", "password": ""}, headers={"Accept-Language": "zh-CN"})
    assert alert(await resp.text()) == "请输入用户名和密码"


async def test_disabled_user_and_disabled_password_login(api: Api, web: WebClient) -> None:
    await api.make_user("alice")
    await web.login("alice", PASSWORD)
    await api.ok("POST", "/api/user/manage", json={"username": "alice", "action": "disable"})
    page = await web.get("/dashboard")  # the session is dropped at once, and the login page says why
    assert "This account is disabled" in flash(page)
    assert not any(c.key == "session" and c.value for c in web.client.session.cookie_jar)
    page = await web.post("/login", {"username": "alice", "password": PASSWORD}, status=403)
    assert "wrong username or password, or user banned" in alert(page)
    await set_option(api, "PasswordLoginEnabled", "false")
    page = await web.post("/login", {"username": "root", "password": "123456"}, status=403)
    assert "password login is disabled" in alert(page)


async def test_the_page_that_drops_a_session_gives_a_working_form(api: Api, web: WebClient) -> None:
    """The token of a page whose response drops the session is bound to what the browser keeps."""
    await api.make_user("alice")
    await api.make_user("bob")
    await web.login("alice", PASSWORD)
    await api.ok("POST", "/api/user/manage", json={"username": "alice", "action": "disable"})
    await web.get("/login")  # (not through a redirect: this very page drops the session)
    assert not any(c.key == "session" and c.value for c in web.client.session.cookie_jar)
    await api.ok("POST", "/api/user/manage", json={"username": "alice", "action": "enable"})
    page = await web.post("/login", {"username": "alice", "password": PASSWORD})
    assert "/logout" in page
    await api.ok("POST", "/api/user/manage", json={"username": "alice", "action": "delete"})
    await web.get("/")  # the home page drops the deleted user's session; its token (meta) serves the next form
    page = await web.post("/login", {"username": "bob", "password": PASSWORD})
    assert "/logout" in page and "bob" in text_of(page)


REGISTER_REFUSALS = [  # field names in the services' messages are shown as the form labels them
    ({"username": ""}, "Username is required"),
    ({"username": "thirteenchars"}, "Username must be at most 12 characters"),
    ({"username": "al ice"}, "must not contain spaces"),
    ({"username": "deleted_x"}, "start with 'deleted_'"),
    ({"password": "short", "password2": "short"}, "password must be 8 to 20 characters"),
    ({"password": "x" * 21, "password2": "x" * 21}, "Password must be at most 20 characters"),
    ({"password2": "different1"}, "The two passwords are not the same."),
    ({"email": "not-an-address"}, "email must be a valid address"),
    ({"aff_code": "x" * 40}, "Invitation code must be at most 32 characters"),
    ({"username": "<b>x</b>", "password": "short", "password2": "short"}, "password must be 8 to 20"),
]


@pytest.mark.parametrize(("fields", "message"), REGISTER_REFUSALS)
async def test_register_refusals(api: Api, web: WebClient, fields: dict[str, str], message: str) -> None:
    page = await register(web, status=400, **fields)
    assert message in alert(page)
    assert await api.ok("GET", "/api/user/search?keyword=al") == []


async def test_register_refusals_keep_what_was_typed_and_speak_chinese(api: Api, web: WebClient) -> None:
    await register(web, username="alice")
    await web.get("/register", **{"Accept-Language": "zh"})
    resp = await web.raw_post("/register", {"username": "alice", "password": PASSWORD, "password2": PASSWORD,
                                            "aff_code": "Zq9x"}, headers={"Accept-Language": "zh"})
    page = await resp.text()
    assert resp.status == 409 and alert(page) == "用户名 'alice' 已被占用"
    assert 'value="Zq9x"' in page
    resp = await web.raw_post("/register", {"username": "bob", "password": "short", "password2": "short"},
                              headers={"Accept-Language": "zh"})
    assert alert(await resp.text()) == "密码长度必须为 8 到 20 个字符"


async def test_invitation_code_from_the_link_is_credited(api: Api, web: WebClient) -> None:
    await set_option(api, "QuotaForInviter", "1000")
    await set_option(api, "QuotaForInvitee", "500")
    inviter, token = await api.make_user("inviter")
    code = await api.ok("GET", "/api/user/aff", token=token)
    page = await web.get(f"/register?aff={code}")
    assert f'value="{code}"' in page
    await register(web, username="invitee", aff_code=code)
    invitee = (await api.ok("GET", "/api/user/search?keyword=invitee"))[0]
    assert invitee["quota"] == 500 and invitee["inviter_id"] == inviter
    assert (await api.ok("GET", f"/api/user/{inviter}"))["quota"] == 1000


async def test_closed_registration(api: Api, web: WebClient) -> None:
    for key in ("RegisterEnabled", "PasswordRegisterEnabled"):
        await set_option(api, key, "false")
        page = await web.get("/register")
        assert "Registration is closed" in page and 'action="/register"' not in page
        assert 'href="/register"' not in await web.get("/login")
        page = await web.post("/register", {"username": "alice", "password": PASSWORD, "password2": PASSWORD},
                              status=403)  # refused by the service, whatever the form says
        assert "Registration is closed" in page
        await set_option(api, key, "true")
    assert await api.ok("GET", "/api/user/search?keyword=alice") == []


async def test_forms_without_the_token_are_refused(api: Api, web: WebClient) -> None:
    await web.get("/login")
    for token in (False, "", "0" * 64, "令牌"):
        resp = await web.raw_post("/login", {"username": "root", "password": "123456"}, csrf=token, follow=False)
        assert resp.status == 403 and "session" not in resp.cookies, token
        assert "This form has expired" in await resp.text()
    resp = await web.raw_post("/register", {"username": "mallory", "password": PASSWORD, "password2": PASSWORD},
                              csrf=False)
    assert resp.status == 403
    assert await api.ok("GET", "/api/user/search?keyword=mallory") == []


async def test_a_token_from_another_browser_is_refused(api: Api, aiohttp_client: Any, web: WebClient) -> None:
    other = WebClient(await aiohttp_client(api.client.server))
    await other.get("/login")
    await web.get("/login")
    resp = await web.raw_post("/login", {"username": "root", "password": "123456"}, csrf=other.token, follow=False)
    assert resp.status == 403


async def test_bodies_that_are_not_forms_are_refused_not_crashed(api: Api, web: WebClient) -> None:
    await web.get("/login")
    for body, content_type in ((b'{"username": "root"}', "application/json"),
                               (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
                               (b"--x\r\nContent-Disposition: form-data; name=a\r\n\r\n1", "multipart/form-data"),
                               (b"a=1&" * 10, "multipart/form-data; boundary="),
                               (b"\xff\xfe\x00", "application/x-www-form-urlencoded"),
                               (b"", "text/plain")):
        resp = await api.client.post("/login", data=body, headers={"Content-Type": content_type})
        assert resp.status in (400, 403), (content_type, resp.status)
        assert "text/html" in resp.headers["Content-Type"]


async def test_logout_needs_the_token_and_ends_the_session(api: Api, web: WebClient) -> None:
    await web.login("root", "123456")
    resp = await web.raw_post("/logout", csrf=False)
    assert resp.status == 403
    assert "/logout" in await web.get("/dashboard")
    page = await web.post("/logout")
    assert "You are logged out" in flash(page)
    resp = await web.client.get("/dashboard", allow_redirects=False)
    assert resp.status == 303


async def test_a_session_cookie_behind_an_https_proxy_is_secure(api: Api, web: WebClient) -> None:
    await web.get("/login")
    resp = await web.raw_post("/login", {"username": "root", "password": "123456"}, follow=False,
                              headers={"X-Forwarded-Proto": "https"})
    assert resp.cookies["session"]["secure"]


@pytest.fixture
async def limited(tmp_path: Path, aiohttp_client: Any) -> AsyncIterator[Api]:
    async for a in start_api(open_backend("sqlite", tmp_path), make_config(), aiohttp_client):
        yield a


async def test_login_and_registration_forms_share_the_critical_limit(limited: Api) -> None:
    web = WebClient(limited.client)
    await web.get("/login")
    for _ in range(20):
        await web.post("/login", {"username": "nobody", "password": "wrong-password"}, status=403)
    resp = await web.raw_post("/login", {"username": "root", "password": "123456"}, follow=False)
    assert resp.status == 429 and "session" not in resp.cookies
    resp = await web.raw_post("/register", {"username": "bob"}, follow=False)
    assert resp.status == 429
    assert (await limited.client.get("/login")).status == 200  # reading pages is not critical


CRITICAL_ROUTES = [("POST", p) for p in ("/register", "/reset", "/user/reset", "/login/wechat", "/register/code",
                                         "/setting/wechat", "/setting/email", "/setting/email/code",
                                         "/setting/password", "/setting/access-token", "/setting/delete",
                                         "/setting/oauth/github", "/setting/oauth/oidc")] + \
    [("GET", p) for p in ("/oauth/github", "/oauth/lark/start", "/oauth/oidc")] + [("HEAD", "/oauth/github")]


@pytest.mark.parametrize(("method", "path"), CRITICAL_ROUTES)
async def test_every_way_in_shares_the_critical_limit(limited: Api, method: str, path: str) -> None:
    """The e-mail, WeChat and OAuth forms and callbacks, and the forms that check the current password, count
    against the same 20 per 20 minutes per IP as the login form (and /api's critical routes)."""
    web = WebClient(limited.client)
    await web.get("/login")
    for _ in range(20):
        if method == "POST":
            resp = await web.raw_post(path, {"code": "x", "email": "a@example.com"}, follow=False)
        else:
            resp = await limited.client.request(method, path + "?code=x&state=y", allow_redirects=False)
        assert resp.status != 429, (method, path)
    resp = await web.raw_post("/login", {"username": "root", "password": "123456"}, follow=False)
    assert resp.status == 429 and "session" not in resp.cookies
    assert (await limited.client.get("/setting", allow_redirects=False)).status != 429  # reading is not critical
