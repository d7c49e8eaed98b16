"""The console over HTTP: dashboard, tokens, top-up, usage and settings, with bad input on every form, one user
kept out of another's data, and user-supplied text always escaped."""

from __future__ import annotations

import html
import re
import time
from typing import Any

import pytest

from oneapi.store.queries import logs as logs_q
from oneapi.store.queries import tokens as tokens_q
from oneapi.store.queries.accounting import LogRow
from tests.functional.conftest import Api
from tests.functional.web_client import WebClient, alert, flash, text_of

PASSWORD = "password123"
XSS = '<img src=x onerror="alert(1)">'


@pytest.fixture
async def alice(api: Api, aiohttp_client: Any) -> WebClient:
    """A common user's browser, logged in."""
    await api.make_user("alice")
    web = WebClient(await aiohttp_client(api.client.server))
    await web.login("alice", PASSWORD)
    return web


async def user_row(api: Api, username: str) -> dict[str, Any]:
    rows = await api.ok("GET", f"/api/user/search?keyword={username}")
    return dict(next(r for r in rows if r["username"] == username))


async def tokens_of(api: Api, user_id: int) -> list[dict[str, Any]]:
    return await api.services.store.read(tokens_q.list_page, user_id, 0, 100, "id")


async def set_option(api: Api, key: str, value: str) -> None:
    await api.ok("PUT", "/api/option/", json={"key": key, "value": value})


def token_form(**fields: Any) -> dict[str, Any]:
    form: dict[str, Any] = {"name": "ci", "amount": "", "expires_at": "", "subnet": ""}
    form.update(fields)
    return form


# -- dashboard ----------------------------------------------------------------------------------------


async def test_dashboard_shows_balance_usage_and_a_chart_per_model(api: Api, alice: WebClient) -> None:
    me = await user_row(api, "alice")
    await api.ok("POST", "/api/topup", json={"user_id": me["id"], "quota": 2_500_000})
    now = int(time.time())
    rows = [{"user_id": me["id"], "username": "alice", "type": logs_q.TYPE_CONSUME, "created_at": now - d * 86400,
             "model_name": model, "token_name": "default", "quota": quota, "prompt_tokens": 10,
             "completion_tokens": 5, "content": ""}
            for d, model, quota in ((0, "gpt-4o-mini", 3), (1, "gpt-4o", 1500), (9, "claude-3-haiku", 700))]
    await api.services.store.write(logs_q.insert_many, [LogRow(**r) for r in rows])
    page = await alice.get("/dashboard")
    text = text_of(page)
    assert "Balance $5.00" in text
    assert "$0.000006" in text  # three quota units, with the significant-digits formatter
    assert page.count('<svg class="chart"') == 2 and "<rect" in page
    assert "gpt-4o-mini" in text and "gpt-4o" in text and "claude-3-haiku" not in text  # 9 days ago
    assert "You are an administrator" not in text
    page = await alice.get("/dashboard?days=30")
    assert "claude-3-haiku" in text_of(page) and 'aria-current="true">Last 30 days' in page
    for bad in ("8", "abc", "-1", "7.0", "30" * 100):
        page = await alice.get(f"/dashboard?days={bad}", status=400)
        assert "The period must be 7 or 30 days" in page


async def test_dashboard_in_units_when_currency_display_is_off(api: Api, alice: WebClient) -> None:
    await set_option(api, "DisplayInCurrencyEnabled", "false")
    me = await user_row(api, "alice")
    await api.ok("POST", "/api/topup", json={"user_id": me["id"], "quota": 1_234_567})
    assert "Balance 1,234,567" in text_of(await alice.get("/dashboard"))


async def test_administrators_see_a_pointer_to_the_tui(api: Api, aiohttp_client: Any) -> None:
    web = WebClient(await aiohttp_client(api.client.server))
    await web.login("root", "123456")
    text = text_of(await web.get("/dashboard"))
    assert "You are an administrator" in text and "oneapi tui" in text and "Balance" in text


# -- tokens -----------------------------------------------------------------------------------------------


