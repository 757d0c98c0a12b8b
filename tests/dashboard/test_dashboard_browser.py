"""The dashboard in a real browser: Debian's Chromium, headless, driven by Playwright.

Against a real ``kakehashi serve`` process with the demo project: log in, start a run and
watch its progress bar until it finishes, read the summary, record a review outcome,
filter and export the support list (and find the export in the audit log), filter the
audit log; on every page no console error and every control reachable with Tab, in
document order. Screenshots of each page go to test-artifacts/dashboard/ (git-ignored).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from dashboard_testkit import LiveDashboard
from demo_project import DemoProject

FOCUSABLE = (
    "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), "
    "select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])"
)


class Watched:
    """A page whose console errors and uncaught exceptions are collected."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.errors: list[str] = []
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda exc: self.errors.append(str(exc)))

    def clean(self, where: str) -> None:
        errors, self.errors = self.errors, []
        assert not errors, f"{where}: console errors {errors}"


@pytest.fixture(scope="module")
def tab(browser: Any, dashboard: LiveDashboard) -> Iterator[Watched]:
    context = browser.new_context(
        base_url=dashboard.url, locale="ja-JP", viewport={"width": 1280, "height": 900},
        accept_downloads=True,
    )  # fmt: skip
    context.set_default_timeout(20_000)
    try:
        yield Watched(context.new_page())
    finally:
        context.close()


def shot(tab: Watched, artifacts: Path, name: str) -> None:
    tab.page.screenshot(path=str(artifacts / f"{name}.png"), full_page=True)


def tab_through(tab: Watched, where: str) -> None:
    """Tab from the top of the page: every focusable control is reached, in DOM order."""
    page = tab.page
    expected = page.evaluate(
        """(sel) => {
            const els = [...document.querySelectorAll(sel)].filter(e => {
                const r = e.getBoundingClientRect();
                return getComputedStyle(e).visibility !== 'hidden' &&
                       (r.width > 0 || r.height > 0 || e.classList.contains('skip'));
            });
            els.forEach((e, i) => e.setAttribute('data-tab', String(i)));
            return els.length;
        }""",
        FOCUSABLE,
    )
    assert expected > 0
    # start from the top: focus a non-tabbable marker placed before everything else
    page.evaluate(
        """() => {
            const start = document.createElement('span');
            start.tabIndex = -1;
            document.body.prepend(start);
            start.focus();
        }"""
    )
    reached: list[str] = []
    for _ in range(expected + 10):
        page.keyboard.press("Tab")
        mark = page.evaluate(
            "document.activeElement ? document.activeElement.getAttribute('data-tab') : null"
        )
        if mark is None:
            if reached:
                break
            continue
        if reached and mark == reached[0]:
            break
        if not reached or mark != reached[-1]:
            reached.append(mark)
    # radio buttons of one group are one tab stop (arrow keys move within the group)
    radios = page.evaluate(
        """() => {
            const seen = new Set(); const skip = [];
            document.querySelectorAll('input[type=radio][data-tab]').forEach(r => {
                const key = [...document.forms].indexOf(r.form) + '/' + r.name;
                if (seen.has(key)) skip.push(r.getAttribute('data-tab'));
                else seen.add(key);
            });
            return skip;
        }"""
    )
    wanted = [str(i) for i in range(expected) if str(i) not in set(radios)]
    assert reached[: len(wanted)] == wanted, f"{where}: Tab order {reached} != {wanted}"


def test_login_page(tab: Watched, artifacts: Path, demo: DemoProject) -> None:
    page = tab.page
    page.goto("/")
    assert page.url.endswith("/login")
    assert page.locator("html").get_attribute("lang") == "ja"
    shot(tab, artifacts, "0-login")
    tab_through(tab, "login")
    page.fill("#credential", "wrong")
    page.fill("#passphrase", demo.passphrase)
    page.click("button[type=submit]")
    assert "認証情報が正しくありません" in page.inner_text("main")
    tab.errors = [e for e in tab.errors if "401" not in e]  # the refused POST itself
    page.fill("#credential", demo.credential)
    page.fill("#passphrase", demo.passphrase)
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    tab.clean("login")


def test_overview(tab: Watched, artifacts: Path, demo: DemoProject) -> None:
    page = tab.page
    page.goto("/")
    text = page.inner_text("main")
    assert "プロジェクトの概要" in text
    for body in demo.bodies:
        assert page.locator("table").first.get_by_role("rowheader", name=body).count() == 1
    assert "この端末の秘密鍵と一致" in text  # the key fingerprint check
    assert "全機関のアップロードで一致" in text  # every body's upload used the same secret
    assert "第 1 版" in text  # catalogue version
    assert "残り" in text  # credentials' expiry
    shot(tab, artifacts, "1-overview")
    tab_through(tab, "overview")
    tab.clean("overview")


