"""The interface in Simplified Chinese: complete, current, chosen by the browser or the header,
with localized dates and NXCloud's error explanations."""

import html
import os
import re
import shutil
import subprocess
from http import HTTPStatus
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.urls import reverse
from django.utils import translation

from groups.nxcloud import ERROR_EXPLANATIONS, PnsApiError
from groups.roles import GROUP_EDITORS, SUPPORT
from groups.services import sync_tenant
from groups.simulator import SimGroup
from tests.conftest import ACCESS_KEY, create_tenant, create_user

ROOT = Path(settings.BASE_DIR)
CATALOG = ROOT / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"
GROUP_A = "b8c2aaf940d534d3c9ed8b780757f94e"
CHINESE = {"HTTP_ACCEPT_LANGUAGE": "zh-CN,zh;q=0.9,en;q=0.5"}


@pytest.fixture
def synced(sim_tenant, account):
    assert sync_tenant(sim_tenant).status == "ok"
    account.groups[GROUP_A].phones.append("85291234567")
    assert sync_tenant(sim_tenant).status == "ok"  # and now there is history
    return sim_tenant


@pytest.fixture
def editor(client, synced):
    user = create_user("editor", roles=[SUPPORT, GROUP_EDITORS], tenants=[synced])
    client.force_login(user)
    return user


# --- the catalog ------------------------------------------------------------------------------


def test_every_string_of_the_catalog_has_a_chinese_translation():
    catalog = polib.pofile(str(CATALOG))
    assert len(catalog) > 300
    assert catalog.untranslated_entries() == []
    assert catalog.fuzzy_entries() == []
    assert catalog.metadata["Plural-Forms"] == "nplurals=1; plural=0;"


def test_the_compiled_catalog_is_the_catalog():
    source = {(e.msgid, e.msgid_plural): (e.msgstr, e.msgstr_plural) for e in
              polib.pofile(str(CATALOG)) if e.translated()}  # fmt: skip
    compiled = {(e.msgid, e.msgid_plural): (e.msgstr, e.msgstr_plural) for e in
                polib.mofile(str(CATALOG.with_suffix(".mo"))) if e.msgid}  # fmt: skip
    assert compiled == source, "run `make messages` and commit locale/"


def test_placeholders_survive_translation():
    for entry in polib.pofile(str(CATALOG)):
        wanted = sorted(re.findall(r"%\(\w+\)[sd]", entry.msgid_plural or entry.msgid))
        for text in [entry.msgstr, *entry.msgstr_plural.values()]:
            if text:
                assert sorted(re.findall(r"%\(\w+\)[sd]", text)) == wanted, entry.msgid


def test_the_catalog_holds_every_string_the_code_and_templates_mark(tmp_path):
    """makemessages over a copy of the project finds exactly the catalog's strings: nothing
    marked for translation is missing from it, and nothing in it is stale."""
    if shutil.which("xgettext") is None:
        if os.environ.get("PNS_REQUIRE_SERVICES"):
            pytest.fail("GNU gettext (xgettext) is not installed; .ci/run installs it")
        pytest.skip("GNU gettext (xgettext) is not installed")
    for part in ["groups", "pns_admin", "templates", "locale", "manage.py"]:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(source, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, tmp_path / part)
    env = {**os.environ, "DEBUG": "1", "DJANGO_SETTINGS_MODULE": "pns_admin.settings"}
    subprocess.run(  # noqa: S603 (a fixed command line)
        [os.sys.executable, "manage.py", "makemessages", "-l", "zh_Hans", "--no-location",
         "--no-obsolete"],
        cwd=tmp_path, env=env, check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    fresh = polib.pofile(str(tmp_path / "locale" / "zh_Hans" / "LC_MESSAGES" / "django.po"))
    committed = polib.pofile(str(CATALOG))
    assert {e.msgid for e in fresh} == {e.msgid for e in committed}, "run `make messages`"


# --- choosing the language --------------------------------------------------------------------


def test_english_is_the_default(client, editor):
    page = client.get("/").content.decode()
    assert '<html lang="en">' in page and "Overview" in page and "概览" not in page


def test_the_language_follows_the_browser(client, editor):
    page = client.get("/", **CHINESE).content.decode()
    assert '<html lang="zh-hans">' in page
    assert "<h1>概览</h1>" in page and "上次刷新" in page


def test_the_header_switches_the_language_and_it_sticks(client, editor):
    page = client.get("/").content.decode()
    assert 'name="language" value="zh-hans"' in page and "简体中文" in page
    response = client.post(reverse("set_language"), {"language": "zh-hans", "next": "/search/"})
    assert response.status_code == HTTPStatus.FOUND and response["Location"] == "/search/"
    page = client.get("/search/", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "<h1>搜索号码</h1>" in page
    assert 'name="language" value="en"' in page and ">English</button>" in page
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    assert "<h1>Overview</h1>" in client.get("/").content.decode()


def test_the_login_page_can_be_switched_before_logging_in(client):
    page = client.get(reverse("login"), **CHINESE).content.decode()
    assert '<h1 id="login-heading">登录</h1>' in page and "用户名" in page


# --- what is translated -----------------------------------------------------------------------

# What may stay in Latin letters on a Chinese page: names of things, and the data itself.
LATIN_ALLOWED = {
    "PNS", "Admin", "NXCloud", "CSV", "xlsx", "Excel", "groupId", "customerId", "requestId",
    "accessKey", "HK", "CN", "GB", "SG", "Sim", "groupA", "Ops", "Number", "Group", "A", "Remark",
    "with", "quotes", "editor", "ak", "test", "cus", "hello", "nothing", "matches", "this",
}  # fmt: skip
# Words, not pieces of groupIds (`b8c2aaf9…`); all-capital ones are codes and keys (`CSV`).
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])")
PRODUCT_NAMES = {"Google", "Microsoft", "Authenticator"}