async def test_create_a_limited_token_with_expiry_models_and_subnet(api: Api, alice: WebClient) -> None:
    await api.ok("POST", "/api/channel/", json={"type": 1, "key": "k", "name": "c", "models": "gpt-4o,gpt-4o-mini"})
    page = await alice.get("/token/new")
    assert 'value="gpt-4o-mini"' in page  # the user's group's models are offered
    page = await alice.post("/token/new", token_form(name="ci", amount="$1.50", expires_at="2031-01-02T03:04",
                                                     models=["gpt-4o-mini"], subnet="10.0.0.0/8, 192.168.1.7"))
    assert "Token “ci” created." in flash(page)
    me = await user_row(api, "alice")
    token = next(t for t in await tokens_of(api, me["id"]) if t["name"] == "ci")
    assert token["remain_quota"] == 750_000 and token["unlimited_quota"] is False
    assert token["expired_time"] == 1925089440  # 2031-01-02 03:04 UTC (no tz cookie: UTC, as the form says)
    assert token["models"] == "gpt-4o-mini" and token["subnet"] == "10.0.0.0/8,192.168.1.7/32"
    text = text_of(page)
    assert "$1.50" in text and "2031-01-02 03:04" in text
    assert f"sk-{token['key'][:4]}••••••••{token['key'][-4:]}" in page and f"sk-{token['key']}" in page


async def test_times_follow_the_browsers_time_zone(api: Api, alice: WebClient) -> None:
    alice.client.session.cookie_jar.update_cookies({"tz": "Asia/Shanghai"})
    await alice.post("/token/new", token_form(name="tz", unlimited="on", expires_at="2031-01-02T11:04"))
    me = await user_row(api, "alice")
    token = next(t for t in await tokens_of(api, me["id"]) if t["name"] == "tz")
    assert token["expired_time"] == 1925089440  # 11:04 in Shanghai is 03:04 UTC
    page = await alice.get(f"/token/{token['id']}/edit")
    assert 'value="2031-01-02T11:04"' in page and "Times are in Asia/Shanghai." in page
    for bad in ("Mars/Olympus", "../../etc/passwd", "x" * 100, "UTC"):
        alice.client.session.cookie_jar.update_cookies({"tz": bad})
        assert "Times are in UTC." in await alice.get(f"/token/{token['id']}/edit")


TOKEN_FORM_REFUSALS = [
    (token_form(name="n" * 31, unlimited="on", never="on"), "Name must be at most 30 characters"),
    (token_form(amount="lots", never="on"), "Type the quota as a number"),
    (token_form(amount="-5", never="on"), "Type the quota as a number"),
    (token_form(amount="1e400", never="on"), "Type the quota as a number"),
    (token_form(amount="9" * 40, never="on"), "Type the quota as a number"),
    (token_form(unlimited="on", expires_at="next week"), "Choose the expiry date and time"),
    (token_form(unlimited="on", expires_at="99999-01-01T00:00"), "Choose the expiry date and time"),
    (token_form(unlimited="on", never="on", subnet="10.0.0.0/33"), "is not a valid CIDR"),
    (token_form(unlimited="on", never="on", subnet="x" * 2000), "at most 1024 characters"),
    (token_form(unlimited="on", never="on", rpm_limit="-1"), "Requests per minute must be an integer"),
    (token_form(unlimited="on", never="on", rpm_limit="1.5"), "Requests per minute must be an integer"),
    (token_form(unlimited="on", never="on", tpm_limit="1000000001"),
     "Tokens per minute must be an integer <= 1000000000"),
    (token_form(unlimited="on", never="on", tpm_limit="9" * 40), "Tokens per minute must be an integer"),
]


@pytest.mark.parametrize(("form", "message"), TOKEN_FORM_REFUSALS)
async def test_token_form_refusals(api: Api, alice: WebClient, form: dict[str, Any], message: str) -> None:
    page = await alice.post("/token/new", form, status=400)
    assert message in alert(page)
    assert f'value="{html.escape(form["name"])}"' in page  # what was typed stays in the form
    me = await user_row(api, "alice")
    assert [t["name"] for t in await tokens_of(api, me["id"])] == ["default"]


@pytest.mark.parametrize("in_currency", ["true", "false"])
async def test_an_exponent_in_the_quota_is_refused_at_once(api: Api, alice: WebClient, in_currency: str) -> None:
    """``1e999990`` once kept the event loop (the whole server, /v1 too) busy for half a minute."""
    await api.ok("PUT", "/api/option/", json={"key": "DisplayInCurrencyEnabled", "value": in_currency})
    for amount in ("1e999990", "1e999999", "9" * 30):
        started = time.monotonic()
        page = await alice.post("/token/new", token_form(name="big", amount=amount, never="on"), status=400)
        assert time.monotonic() - started < 2, amount
        assert "Type the quota as a number" in alert(page)
    me = await user_row(api, "alice")
    assert [t["name"] for t in await tokens_of(api, me["id"])] == ["default"]


