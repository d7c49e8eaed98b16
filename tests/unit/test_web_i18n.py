"""The web's catalogues: the same keys and placeholders in English and Chinese, every key the pages use present,
and the services' messages translated."""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path

import pytest

from oneapi.web import i18n

WEB = Path(str(resources.files("oneapi.web")))
USED = re.compile(r"""\bt\(\s*["']([a-z_0-9.]+)["']""")
FLASH_OR_FORM = re.compile(r"""["']((?:flash|error|err)\.[a-z_0-9]+)["']""")
DYNAMIC = {"token.status_": range(1, 5), "log.type_": range(1, 6)}  # t("token.status_" ~ n)


def used_keys() -> set[str]:
    keys: set[str] = set()
    for path in [*WEB.glob("templates/*.html"), *WEB.glob("*.py"), *WEB.glob("pages/*.py")]:
        text = path.read_text(encoding="utf-8")
        keys |= set(USED.findall(text)) | set(FLASH_OR_FORM.findall(text))
    for prefix, numbers in DYNAMIC.items():
        keys.discard(prefix)
        keys |= {f"{prefix}{n}" for n in numbers}
    # keys have a section; a bare word is a docstring's example, a ".html" a template's name, flash.error a prefix
    return {k for k in keys if "." in k.strip(".") and not k.endswith(".html") and k != "flash.error"}


def test_both_languages_have_the_same_keys() -> None:
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh")
    assert sorted(set(en) - set(zh)) == [] and sorted(set(zh) - set(en)) == []


def test_every_message_is_translated_with_the_same_placeholders() -> None:
    en, zh = i18n.catalogue("en"), i18n.catalogue("zh")
    for key in en:
        assert en[key].strip() and zh[key].strip(), key
        assert i18n.placeholders(en[key]) == i18n.placeholders(zh[key]), key
        if not key.startswith("err.") and re.search(r"[A-Za-z]{4,}", zh[key]):
            # Chinese text may quote product names and codes, not English sentences
            assert re.search(r"[\u3400-\u9fff]", zh[key]) or key.startswith("footer.") or key == "common.optional", \
                (key, zh[key])


def test_every_key_the_pages_use_exists() -> None:
    keys = used_keys()
    assert len(keys) > 150
    missing = sorted(k for k in keys if k not in i18n.catalogue("en"))
    assert missing == []


def test_a_missing_key_fails_loudly() -> None:
    with pytest.raises(KeyError):
        i18n.Translator("en")("no.such.key")


@pytest.mark.parametrize(("cookie", "header", "expected"), [
    (None, None, "en"),
    (None, "zh-CN,zh;q=0.9,en;q=0.8", "zh"),
    (None, "en-US,en;q=0.9,zh;q=0.8", "en"),
    (None, "fr-FR,zh-TW;q=0.5", "zh"),
    (None, "fr, de", "en"),
    (None, "en;q=0.1, zh;q=0.9", "zh"),
    (None, "zh;q=0, en", "en"),
    (None, "zh;q=abc", "en"),
    (None, ";;;,,,", "en"),
    ("zh", "en", "zh"),
    ("en", "zh", "en"),
    ("xx", "zh", "zh"),
])
def test_negotiation(cookie: str | None, header: str | None, expected: str) -> None:
    assert i18n.negotiate(cookie, header) == expected


@pytest.mark.parametrize(("message", "en", "zh"), [
    ("用户名或密码错误，或用户已被封禁 (wrong username or password, or user banned)",
     "wrong username or password, or user banned", "用户名或密码错误，或用户已被封禁"),
    ("不能删除超级管理员账户 (the root account cannot be deleted)", "the root account cannot be deleted",
     "不能删除超级管理员账户"),
    ("name must be at most 30 characters", "Name must be at most 30 characters", "名称最多 30 个字符"),
    ("username is required", "Username is required", "请填写用户名"),
    ("password must be 8 to 20 characters", "password must be 8 to 20 characters", "密码长度必须为 8 到 20 个字符"),
    ("username 'bob' is already taken", "username 'bob' is already taken", "用户名 'bob' 已被占用"),
    ("remain_quota must be an integer >= 0", "Quota must be an integer >= 0", "额度必须是不小于 0 的整数"),
    ("something nobody translated", "something nobody translated", "something nobody translated"),
])
def test_service_messages_are_translated(message: str, en: str, zh: str) -> None:
    assert i18n.Translator("en").error(message) == en
    assert i18n.Translator("zh").error(message) == zh