def english_left_on(page: str) -> set[str]:
    """Latin words a person reads on the page (text and the attributes screen readers and
    tooltips show), less the allowed ones."""
    page = re.sub(r"<(script|style)\b.*?</\1>", " ", page, flags=re.S)
    attributes = re.findall(r'(?:aria-label|title|placeholder|alt)="([^"]*)"', page)
    text = re.sub(r"<[^>]+>", " ", page)
    words = set(LATIN_WORD.findall(html.unescape(" ".join([text, *attributes]))))
    words = {word for word in words if not word.isupper()}
    return words - LATIN_ALLOWED - PRODUCT_NAMES - {"English"}


@pytest.mark.parametrize(
    "url",
    [
        "/",
        "/t/sim/",
        "/t/sim/?q=nothing-matches-this",
        f"/t/sim/groups/{GROUP_A}/",
        "/t/sim/changes/",
        "/t/sim/syncs/",
        "/search/?q=%2B852+3575+3351%0A3351%0Ahello%0A99999999",
        "/accounts/password/",
        "/accounts/2fa/",
        "/accounts/2fa/setup/",
        f"/t/sim/groups/{GROUP_A}/numbers/",
        f"/t/sim/groups/{GROUP_A}/delete/",
        "/t/sim/groups/new/",
        "/t/no-such-tenant/",
    ],
)
def test_pages_in_chinese_have_no_english_left(client, editor, url):
    response = client.get(url, **CHINESE)
    assert response.status_code in (HTTPStatus.OK, HTTPStatus.NOT_FOUND)
    assert english_left_on(response.content.decode()) == set()


def test_a_confirmation_page_in_chinese(client, editor):
    response = client.post(
        reverse("group_numbers", args=["sim", GROUP_A]),
        {"operation": "add", "numbers": "+852 6123 4567"},
        **CHINESE,
    )
    page = response.content.decode()
    assert "将要发生的变更" in page and "要添加的号码" in page
    assert english_left_on(page) == set()


def test_form_errors_are_in_chinese(client, editor):
    page = client.post(
        reverse("group_numbers", args=["sim", GROUP_A]),
        {"operation": "add", "numbers": "12\n+852 1"},
        **CHINESE,
    ).content.decode()
    assert "“12”没有可识别的国家代码。" in page
    page = client.get(reverse("search"), {"q": "hello"}, **CHINESE).content.decode()
    assert "含有字母或号码中不会出现的字符" in page


def test_dates_and_counts_are_localized(client, editor):
    page = client.get("/t/sim/", **CHINESE).content.decode()
    assert re.search(r"0\xa0分钟前</time>从 NXCloud 更新", page)
    assert "3 个号码组" in page
    assert re.search(r'title="\d{4}年\d{1,2}月\d{1,2}日', page)  # the exact time, as in China


def test_nxcloud_error_explanations_are_translated(client, simulator):
    with translation.override("zh-hans"):
        error = PnsApiError(1003, "sign error", "r-1")
        assert "签名无效" in str(error) and "NXCloud 错误 1003" in str(error)
        chinese = [str(text) for text in ERROR_EXPLANATIONS.values()]
    with translation.override("en"):
        english = [str(text) for text in ERROR_EXPLANATIONS.values()]
        assert str(PnsApiError(1003, "sign error", "r-1")).startswith(
            "NXCloud error 1003 (NXCloud said: sign error): Invalid signature."
        )
    assert all(zh != en for zh, en in zip(chinese, english, strict=True))


def test_a_failed_refresh_is_explained_in_the_readers_language(db, client, simulator, account):
    tenant = create_tenant(
        "bad", secret="wrong-secret", access_key=ACCESS_KEY, api_url=simulator.url, name="Bad"
    )
    assert sync_tenant(tenant).status == "failed"  # stored, in English, by the refresh
    client.force_login(create_user("helper", roles=[SUPPORT], tenants=[tenant]))
    english = client.get("/t/bad/").content.decode()
    assert "NXCloud error 1003: Invalid signature." in english
    chinese = client.get("/t/bad/", **CHINESE).content.decode()
    assert "上次刷新失败" in chinese and "NXCloud 错误 1003：签名无效。" in chinese  # noqa: RUF001


def test_chinese_group_names_and_data_are_left_as_they_are(client, editor, account, synced):
    account.groups["cn"] = SimGroup("cn", "客服热线 Night", "", "", ["8613800138000"])
    sync_tenant(synced)
    page = client.get("/t/sim/", **CHINESE).content.decode()
    assert "客服热线 Night" in page


def test_the_admin_speaks_chinese_too(client, synced):
    client.force_login(create_user("root", superuser=True))
    page = client.get(reverse("admin:groups_tenant_change", args=[synced.pk]), **CHINESE)
    text = page.content.decode()
    for label in ["签名算法", "默认地区", "用于网址的短名称", "已设置密钥", "测试连接"]:
        assert label in text, label
    events = client.get(reverse("admin:groups_auditevent_changelist"), **CHINESE)
    assert "审计事件" in events.content.decode() and "导出 CSV" in events.content.decode()