async def test_rate_limits_are_set_shown_and_changed_in_the_token_form(api: Api, alice: WebClient) -> None:
    me = await user_row(api, "alice")
    page = await alice.get("/token/new")
    assert 'name="rpm_limit"' in page and 'name="tpm_limit"' in page and "Rate limits" in page
    await alice.post("/token/new", token_form(name="rl", unlimited="on", never="on", rpm_limit="60",
                                              tpm_limit="100000"))
    token = next(t for t in await tokens_of(api, me["id"]) if t["name"] == "rl")
    assert (token["rpm_limit"], token["tpm_limit"]) == (60, 100_000)
    page = await alice.get(f"/token/{token['id']}/edit")
    assert 'value="60"' in page and 'value="100000"' in page
    page = await alice.post(f"/token/{token['id']}/edit", token_form(name="rl", unlimited="on", never="on",
                                                                     rpm_limit="", tpm_limit="5"))
    assert "Token “rl” saved." in flash(page)
    token = next(t for t in await tokens_of(api, me["id"]) if t["name"] == "rl")
    assert (token["rpm_limit"], token["tpm_limit"]) == (0, 5)  # empty: no limit
    alice.client.session.cookie_jar.update_cookies({"lang": "zh"})
    page = await alice.post("/token/new", token_form(unlimited="on", never="on", rpm_limit="x"), status=400)
    assert "每分钟请求数" in alert(page)


async def test_edit_enable_disable_and_delete_a_token(api: Api, alice: WebClient) -> None:
    me = await user_row(api, "alice")
    await alice.post("/token/new", token_form(name="ci", unlimited="on", never="on"))
    token = next(t for t in await tokens_of(api, me["id"]) if t["name"] == "ci")
    page = await alice.get(f"/token/{token['id']}/edit")
    assert 'value="ci"' in page and "checked" in page
    page = await alice.post(f"/token/{token['id']}/edit", token_form(name="ci-2", amount="2", never="on"))
    assert "Token “ci-2” saved." in flash(page)
    page = await alice.post(f"/token/{token['id']}/status", {"status": "2", "next": "/token?page=1"})
    assert "disabled" in flash(page)
    assert (await api.services.store.read(tokens_q.get, token["id"], me["id"]))["status"] == 2
    await alice.post(f"/token/{token['id']}/status", {"status": "1", "next": "/token"})
    assert (await api.services.store.read(tokens_q.get, token["id"], me["id"]))["status"] == 1
    for bad in ("3", "", "enabled", "1; drop"):
        page = await alice.post(f"/token/{token['id']}/status", {"status": bad}, status=400)
        assert "The status must be enabled or disabled" in page
    page = await alice.get(f"/token/{token['id']}/delete")
    assert "Delete the token “ci-2”?" in text_of(page)
    page = await alice.post(f"/token/{token['id']}/delete")
    assert "Token “ci-2” deleted." in flash(page)
    assert [t["name"] for t in await tokens_of(api, me["id"])] == ["default"]


async def test_enabling_an_expired_token_is_refused_with_the_services_message(api: Api, alice: WebClient) -> None:
    me = await user_row(api, "alice")
    await alice.post("/token/new", token_form(name="old", unlimited="on", expires_at="2001-01-01T00:00"))
    token = next(t for t in await tokens_of(api, me["id"]) if t["name"] == "old")
    await api.services.store.write(tokens_q.update, token["id"], me["id"], {"status": 2})
    page = await alice.post(f"/token/{token['id']}/status", {"status": "1"}, status=409)
    assert "the token has expired" in page


async def test_token_search_and_pages(api: Api, alice: WebClient) -> None:
    me = await user_row(api, "alice")
    for i in range(12):
        await api.services.tokens.create(me["id"], {"name": f"batch-{i:02d}", "unlimited_quota": True})
    page = await alice.get("/token")
    assert page.count('class="strong"') == 10 and 'href="/token?page=2"' in page
    page = await alice.get("/token?page=2")
    assert page.count('class="strong"') == 3 and 'href="/token?page=1"' in page
    assert "Nothing more to show" in await alice.get("/token?page=9")
    page = await alice.get("/token?q=batch-1")
    assert sorted(re.findall(r'class="strong">([^<]+)<', page)) == ["batch-10", "batch-11"]
    assert "No token name starts with “zzz”" in text_of(await alice.get("/token?q=zzz"))
    for bad in ("0", "-1", "x", "1.5", "9" * 30):
        assert "The page number must be" in await alice.get(f"/token?page={bad}", status=400)
    assert "Search text must be at most 30 characters" in alert(await alice.get("/token?q=" + "a" * 31, status=400))


