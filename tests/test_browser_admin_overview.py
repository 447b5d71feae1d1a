"""The admin overview in a real browser: the 30-day chart, its summary, sources, CSV download."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import Any

from leadapp.timeutil import utcnow
from tests.support.browser import Site, expect, no_horizontal_scroll, rows, sign_in
from tests.support.operator_data import add_spam, set_lead

HEADER = (
    "id,created_at,name,email,phone,ip_address,source,utm_source,utm_medium,utm_campaign,"
    "utm_term,utm_content,page_url,referrer,consent_given_at,consent_text,resubmissions,"
    "last_resubmitted_at,form,opt_in_status,opt_in_confirmed_at,fields"
)


def seed(target: Site, key: str) -> list[dict]:
    """Leads over the last days with sources and resubmissions, and some spam.

    Each at a minute past midnight UTC of its day, so even today's are in the past.
    """
    today = utcnow().date()
    leads = []
    plan = [(0, "newsletter"), (0, "newsletter"), (1, "google"), (3, "newsletter"), (3, None)]
    for n, (days_ago, source) in enumerate(plan, start=1):
        lead = target.add_lead(n, key)
        when = datetime.combine(today - timedelta(days=days_ago), time(0, n), tzinfo=UTC)
        set_lead(target.app, lead["id"], created_at=when, source=source)
        leads.append(lead)
    set_lead(target.app, leads[0]["id"], resubmissions=4)
    add_spam(target.app, today, "honeypot", 2)
    add_spam(target.app, today - timedelta(days=1), "challenge", 1)
    return leads


def open_seeded_admin(site: Site, open_page, **context_options: Any) -> tuple[Any, str, list[dict]]:
    """Seed the site (see seed) and open /admin, not signed in yet: the page, key and leads."""
    key = site.api_key()
    leads = seed(site, key)
    return open_page(site.url + "/admin", **context_options), key, leads


def test_overview_chart_has_one_bar_per_day_and_a_summary(
    site: Site,
    open_page,
) -> None:
    page, key, _ = open_seeded_admin(site, open_page)
    expect(page.locator("#overview-section")).to_be_hidden()
    sign_in(page, key)

    overview = page.locator("#overview-section")
    expect(overview).to_be_visible()
    chart = page.locator("#overview-chart svg")
    expect(chart).to_be_visible()
    expect(chart.locator("g.chart-day")).to_have_count(30)
    expect(chart.locator("rect.bar-leads")).to_have_count(30)
    box = chart.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 50
    # Today (last) has 2 leads + 2 spam, the tallest bar; bars of empty days are flat.
    today = chart.locator("g.chart-day").last
    assert today.get_attribute("data-date") == utcnow().date().isoformat()
    heights = [
        float(rect.get_attribute("height")) for rect in chart.locator("rect.bar-leads").all()
    ]
    assert heights[-1] == max(heights) > 0 and heights.count(0) == 27

    # What a screen reader gets instead of the picture.
    expect(chart).to_have_attribute("role", "img")
    summary = page.locator("#overview-chart-summary")
    expect(summary).to_contain_text("5 leads and 3 spam over the last 30 days")
    table_rows = page.locator("#overview-table-body tr")
    expect(table_rows).to_have_count(30)
    expect(table_rows.last.locator("th")).to_have_text(utcnow().date().isoformat())
    expect(table_rows.last.locator("td").nth(0)).to_have_text("2")
    expect(table_rows.last.locator("td").nth(1)).to_have_text("2")
    expect(page.locator("#overview-totals")).to_have_text("5 leads · 3 spam refused")

    sources = page.locator("#overview-sources li")
    expect(sources).to_have_count(3)
    expect(sources.nth(0)).to_contain_text("newsletter")
    expect(sources.nth(0)).to_contain_text("3 leads")
    expect(sources.nth(1)).to_contain_text("google")
    expect(sources.nth(2)).to_contain_text("(no source)")

    page.get_by_role("button", name="Forget key").click()
    expect(overview).to_be_hidden()


def test_the_list_shows_each_leads_source_and_resubmissions(
    site: Site,
    open_page,
) -> None:
    page, key, _ = open_seeded_admin(site, open_page)
    sign_in(page, key)
    expect(rows(page)).to_have_count(5)
    first = rows(page).filter(has_text="lead1@example.com")
    expect(first.locator("td[data-label='Resubmissions']")).to_have_text("4")
    expect(first.locator("td[data-label='Source']")).to_have_text("newsletter")
    last = rows(page).filter(has_text="lead5@example.com")
    expect(last.locator("td[data-label='Source']")).to_have_text("—")


def test_download_csv_saves_the_export(
    site: Site,
    open_page,
    tmp_path: Path,
) -> None:
    page, key, leads = open_seeded_admin(site, open_page)
    site.add_lead(50, key, name="=HYPERLINK(1)")
    sign_in(page, key)
    button = page.get_by_role("button", name="Download CSV")
    expect(button).to_be_visible()
    # By keyboard: focus the button and press Enter.
    button.focus()
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    download = info.value
    assert download.suggested_filename.startswith("leads-")
    assert download.suggested_filename.endswith(".csv")
    target = tmp_path / "saved.csv"
    download.save_as(target)
    text = target.read_bytes().decode("utf-8")
    assert text.split("\r\n", 1)[0] == HEADER
    exported = list(csv.DictReader(io.StringIO(text, newline="")))
    assert len(exported) == 6
    assert {row["id"] for row in exported} >= {lead["id"] for lead in leads}
    assert exported[-1]["name"] == "'=HYPERLINK(1)"
    expect(page.locator("#download-status")).to_contain_text("Downloaded leads-")
    # The key never left sessionStorage.
    assert page.evaluate("() => localStorage.length") == 0
    assert page.context.cookies() == []


def test_overview_fits_a_phone_screen(
    site: Site,
    open_page,
) -> None:
    phone_screen = {"viewport": {"width": 375, "height": 667}, "is_mobile": True}
    page, key, _ = open_seeded_admin(site, open_page, **phone_screen)
    set_lead(
        site.app,
        site.add_lead(60, key)["id"],
        source="an-unusually-long-campaign-source-name-without-any-spaces-at-all",
    )
    sign_in(page, key)
    expect(page.locator("#overview-chart g.chart-day")).to_have_count(30)
    expect(page.locator("#overview-sources li")).to_have_count(4)
    assert no_horizontal_scroll(page)
    box = page.locator("#overview-chart svg").bounding_box()
    assert box and 250 < box["width"] <= 375
    expect(page.get_by_role("button", name="Download CSV")).to_be_in_viewport()


def computed(locator: Any, *properties: str) -> dict[str, str]:
    """The element's computed values of these CSS properties."""
    return locator.evaluate(
        "(element, names) => Object.fromEntries("
        "names.map((name) => [name, getComputedStyle(element).getPropertyValue(name)]))",
        list(properties),
    )


