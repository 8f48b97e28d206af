"""The console in a real Chromium (Playwright driving Debian's /usr/bin/chromium) against the
session's Kashi: sign-in per role, tenant isolation, a credit note and a payment through the forms,
CSRF refusal, and a screenshot of every page at 1280 px and 390 px (written under
``artifacts/screenshots/``, git-ignored, for a person to look at)."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import httpx
import pytest

from tests.e2e.console_scenario import seed
from tests.integration.billing_scenario import gpu_event, park

CHROMIUM = os.environ.get("KASHI_CHROMIUM", "/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
WIDTHS = (1280, 390)
NEW_PAGES = {
    "receivables": "/console/receivables",
    "fleet": "/console/fleet?period=2026-11",
    "fleet-by-node": "/console/fleet?period=2026-11&group_by=node",
    "breach-risk": "/console/breach-risk",
    "suppliers": "/console/suppliers?period=2026-11",
}
"""The pages of receivables, fleet utilisation, breach risk and suppliers: finance and operator
only, as their API routes."""
LATE_BUCKETS = ("1–30 days", "31–60 days", "61–90 days", "Over 90 days")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists() or not shutil.which(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"chromium is missing at {CHROMIUM}: .ci/run installs it (apt-get install chromium)")
        pytest.skip(f"no chromium at {CHROMIUM}")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture(scope="module")
def world(kashi):
    import uuid

    return seed(kashi, uuid.uuid4().hex[:6])


def signed_in(browser, kashi, key: str, width: int = 1280):
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.goto(f"{kashi.base_url}/console")
    assert "/console/login" in page.url
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(re.compile(r"/console$"))
    return context, page


def shoot(page, name: str, width: int) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}-{width}.png"
    page.screenshot(path=str(path), full_page=True)
    assert path.stat().st_size > 5000
    return path


def test_operator_sees_every_page_and_each_is_captured_at_both_widths(browser, kashi, world):
    pages = {
        "overview": "/console",
        "tenants": "/console/tenants",
        "tenant": f"/console/tenants/{world['tenant_a']}?period=2026-11",
        "contract": f"/console/contracts/{world['contract_a']}?effective_at=2027-01-01",
        "invoices": "/console/invoices",
        "invoice": f"/console/invoices/{world['invoice_a']}",
        "statement": f"/console/tenants/{world['tenant_a']}/statements/2026-11",
        "usage": "/console/usage?period=2026-11",
        "keys": "/console/keys",
        **NEW_PAGES,
    }
    for width in WIDTHS:
        context, page = signed_in(browser, kashi, world["keys"]["operator"], width)
        problems = []  # script errors and Content-Security-Policy violations show in the browser console
        page.on("console", lambda message, seen=problems: message.type == "error" and seen.append(message.text))
        for name, path in pages.items():
            answer = page.goto(kashi.base_url + path)
            assert answer.status == 200, (path, answer.status)
            assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
            assert page.locator(".alert-error").count() == 0, path
            shoot(page, f"operator-{name}", width)
        assert problems == []
        context.close()


def test_overview_and_tenant_pages_show_amounts_and_chinese_names_as_the_documents(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["operator"])
    page.goto(f"{kashi.base_url}/console/tenants?q=深度求索")
    row = page.locator("tbody tr")
    assert row.count() == 1 and "深度求索算力 DeepSeek" in row.inner_text()
    page.goto(f"{kashi.base_url}/console/invoices/{world['invoice_a']}")
    # 60 machines × 5,000 + 80 card-hours × 12.50 = 301,000.00; tax 6% = 18,060.00
    assert "319,060.00 CNY" in page.locator("main").inner_text()
    assert page.locator("td", has_text="300,000.00").count() == 1
    page.goto(f"{kashi.base_url}/console/contracts/{world['contract_a']}?effective_at=2027-01-01")
    # 24 months × 300,000 RMV (+ the H100 item commits nothing) → penalty 20% of 7,200,000
    quote = page.locator("#h-quote").locator("..").inner_text()
    assert "7,200,000.00 CNY" in quote and "1,440,000.00" in quote
    page.goto(f"{kashi.base_url}/console/invoices?period=2026-11")
    header = page.get_by_role("button", name="Sort by Total")
    header.focus()
    page.keyboard.press("Enter")  # keyboard reachable, not only clickable
    assert page.locator("th[aria-sort]").get_attribute("aria-sort") == "ascending"
    column = [float(t.split()[0].replace(",", "")) for t in page.locator("td[data-label=Total]").all_inner_texts()]
    assert column == sorted(column) and len(column) >= 2
    page.goto(f"{kashi.base_url}/console/usage?period=2026-11")
    unrated = page.locator("#unrated tbody tr")
    assert unrated.count() > 0 and "A800" in unrated.first.inner_text()
    context.close()


def test_finance_issues_a_credit_note_and_records_a_payment_through_the_forms(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["finance"])
    assert page.get_by_role("link", name="Keys").count() == 0
    invoice_url = f"{kashi.base_url}/console/invoices/{world['invoice_b']}"
    page.goto(invoice_url)
    page.get_by_label("Amount (CNY)").fill("1,000,000.00")
    page.get_by_label("Reason").fill("停机补偿")
    page.get_by_role("button", name="Issue credit note").click()
    error = page.locator("#credit-note .alert-error")
    assert "exceeds" in error.inner_text()  # the service's message, shown in the page
    page.get_by_label("Amount (CNY)").fill("100.00")
    page.get_by_label("Reason").fill("停机补偿 downtime")
    page.get_by_role("button", name="Issue credit note").click()
    page.wait_for_url(re.compile(r"done=credit-note"))
    assert re.search(r"Credit note KC-\d{4}-\d{6} issued", page.locator("[role=status]").inner_text())
    notes = page.locator("#h-notes").locator("..").inner_text()
    assert "停机补偿 downtime" in notes and "100.00 CNY" in notes
    shoot(page, "finance-invoice-credited", 1280)

    page.get_by_label("Amount", exact=True).fill("500.00")
    page.get_by_label("Bank reference").fill("招商银行-0001")
    page.get_by_role("button", name="Record payment").click()
    page.wait_for_url(re.compile(r"done=payment"))
    assert "Payment pay_" in page.locator("[role=status]").inner_text()
    with kashi.engine.connect() as conn:
        from billing.services import payments

        (balance,) = payments.balances(conn, world["tenant_b"])
    assert balance["paid"] == "500.00" and balance["credited"] == "100.00"
    page.goto(f"{kashi.base_url}/console/tenants/{world['tenant_b']}")
    assert f"paid {balance['paid']}" in page.locator("main").inner_text()
    context.close()


def test_tenant_sees_only_its_own_invoices_and_a_foreign_invoice_is_404(browser, kashi, world):
    for width in WIDTHS:
        context, page = signed_in(browser, kashi, world["keys"]["tenant"], width)
        nav = page.get_by_role("navigation", name="Main").inner_text()
        assert "Tenants" not in nav and "Keys" not in nav and "Statements" in nav
        shoot(page, "tenant-portal", width)
        page.goto(f"{kashi.base_url}/console/invoices")
        listed = page.locator("tbody tr")
        assert listed.count() == 2 and page.locator(f"a[href='/console/invoices/{world['invoice_a']}']").count()
        assert page.locator(f"a[href='/console/invoices/{world['invoice_b']}']").count() == 0
        shoot(page, "tenant-invoices", width)
        assert page.goto(f"{kashi.base_url}/console/invoices/{world['invoice_b']}").status == 404
        assert "not found" in page.locator(".alert-error").inner_text()
        assert page.goto(f"{kashi.base_url}/console/invoices/{world['invoice_b']}.pdf").status == 404
        assert page.goto(f"{kashi.base_url}/console/tenants/{world['tenant_b']}/statements/2026-11").status == 404
        assert page.goto(f"{kashi.base_url}/console/tenants").status == 403
        for path in (*NEW_PAGES.values(), "/console/receivables.csv", "/console/margin.csv"):
            assert page.goto(kashi.base_url + path).status == 403, path  # as the API answers a tenant key
        for label in ("Receivables", "Fleet", "Breach risk", "Suppliers"):
            assert label not in nav
        answer = page.goto(f"{kashi.base_url}/console/invoices/{world['invoice_a']}")
        assert answer.status == 200 and page.locator("form[action*='credit-notes']").count() == 0
        shoot(page, "tenant-invoice", width)
        pdf = page.request.get(f"{kashi.base_url}/console/invoices/{world['invoice_a']}.pdf")
        assert pdf.status == 200 and pdf.body().startswith(b"%PDF")
        page.goto(f"{kashi.base_url}/console/statements")
        page.get_by_role("link", name="2026-11", exact=True).click()
        assert "对账单 Statement 2026-11" in page.locator("h1").inner_text()
        shoot(page, "tenant-statement", width)
        page.goto(f"{kashi.base_url}/console/usage?period=2026-11")
        shoot(page, "tenant-usage", width)
        context.close()


def test_agent_keys_and_unknown_keys_are_refused_at_sign_in(browser, kashi, world):
    context = browser.new_context()
    page = context.new_page()
    for key, reason in ((world["keys"]["agent"], "agent keys only send events"), ("ks_nope_nope", "unknown")):
        page.goto(f"{kashi.base_url}/console/login")
        page.get_by_label("API key").fill(key)
        page.get_by_role("button", name="Sign in").click()
        assert reason in page.locator(".alert-error").inner_text()
        assert "/console/login" in page.url
    assert not [c for c in context.cookies() if c["name"] == "kashi_session"]
    shoot(page, "signin-refused", 1280)
    context.close()


def test_session_cookie_is_httponly_strict_and_a_post_without_its_csrf_token_is_refused(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["operator"])
    (cookie,) = [c for c in context.cookies() if c["name"] == "kashi_session"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict" and cookie["expires"] > 0
    assert world["keys"]["operator"] not in cookie["value"]
    url = f"{kashi.base_url}/console/invoices/{world['invoice_a']}/credit-notes"
    for form in ({"amount": "1.00", "reason": "forged"}, {"amount": "1.00", "reason": "forged", "csrf_token": "x"}):
        refused = page.request.post(url, form=form)
        assert refused.status == 403 and "security token" in refused.text()
    with httpx.Client(base_url=kashi.base_url) as anonymous:
        assert anonymous.post(url, data={"amount": "1.00", "reason": "x"}).status_code == 303  # to sign-in
    page.goto(f"{kashi.base_url}/console/invoices/{world['invoice_a']}")
    assert "forged" not in page.locator("main").inner_text()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(r"/console/login"))
    assert page.goto(f"{kashi.base_url}/console/keys").url.startswith(f"{kashi.base_url}/console/login")
    context.close()


def test_operator_creates_a_key_shown_once_and_revokes_it(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["operator"])
    page.goto(f"{kashi.base_url}/console/keys")
    page.get_by_label("Role", exact=True).select_option("tenant")
    page.get_by_label("Tenant (tenant keys)").fill(world["tenant_a"])
    page.get_by_role("button", name="Create key").click()
    key = page.locator(".secret").inner_text().strip()
    assert key.startswith("ks_")
    key_id = key.split("_")[1]
    shoot(page, "operator-key-created", 1280)
    # the session's other tests made many keys: open the page of the listing (sorted by id) that starts at this one
    page.goto(f"{kashi.base_url}/console/keys?cursor={key_id[:-1]}")
    assert key not in page.content()  # shown once
    page.get_by_role("button", name=f"Revoke key {key_id}").click()
    assert f"Key {key_id} revoked" in page.locator("[role=status]").inner_text()
    assert httpx.get(f"{kashi.base_url}/v1/invoices", headers={"Authorization": f"Bearer {key}"}).status_code == 401
    context.close()


def test_finance_sees_each_new_page_and_each_is_captured_at_both_widths(browser, kashi, world):
    for width in WIDTHS:
        context, page = signed_in(browser, kashi, world["keys"]["finance"], width)
        nav = page.get_by_role("navigation", name="Main").inner_text()
        assert all(label in nav for label in ("Receivables", "Fleet", "Breach risk", "Suppliers"))
        for name, path in NEW_PAGES.items():
            answer = page.goto(kashi.base_url + path)
            assert answer.status == 200, (path, answer.status)
            assert page.locator(".alert-error").count() == 0, path
            assert page.evaluate("document.documentElement.scrollWidth") <= width, (path, "overflows")
            shoot(page, f"finance-{name}", width)
        context.close()


def test_receivables_page_ages_the_overdue_invoice_and_its_csv_is_the_apis(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["finance"])
    page.goto(f"{kashi.base_url}/console/receivables")
    row = page.locator("tbody tr", has_text=f"深度求索算力 DeepSeek {world['tenant_a'][2:-2]}")
    # September: 60 machines × 5,000 = 300,000.00 + 6% tax = 318,000.00, due 2026-11-01: past due;
    # November: 319,060.00, issued today, not yet due
    late = [row.locator(f"td[data-label='{label}']").inner_text() for label in LATE_BUCKETS]
    assert sorted(late) == ["0.00", "0.00", "0.00", "318,000.00"]
    assert row.locator("td[data-label='Not yet due']").inner_text() == "319,060.00"
    assert row.locator("td[data-label='Total due']").inner_text() == "637,060.00 CNY"
    overdue = page.locator("#overdue tbody tr").filter(
        has=page.locator(f"a[href='/console/invoices/{world['overdue_a']}']")
    )
    following = page.locator("#overdue a[rel=next]")
    while not overdue.count() and following.count():  # the session's other tests' overdue invoices come first
        with page.expect_navigation():
            following.click()
    assert "318,000.00 CNY" in overdue.locator("td[data-label='Still due']").inner_text()
    page.locator(f"#overdue a[href='/console/invoices/{world['overdue_a']}']").click()
    assert "overdue" in page.locator("h1").inner_text()
    with page.expect_download() as download:
        page.goto(f"{kashi.base_url}/console/receivables")
        page.get_by_role("link", name="Download CSV").click()
    console_csv = Path(download.value.path()).read_bytes()
    api = httpx.get(
        f"{kashi.base_url}/v1/reports/receivables",
        params={"format": "csv", "as_of": download.value.suggested_filename[12:22]},
        headers={"Authorization": f"Bearer {world['keys']['finance']}"},
    )
    assert console_csv == api.content and console_csv.startswith(b"\xef\xbb\xbf")
    context.close()


def test_fleet_page_charts_the_months_card_hours_with_the_numbers_one_click_away(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["operator"])
    page.goto(f"{kashi.base_url}/console/fleet?period=2026-11&group_by=node")
    assert page.locator("figure.chart svg rect").count() > 0
    numbers = page.locator("details.numbers")
    page.get_by_text("The numbers behind this chart").click()
    assert numbers.get_attribute("open") is not None
    # four cards of the supplier's model idle the whole month on their own node: 4 × 720 card-hours
    node = numbers.locator("tbody tr", has_text=f"{world['model'][9:]}-n2")
    assert node.locator("td[data-label=Idle]").inner_text() == "2,880.0"
    assert node.locator("td[data-label='Idle value (CNY)']").inner_text() == "5,184.00"  # 2,880 × 1.80
    page.goto(f"{kashi.base_url}/console/fleet?period=2026-11&group_by=tenant")
    assert page.locator("details.numbers tbody tr", has_text=world["tenant_a"]).count() == 1
    down = page.locator("#down-now tbody tr", has_text=f"{world['model'][9:]}-g4")
    assert down.count() == 1 and "XID 79" in down.inner_text()
    context.close()


def test_breach_risk_ranks_the_contract_and_links_its_termination_quote(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["finance"])
    page.goto(f"{kashi.base_url}/console/breach-risk?as_of=2026-12-15&only=at_risk")
    row = page.locator("tbody tr", has_text=world["contract_a"])
    assert "at risk" in row.inner_text()
    assert row.locator("td[data-label=Drop]").inner_text() == "30.0%"
    api = httpx.get(
        f"{kashi.base_url}/v1/reports/breach-risk",
        params={"as_of": "2026-12-15"},
        headers={"Authorization": f"Bearer {world['keys']['finance']}"},
    ).json()
    (mine,) = [r for r in api["items"] if r["contract_id"] == world["contract_a"]]
    from kashi.console.format import grouped

    assert row.locator("td[data-label='Saving if broken']").inner_text() == grouped(mine["saving_if_broken"])
    assert row.locator("td[data-label=Penalty]").inner_text() == grouped(mine["penalty"])
    row.get_by_role("link", name="termination quote").click()
    quote = page.locator("#h-quote").locator("..").inner_text()
    assert grouped(mine["penalty"]) in quote
    context.close()


def test_suppliers_page_shows_the_margin_of_the_resold_machines_and_the_suppliers_bill(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["operator"])
    page.goto(f"{kashi.base_url}/console/suppliers?period=2026-11")
    row = page.locator("tbody tr", has_text=world["payable"])
    # bought 60 × 4,000 = 240,000.00, resold at 60 × 5,000 = 300,000.00: margin 60,000.00 (20%)
    assert "240,000.00 CNY" in row.locator("td[data-label=Cost]").inner_text()
    assert row.locator("td[data-label=Revenue]").inner_text() == "300,000.00"
    assert row.locator("td[data-label=Margin]").inner_text() == "60,000.00"
    assert row.locator("td[data-label='Margin rate']").inner_text() == "20.0%"
    bill = page.locator("tbody tr", has_text=f"杭州智算中心 {world['supplier'][4:]}").filter(has_text="KP-")
    assert "254,400.00 CNY" in bill.inner_text()  # 240,000.00 + 6% tax
    row.get_by_role("link", name=world["payable"]).click()
    assert "Supplier" in page.locator("main").inner_text() and page.locator(".alert-error").count() == 0
    context.close()


def test_overview_cards_link_due_overdue_risk_and_idle_cards_to_their_pages(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["finance"])
    watch = page.locator("#h-watch").locator("..")
    for label in ("Due (receivables)", "Overdue", "Contracts at risk", "Idle cards"):
        assert label in watch.inner_text()
    assert page.locator("#f-risk").locator("..").locator(f"a[href='/console/contracts/{world['contract_a']}']").count()
    watch.get_by_role("link", name="Overdue invoices").click()
    page.wait_for_url(re.compile(r"/console/receivables#overdue"))
    page.go_back()
    watch.get_by_role("link", name="Fleet").click()
    page.wait_for_url(re.compile(r"/console/fleet"))
    context.close()


def test_a_payment_recorded_from_an_invoice_pays_that_invoice_and_its_status_changes(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["finance"])
    page.goto(f"{kashi.base_url}/console/invoices/{world['invoice_a']}")
    assert "open" in page.locator("h1 .chip").inner_text()
    page.get_by_label("Amount", exact=True).fill("1,000.00")
    page.get_by_label("Bank reference").fill(f"招商银行-{world['tenant_a']}")
    page.get_by_role("button", name="Record payment").click()
    page.wait_for_url(re.compile(r"done=payment"))
    assert "partially paid" in page.locator("h1 .chip").inner_text()
    assert "1,000.00 CNY" in page.locator("dl.totals").inner_text()
    payment_id = re.search(r"number=(pay_[0-9a-f]+)", page.url).group(1)
    paid = httpx.get(
        f"{kashi.base_url}/v1/payments/{payment_id}", headers={"Authorization": f"Bearer {world['keys']['finance']}"}
    ).json()
    # without invoice_id it would have paid the older, overdue September invoice first
    assert [a["invoice_id"] for a in paid["allocations"]] == [world["invoice_a"]]
    page.goto(f"{kashi.base_url}/console/invoices/{world['overdue_a']}")
    assert "overdue" in page.locator("h1 .chip").inner_text()
    context.close()


def test_the_invoice_status_filter_holds_across_pages(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["operator"])
    page.goto(f"{kashi.base_url}/console/invoices?status=overdue")
    statuses = page.locator("td[data-label=Status]").all_inner_texts()
    assert statuses and set(statuses) == {"overdue"}
    following = page.get_by_role("link", name="Next ›")
    if following.count():
        assert "status=overdue" in following.get_attribute("href")
        following.click()
        assert set(page.locator("td[data-label=Status]").all_inner_texts()) <= {"overdue"}
    context.close()


def test_invoice_totals_at_390_px_are_labelled_rows(browser, kashi, world):
    context, page = signed_in(browser, kashi, world["keys"]["finance"], 390)
    page.goto(f"{kashi.base_url}/console/invoices/{world['invoice_a']}")
    totals = page.locator("dl.totals")
    labels = totals.locator("dt").all_inner_texts()
    assert labels[:3] == ["Subtotal", "Tax", "Total"]
    assert totals.locator("dd").all_inner_texts()[:3] == ["301,000.00 CNY", "18,060.00 CNY", "319,060.00 CNY"]
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shoot(page, "finance-invoice-totals", 390)
    page.goto(f"{kashi.base_url}/console/tenants/{world['tenant_a']}")
    profile = page.locator("#h-profile").locator("..").inner_text()
    assert "杭州深度求索人工智能基础技术研究有限公司" in profile and "91330105MA2KXXXX1X" in profile
    assert "finance@deepseek.example" in profile and "30 days" in profile
    shoot(page, "finance-tenant-profile", 390)
    context.close()


def test_late_usage_waits_on_the_usage_page_and_a_batch_receipt_is_one_lookup_away(browser, kashi, world):
    uid = world["tenant_a"][2:-2]
    late = {
        "specversion": "1.0",
        "id": f"{uid}-late-1",
        "source": f"node/{uid}",
        "type": "gpu.usage",
        "subject": world["tenant_a"],
        "time": "2026-11-20T06:00:00+08:00",
        "data": {
            "node": f"{uid}-n1",
            "gpu": f"{uid}-g9",
            "gpu_model": "H100-SXM",
            "start": "2026-11-20T02:00:00+08:00",
            "end": "2026-11-20T06:00:00+08:00",
        },
    }
    agent = {"Authorization": f"Bearer {kashi.key('agent', source=f'node/{uid}')}"}
    sent = httpx.post(f"{kashi.base_url}/v1/events", json=[late], headers=agent, timeout=60)
    assert sent.status_code == 202, sent.text
    kashi.join()
    context, page = signed_in(browser, kashi, world["keys"]["operator"])
    page.goto(f"{kashi.base_url}/console/usage?tenant_id={world['tenant_a']}")
    waiting = page.locator("#late-waiting tbody tr", has_text="2026-11")
    assert waiting.count() == 1 and "4.0" in waiting.locator("td[data-label=Card-hours]").inner_text()
    page.get_by_label("Batch id").fill(sent.json()["batch_id"])
    page.get_by_role("button", name="Look up").click()
    receipt = page.locator("#receipt").inner_text()
    assert "recorded" in receipt and "1 new, 0 duplicates" in receipt
    shoot(page, "operator-usage-late", 1280)
    page.goto(f"{kashi.base_url}/console/usage?batch_id=no-such-batch")
    assert "batch no-such-batch not found" in page.locator(".alert-error").inner_text()
    context.close()
    context, page = signed_in(browser, kashi, world["keys"]["tenant"], 390)
    page.goto(f"{kashi.base_url}/console/usage")
    assert page.locator("#late-waiting tbody tr", has_text="2026-11").count() == 1
    assert page.get_by_label("Batch id").count() == 0  # receipts are the operator's (and the sender's)
    shoot(page, "tenant-usage-late", 390)
    context.close()


def test_an_operator_requeues_a_parked_batch_from_the_usage_page(browser, kashi, world):
    uid = world["tenant_a"][2:-2] + "-rq"
    event = gpu_event(uid, 1, world["tenant_a"], "2026-11-21T00:00:00+08:00", "2026-11-21T01:00:00+08:00")
    batch_id = park(kashi, uid, world["tenant_a"], [event])
    context, page = signed_in(browser, kashi, world["keys"]["operator"])
    page.goto(f"{kashi.base_url}/console/usage")
    page.get_by_role("form", name=f"Requeue batch {batch_id}").get_by_role("button", name="Requeue").click()
    assert batch_id in page.locator(".alert-ok").inner_text()
    kashi.join()
    page.goto(f"{kashi.base_url}/console/usage?batch_id={batch_id}")
    assert "recorded" in page.locator("#receipt").inner_text()
    assert page.get_by_role("form", name=f"Requeue batch {batch_id}").count() == 0
    shoot(page, "operator-usage-requeued", 1280)
    context.close()