async def test_another_users_token_is_not_found_through_any_page(api: Api, alice: WebClient,
                                                                 aiohttp_client: Any) -> None:
    bob_id, _ = await api.make_user("bob")
    bob_token = (await tokens_of(api, bob_id))[0]
    ident = bob_token["id"]
    for path in (f"/token/{ident}/edit", f"/token/{ident}/delete"):
        assert f"token {ident} does not exist" in await alice.get(path, status=404)
    for path, form in ((f"/token/{ident}/edit", token_form(name="stolen", unlimited="on", never="on")),
                       (f"/token/{ident}/status", {"status": "2"}), (f"/token/{ident}/delete", {})):
        await alice.post(path, form, status=404)
    assert await tokens_of(api, bob_id) == [bob_token]  # untouched
    assert bob_token["key"] not in await alice.get("/token") + await alice.get("/token?q=default")
    for bad in ("abc", "0", "-1", "1e3", "99999999999999999999"):
        await alice.get(f"/token/{bad}/edit", status=404)
        await alice.get(f"/token/{bad}/delete", status=404)
        await alice.post(f"/token/{bad}/delete", {}, status=404)
        await alice.post(f"/token/{bad}/status", {"status": "1"}, status=404)
        await alice.post(f"/token/{bad}/edit", token_form(name="x", unlimited="on", never="on"), status=404)


# -- top-up -------------------------------------------------------------------------------------------


async def test_redeem_a_voucher_and_refusals(api: Api, alice: WebClient) -> None:
    keys = await api.ok("POST", "/api/redemption/", json={"name": "promo", "quota": 5_000_000, "count": 2})
    page = await alice.post("/topup", {"key": keys[0]})
    assert "Voucher redeemed: $10.00 added to your balance." in flash(page)
    assert "$10.00" in text_of(page)
    assert (await user_row(api, "alice"))["quota"] == 5_000_000
    page = await alice.post("/topup", {"key": keys[0]}, status=409)
    assert alert(page) == "this voucher has already been used"
    for bad, status in (("", 400), ("nope", 404), ("x" * 65, 400), (keys[1][:-1] + "!", 404)):
        page = await alice.post("/topup", {"key": bad}, status=status)
        assert alert(page), bad
    await api.ok("PUT", "/api/redemption/?status_only=1", json={"id": 2, "status": 2})
    assert alert(await alice.post("/topup", {"key": keys[1]}, status=409)) == "this voucher is disabled"
    assert (await user_row(api, "alice"))["quota"] == 5_000_000


async def test_redeem_refusals_in_chinese(api: Api, alice: WebClient) -> None:
    alice.client.session.cookie_jar.update_cookies({"lang": "zh"})
    assert alert(await alice.post("/topup", {"key": "nope"}, status=404)) == "兑换码无效"


async def test_the_operators_top_up_link_carries_the_user(api: Api, alice: WebClient) -> None:
    assert "Ask the administrator for a voucher code" in text_of(await alice.get("/topup"))
    await set_option(api, "TopUpLink", "https://shop.example.com/buy?plan=a")
    page = await alice.get("/topup")
    link = re.search(r'href="(https://shop\.example\.com/buy\?plan=a&amp;username=alice&amp;user_id=\d+'
                     r'&amp;transaction_id=[0-9a-f]{32})" target="_blank" rel="noopener noreferrer"', page)
    assert link
    await set_option(api, "TopUpLink", "javascript:alert(1)")
    assert "javascript:" not in await alice.get("/topup")


# -- usage --------------------------------------------------------------------------------------------


async def seed_logs(api: Api, user_id: int, username: str, base: int) -> None:
    rows = [{"user_id": user_id, "username": username, "type": logs_q.TYPE_CONSUME, "created_at": base + i * 3600,
             "model_name": "gpt-4o-mini" if i % 2 else "gpt-4o", "token_name": "ci" if i < 3 else "default",
             "quota": 100 * (i + 1), "prompt_tokens": 10, "completion_tokens": 2, "content": f"call {i}",
             "request_id": f"req-{username}-{i}", "elapsed_time": 321, "is_stream": i == 1}
            for i in range(5)]
    rows.append({"user_id": user_id, "username": username, "type": logs_q.TYPE_TOPUP, "created_at": base,
                 "content": "通过兑换码充值 $1", "quota": 500000})
    await api.services.store.write(logs_q.insert_many, [LogRow(**r) for r in rows])