def test_overview_is_styled_by_the_stylesheet(site: Site, open_page) -> None:
    """What the page loses when style.css breaks: bars in black, a legend run together."""
    page, key, _ = open_seeded_admin(site, open_page)
    sign_in(page, key)
    chart = page.locator("#overview-chart svg")
    expect(chart.locator("rect.bar-leads")).to_have_count(30)

    black = "rgb(0, 0, 0)"
    leads_fill = computed(chart.locator("rect.bar-leads").last, "fill")["fill"]
    spam_fill = computed(chart.locator("rect.bar-spam").last, "fill")["fill"]
    assert leads_fill == "rgb(29, 78, 216)"  # --accent
    assert spam_fill == "rgb(245, 158, 11)"
    assert black not in (leads_fill, spam_fill)

    legend = page.locator(".chart-legend")
    assert computed(legend, "display")["display"] == "flex"
    items = legend.locator(".legend-item")
    expect(items).to_have_count(2)
    first, second = (items.nth(n).bounding_box() for n in range(2))
    assert first and second
    # 0.75rem apart, on one line, neither overlapping nor touching.
    assert second["x"] - (first["x"] + first["width"]) >= 8
    assert abs(first["y"] - second["y"]) < 2
    for n, colour in enumerate(["rgb(29, 78, 216)", "rgb(245, 158, 11)"]):
        swatch = items.nth(n).locator(".legend-swatch")
        box = swatch.bounding_box()
        assert box and box["width"] >= 8 and box["height"] >= 8
        assert computed(swatch, "background-color")["background-color"] == colour

    overview = computed(page.locator("#overview-section"), "padding-top", "border-top-style")
    assert overview == {"padding-top": "20px", "border-top-style": "solid"}
    grid = computed(page.locator(".overview-grid"), "display")
    assert grid["display"] == "grid"