def test_start_a_run_and_watch_it_finish(tab: Watched, artifacts: Path) -> None:
    page = tab.page
    page.goto("/runs")
    assert "まだ照合はありません" in page.inner_text("main")
    tab_through(tab, "runs (empty)")
    page.click("#start-run")
    page.wait_for_url("**/runs")
    assert "照合を開始しました" in page.inner_text("main")
    # the progress bar polls until the run is done, then the page reloads with the history
    page.wait_for_selector("td >> text=完了", timeout=180_000)
    assert "実行中の照合はありません" in page.inner_text("#progress")
    shot(tab, artifacts, "2-runs")
    tab_through(tab, "runs")
    tab.clean("runs")


def test_summary(tab: Watched, artifacts: Path) -> None:
    page = tab.page
    page.goto("/summary")
    text = page.inner_text("main")
    assert "記録のある機関の数ごとのグループ数" in text
    assert page.locator("svg.chart").count() == 3
    assert "<10" in text  # small cells are suppressed
    shot(tab, artifacts, "3-summary")
    tab_through(tab, "summary")
    tab.clean("summary")


def test_cancel_button(tab: Watched) -> None:
    """Start a second run and press its cancel button: it is cancelled, or (when the run
    was quicker than the click) the page says in plain words that it had already ended."""
    page = tab.page
    page.goto("/runs")
    page.click("#start-run")
    page.wait_for_url("**/runs")
    cancel = page.get_by_role("button", name="取り消す")
    if cancel.count():
        cancel.first.click()
        page.wait_for_url("**/runs")
        text = page.inner_text("main")
        assert "取り消しを依頼しました" in text or "この照合はすでに終わっています" in text
    page.wait_for_selector("#progress >> text=実行中の照合はありません", timeout=180_000)
    statuses = page.locator("table >> nth=1").locator("tbody tr td:nth-child(4)").all_inner_texts()
    assert statuses[0] in ("取り消し", "完了") and statuses[-1] == "完了"
    tab.clean("cancel")


def test_record_a_review_outcome(tab: Watched, artifacts: Path) -> None:
    page = tab.page
    page.goto("/review")
    groups = page.locator("section.group")
    before = groups.count()
    assert before > 0, "the demo has groups flagged for review"
    shot(tab, artifacts, "4-review")
    tab_through(tab, "review")
    first = groups.first
    token = first.locator("input[name=token]").get_attribute("value")
    first.get_by_label("確認できず").check()
    first.get_by_role("button", name="記録する").click()
    page.wait_for_url("**/review")
    assert "「確認できず」を記録しました" in page.inner_text("main")
    assert page.locator(f"section.group input[value='{token}']").count() == 0
    assert page.locator("section.group").count() == before - 1
    assert token[:8] in page.inner_text("table >> nth=-2")  # now under 記録済み
    shot(tab, artifacts, "4-review-recorded")
    tab.clean("review")


def test_filter_and_export_the_support_list(tab: Watched, artifacts: Path) -> None:
    page = tab.page
    page.goto("/support")
    text = page.inner_text("main")
    assert "人が候補に挙がりました" in text
    rows = page.locator("table.support tbody tr")
    total = rows.count()
    shot(tab, artifacts, "5-support")
    tab_through(tab, "support")
    page.select_option("#f-age", "3〜5歳")
    page.select_option("#f-signal", "kenshin_mijushin")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/support?**")
    assert "age=" in page.url and "signal=kenshin_mijushin" in page.url
    filtered = page.locator("table.support tbody tr")
    assert 0 < filtered.count() <= total
    for why in filtered.locator("td:nth-child(3)").all_inner_texts():
        assert "健診" in why  # each row says why it is listed
    shot(tab, artifacts, "5-support-filtered")
    with page.expect_download() as info:
        page.click("#export")
    data = Path(info.value.path()).read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    table = list(csv.reader(io.StringIO(data.decode("utf-8-sig"))))
    assert table[0][0] == "トークン" and len(table) - 1 == filtered.count()
    tab.clean("support")


def test_audit_log_shows_the_export_and_filters(tab: Watched, artifacts: Path) -> None:
    page = tab.page
    page.goto("/audit")
    assert "改ざんは見つかりませんでした" in page.inner_text("section.chain")
    shot(tab, artifacts, "6-audit")
    tab_through(tab, "audit")
    page.select_option("#a-action", "support_list.made")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/audit?**")
    cells = page.locator("table.audit tbody td:nth-child(4)").all_inner_texts()
    assert cells and set(cells) == {"支援候補リストの作成・書き出し"}
    detail = page.inner_text("table.audit tbody")
    assert "listed=" in detail and "rules_sha256=" in detail
    page.select_option("#a-action", "review.outcome")
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**action=review.outcome**")
    assert set(page.locator("table.audit tbody td:nth-child(4)").all_inner_texts()) == {
        "確認結果の記録"
    }
    shot(tab, artifacts, "6-audit-filtered")
    tab.clean("audit")


def test_logout(tab: Watched) -> None:
    page = tab.page
    page.goto("/")
    page.get_by_role("button", name="ログアウト").click()
    page.wait_for_url("**/login")
    page.goto("/audit")
    assert page.url.endswith("/login")
    tab.clean("logout")