async def test_usage_filters_totals_and_detail(api: Api, alice: WebClient) -> None:
    me = await user_row(api, "alice")
    bob, _ = await api.make_user("bob")
    base = 1_900_000_000  # 2030-03-17 17:46:40 UTC
    await seed_logs(api, me["id"], "alice", base)
    await seed_logs(api, bob, "bob", base)
    page = await alice.get("/log")
    assert page.count('<details class="logrow">') == 6 and "req-bob" not in page
    assert "req-alice-1" in page and "321 ms" in text_of(page)
    assert 'data-testid="usage-spend">$0.003<' in page  # 100+200+...+500 = 1500 quota
    page = await alice.get("/log?token=ci")
    assert page.count('<details class="logrow">') == 3 and 'data-testid="usage-spend">$0.0012<' in page
    page = await alice.get("/log?model=gpt-4o-mini&type=2")
    assert page.count('<details class="logrow">') == 2
    page = await alice.get("/log?from=2030-03-17T18:00&to=2030-03-17T19:47")
    assert page.count('<details class="logrow">') == 2  # 18:46 and 19:46 UTC
    page = await alice.get("/log?type=1")
    assert page.count('<details class="logrow">') == 1 and "Top-up" in page


USAGE_REFUSALS = [
    ("from=yesterday", "“From” is not a date and time."),
    ("to=2030-13-45T99:99", "“To” is not a date and time."),
    ("from=2030-03-18T00:00&to=2030-03-17T00:00", "the start of the time range is after its end"),
    ("type=9", "Choose a record type from the list."),
    ("type=abc", "Choose a record type from the list."),
    ("token=" + "t" * 200, "Token must be at most 191 characters"),
    ("model=" + "m" * 200, "Model must be at most 191 characters"),
]


@pytest.mark.parametrize(("query", "message"), USAGE_REFUSALS)
async def test_usage_refusals(alice: WebClient, query: str, message: str) -> None:
    page = await alice.get("/log?" + query, status=400)
    assert alert(page) == message
    assert "<details class=\"logrow\">" not in page


async def test_usage_pages(api: Api, alice: WebClient) -> None:
    me = await user_row(api, "alice")
    await seed_logs(api, me["id"], "alice", 1_900_000_000)
    await seed_logs(api, me["id"], "alice", 1_900_100_000)
    page = await alice.get("/log?model=&token=")
    assert page.count('<details class="logrow">') == 10
    assert 'href="/log?from=&amp;to=&amp;token=&amp;model=&amp;type=&amp;page=2"' in page
    assert (await alice.get("/log?page=2")).count('<details class="logrow">') == 2
    assert "The page number must be" in await alice.get("/log?page=0", status=400)


# -- settings -----------------------------------------------------------------------------------------


async def test_change_password_and_log_in_again(api: Api, alice: WebClient) -> None:
    refusals = [
        ({"current": "wrong-password", "password": "new-password1", "password2": "new-password1"},
         "The current password is wrong."),
        ({"current": PASSWORD, "password": "new-password1", "password2": "new-password2"},
         "The two passwords are not the same."),
        ({"current": PASSWORD, "password": "short", "password2": "short"}, "password must be 8 to 20 characters"),
        ({"current": PASSWORD, "password": "", "password2": ""}, "Type the new password."),
        ({"current": "x" * 500, "password": "new-password1", "password2": "new-password1"},
         "The current password is wrong."),
    ]
    for form, message in refusals:
        page = await alice.post("/setting/password", form, status=400)
        assert alert(page) == message, form
    page = await alice.post("/setting/password", {"current": PASSWORD, "password": "new-password1",
                                                  "password2": "new-password1"})
    assert flash(page) == "Password changed."
    await alice.post("/logout")
    page = await alice.post("/login", {"username": "alice", "password": PASSWORD}, status=403)
    assert "wrong username or password" in alert(page)
    await alice.login("alice", "new-password1")


async def test_access_token_is_shown_once_and_works(api: Api, alice: WebClient) -> None:
    before = api.tokens["alice"]
    for current in ("", "wrong-password"):  # a token acts as the account: the password is asked first
        page = await alice.post("/setting/access-token", {"current": current}, status=400)
        assert alert(page) == "The current password is wrong." and 'data-testid="access-token"' not in page
    assert (await api.ok("GET", "/api/user/self", token=before))["username"] == "alice"  # still the one
    page = await alice.post("/setting/access-token", {"current": PASSWORD})
    token = re.search(r'data-testid="access-token">([0-9a-f]{32})<', page)
    assert token and "shown only this once" in page
    assert (await api.ok("GET", "/api/user/self", token=token.group(1)))["username"] == "alice"
    assert token.group(1) not in await alice.get("/setting")
    resp = await alice.raw_post("/setting/access-token", {"current": PASSWORD}, csrf=False)
    assert resp.status == 403
    assert (await api.ok("GET", "/api/user/self", token=token.group(1)))["username"] == "alice"  # unchanged


async def test_invite_link_and_reward(api: Api, alice: WebClient) -> None:
    page = await alice.get("/setting")
    link = re.search(r'data-testid="invite-link">http://127\.0\.0\.1:\d+/register\?aff=(\w{4})<', page)
    assert link and "Share your invitation link." in page
    assert (await user_row(api, "alice"))["aff_code"] == link.group(1)
    await set_option(api, "QuotaForInviter", "500000")
    await set_option(api, "QuotaForInvitee", "250000")
    text = text_of(await alice.get("/setting"))
    assert "You get $1.00 for every account created with your link, and the new user gets $0.50." in text


async def test_profile_display_name(api: Api, alice: WebClient) -> None:
    page = await alice.post("/setting/profile", {"display_name": "Alice A."})
    assert flash(page) == "Profile saved." and 'value="Alice A."' in page
    page = await alice.post("/setting/profile", {"display_name": "d" * 21}, status=400)
    assert alert(page) == "Display name must be at most 20 characters"
    assert (await user_row(api, "alice"))["display_name"] == "Alice A."


async def test_delete_account(api: Api, alice: WebClient) -> None:
    page = await alice.post("/setting/delete", {"confirm": "bob", "current": PASSWORD}, status=400)
    assert "does not match" in alert(page)
    page = await alice.post("/setting/delete", {"confirm": "alice", "current": "wrong-password"}, status=400)
    assert alert(page) == "The current password is wrong."
    assert (await user_row(api, "alice"))["status"] == 1
    page = await alice.post("/setting/delete", {"confirm": "alice", "current": PASSWORD})
    assert flash(page) == "Your account has been deleted." and "/logout" not in page
    page = await alice.post("/login", {"username": "alice", "password": PASSWORD}, status=403)
    assert "wrong username or password" in alert(page)


async def test_root_cannot_delete_itself(api: Api, aiohttp_client: Any) -> None:
    web = WebClient(await aiohttp_client(api.client.server))
    await web.login("root", "123456")
    page = await web.post("/setting/delete", {"confirm": "root", "current": "123456"}, status=403)
    assert alert(page) == "the root account cannot be deleted"


# -- escaping -----------------------------------------------------------------------------------------


async def test_user_supplied_text_is_escaped_everywhere(api: Api, alice: WebClient) -> None:
    me = await user_row(api, "alice")
    await alice.post("/setting/profile", {"display_name": "<b>bold</b>"})
    await alice.post("/token/new", token_form(name=XSS, unlimited="on", never="on"))
    await api.services.store.write(logs_q.insert, LogRow(**{
        "user_id": me["id"], "username": "alice", "type": logs_q.TYPE_CONSUME, "created_at": int(time.time()),
        "model_name": "<script>m()</script>", "token_name": XSS, "content": "<svg onload=alert(2)>", "quota": 1}))
    pages = [await alice.get(p) for p in ("/dashboard", "/token", "/log", "/setting", "/token?q=" + XSS[:30])]
    pages.append(await alice.get("/log?model=" + XSS, status=200))
    pages.append(await alice.post("/topup", {"key": XSS}, status=404))
    pages.append(await alice.post("/token/new", token_form(name=XSS + XSS), status=400))
    for page in pages:
        assert "<img src=x" not in page and "<script>m()" not in page and "<svg onload" not in page
        assert "<b>bold</b>" not in page
    joined = "".join(pages)
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;" in joined and "&lt;b&gt;bold&lt;/b&gt;" in joined
    assert "&lt;script&gt;m()&lt;/script&gt;" in joined and "&lt;svg onload=alert(2)&gt;" in joined
