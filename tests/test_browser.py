"""The web pages in a real browser (Debian's Chromium through Playwright) against waitress."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

from tests.support.browser import (
    Site,
    expect,
    fill_form,
    no_horizontal_scroll,
    rows,
    sign_in,
)
from tests.support.builders import e164_for, lead_payload, phone_for

# The lead form -------------------------------------------------------------------------


def test_valid_lead_is_confirmed_with_what_was_stored(site: Site, open_page) -> None:
    page = open_page(site.url + "/")
    # `/` is the default form's page: its title is the form's (the slug until one is set).
    expect(page).to_have_title("default · LeadApp")
    expect(page.get_by_role("heading", level=1)).to_have_text("default")
    fill_form(page, "  Ada Lovelace ", "Ada@Example.COM", phone_for(7))

    # Hold the request to see the busy state, then let it through.
    held: list[Any] = []
    page.route("**/leads", lambda route: held.append(route))
    page.get_by_role("button", name="Send my details").click()
    button = page.locator("#submit")
    expect(button).to_be_disabled()
    expect(button).to_have_text("Sending…")
    expect(page.locator("#lead-form")).to_have_attribute("aria-busy", "true")
    assert len(held) == 1
    request = held[0].request
    assert request.method == "POST"
    assert request.header_value("content-type") == "application/json"
    assert request.post_data_json == {
        "name": "  Ada Lovelace ",
        "email": "Ada@Example.COM",
        "phone": phone_for(7),
        "attribution": {"page_url": site.url + "/"},
    }
    held[0].continue_()

    success = page.locator("#lead-success")
    expect(success).to_be_visible()
    expect(success).to_be_focused()
    expect(page.locator("#lead-form")).to_be_hidden()
    expect(success.locator("[data-lead=name]")).to_have_text("Ada Lovelace")
    expect(success.locator("[data-lead=email]")).to_have_text("Ada@example.com")
    expect(success.locator("[data-lead=phone]")).to_have_text(e164_for(7))
    expect(success.locator("[data-lead=created_at]")).to_have_text(
        re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d UTC$")
    )
    expect(success.locator("[data-lead=id]")).to_have_text(re.compile(r"^[0-9a-f-]{36}$"))
    expect(page.locator("#form-alert")).to_be_empty()


def test_duplicate_email_is_shown_under_the_email_field(site: Site, open_page) -> None:
    site.add_lead(1, email="taken@example.com")
    page = open_page(site.url + "/")
    fill_form(page, "Someone Else", "TAKEN@example.com", phone_for(2))
    page.get_by_role("button", name="Send my details").click()

    email = page.get_by_label("Email address")
    message = page.locator("#email-error")
    expect(message).to_have_text("A lead with this email address already exists.")
    expect(email).to_have_attribute("aria-invalid", "true")
    expect(email).to_have_attribute("aria-describedby", "email-error")
    expect(email).to_be_focused()
    expect(page.locator("#form-alert")).to_contain_text("already registered")
    for other in ("name", "phone"):
        expect(page.locator(f"#{other}-error")).to_be_hidden()
        expect(page.locator(f"#{other}")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_role("button", name="Send my details")).to_be_enabled()

    # Correcting the field withdraws its message.
    email.fill("someone.else@example.com")
    expect(message).to_be_hidden()
    expect(email).not_to_have_attribute("aria-invalid", "true")


def test_invalid_phone_is_shown_under_the_phone_field(site: Site, open_page) -> None:
    page = open_page(site.url + "/")
    fill_form(page, "Grace Hopper", "grace@example.com", "+1 650 CALL NOW")
    page.get_by_role("button", name="Send my details").click()

    phone = page.get_by_label("Phone number")
    expect(page.locator("#phone-error")).to_have_text(
        "Phone may contain only digits, spaces and + ( ) - ."
    )
    expect(phone).to_have_attribute("aria-invalid", "true")
    expect(phone).to_have_attribute("aria-describedby", "phone-hint phone-error")
    expect(phone).to_be_focused()
    expect(page.locator("#form-alert")).to_contain_text("Please correct the fields marked below")
    expect(page.locator("#email-error")).to_be_hidden()
    expect(page.locator("#lead-success")).to_be_hidden()

    # Fixed, the same form goes through.
    phone.fill(phone_for(3))
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#lead-success")).to_be_visible()
    expect(page.locator("#lead-success [data-lead=phone]")).to_have_text(e164_for(3))


def test_empty_fields_are_caught_before_anything_is_sent(site: Site, open_page) -> None:
    page = open_page(site.url + "/")
    sent: list[Any] = []
    page.on("request", lambda request: sent.append(request) if "/leads" in request.url else None)
    page.get_by_label("Email address").fill("not-an-email")
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#name-error")).to_have_text("Please enter your name.")
    expect(page.locator("#email-error")).to_contain_text("valid email address")
    expect(page.locator("#phone-error")).to_have_text("Please enter your phone number.")
    expect(page.get_by_label("Full name")).to_be_focused()
    assert sent == []


def test_rate_limit_is_explained_at_the_top(make_site, open_page) -> None:
    site = make_site(LEADAPP_RATELIMIT_LEADS="1 per minute", RATELIMIT_STRATEGY="moving-window")
    # A moving window: a fixed one could roll over between the two attempts.
    # The browser connects from 127.0.0.1 too: this spends its one attempt.
    status = site.server.request("POST", "/leads", lead_payload(1, phone="bad")).status
    assert status == 422
    page = open_page(site.url + "/")
    fill_form(page, "Ada Lovelace", "ada@example.com", phone_for(4))
    page.get_by_role("button", name="Send my details").click()

    alert = page.get_by_role("alert").filter(has_text="Too many attempts")
    expect(alert).to_be_visible()
    expect(alert).to_contain_text(re.compile(r"Please wait \d+ seconds and try again\."))
    expect(alert).to_contain_text("the limit is 1 per 1 minute")
    for name in ("name", "email", "phone"):
        expect(page.locator(f"#{name}-error")).to_be_hidden()
    expect(page.get_by_role("button", name="Send my details")).to_be_enabled()


PROBLEMS = {
    "blocked": (403, {}, "Requests from your network are blocked.", "This request was refused."),
    "unavailable": (
        503,
        {"Retry-After": "5"},
        "The database is unavailable right now; try again shortly.",
        "The service is temporarily unavailable. Please try again in 5 seconds.",
    ),
    "unexpected": (
        500,
        {},
        "An unexpected error occurred. Quote request id 4f2a9c when reporting it.",
        "Something went wrong on our side. Please try again later.",
    ),
    "too-large": (413, {}, "The data value transmitted exceeds the capacity limit.", "too long"),
    "malformed": (400, {}, "The body must be a JSON object.", "could not be read"),
}


@pytest.mark.parametrize("case", [*PROBLEMS, "offline"])
def test_other_problems_are_explained_at_the_top(site: Site, open_page, case: str) -> None:
    page = open_page(site.url + "/")
    if case == "offline":
        page.route("**/leads", lambda route: route.abort("connectionrefused"))
        detail, plain = "", "Could not reach the server. Check your connection and try again."
    else:
        status, headers, detail, plain = PROBLEMS[case]
        problem = {"type": "about:blank", "title": "x", "status": status, "detail": detail}
        page.route(
            "**/leads",
            lambda route: route.fulfill(
                status=status,
                headers=headers,
                content_type="application/problem+json",
                body=json.dumps(problem),
            ),
        )
    fill_form(page, "Ada Lovelace", "ada@example.com", phone_for(6))
    page.get_by_role("button", name="Send my details").click()

    alert = page.locator("#form-alert")
    expect(alert).to_contain_text(plain)
    expect(alert).to_contain_text(detail)
    expect(page.get_by_role("button", name="Send my details")).to_be_enabled()
    for name in ("name", "email", "phone"):
        expect(page.locator(f"#{name}-error")).to_be_hidden()


def test_form_fits_a_phone_screen(site: Site, open_page) -> None:
    page = open_page(
        site.url + "/", viewport={"width": 375, "height": 667}, is_mobile=True, has_touch=True
    )
    assert no_horizontal_scroll(page)
    long_email = "a.very.long.address.that.keeps.going." + "x" * 40 + "@example.com"
    fill_form(page, "Ada " + "Lovelace" * 12, long_email, "+1 650 CALL NOW")
    page.get_by_role("button", name="Send my details").click()
    expect(page.locator("#phone-error")).to_be_visible()
    assert no_horizontal_scroll(page)
    box = page.get_by_role("button", name="Send my details").bounding_box()
    assert box is not None and box["width"] >= 300 and box["height"] >= 44


def test_form_can_be_used_with_the_keyboard_alone(site: Site, open_page) -> None:
    page = open_page(site.url + "/")
    keyboard = page.keyboard
    keyboard.press("Tab")
    expect(page.get_by_label("Full name")).to_be_focused()
    keyboard.type("Katherine Johnson")
    keyboard.press("Tab")
    expect(page.get_by_label("Email address")).to_be_focused()
    keyboard.type("katherine@example.com")
    keyboard.press("Tab")
    expect(page.get_by_label("Phone number")).to_be_focused()
    keyboard.type(phone_for(5))
    keyboard.press("Tab")
    expect(page.get_by_role("button", name="Send my details")).to_be_focused()
    keyboard.press("Enter")
    expect(page.locator("#lead-success")).to_be_focused()
    expect(page.locator("#lead-success [data-lead=email]")).to_have_text("katherine@example.com")


# The admin page ------------------------------------------------------------------------


def test_admin_wrong_key_says_so_and_asks_again(site: Site, open_page) -> None:
    key = site.api_key()
    site.add_lead(1, key)
    page = open_page(site.url + "/admin")
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    sign_in(page, "lak_not-a-real-key")

    alert = page.locator("#admin-alert")
    expect(alert).to_contain_text("The API key is wrong or has been revoked")
    expect(page.get_by_label("API key", exact=True)).to_be_visible()
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    expect(page.get_by_label("API key", exact=True)).to_have_value("")
    expect(page.locator("#leads-section")).to_be_hidden()
    assert page.evaluate("() => sessionStorage.length") == 0

    sign_in(page, key)
    expect(rows(page)).to_have_count(1)
    expect(alert).to_be_empty()


def test_admin_revoked_key_is_refused_and_forgotten(make_site, open_page) -> None:
    site = make_site(LEADAPP_CACHE_SECONDS=0)
    key = site.api_key("soon-revoked")
    for n in range(3):
        site.add_lead(n, key)
    page = open_page(site.url + "/admin")
    sign_in(page, key)
    expect(rows(page)).to_have_count(3)
    # Every section has loaded with the key (a request still under way when the key is
    # revoked would sign the page out before the test's own request does).
    expect(page.locator("#forms-body tr")).to_have_count(1)

    site.revoke("soon-revoked")
    page.get_by_label("Per page").select_option("10")
    expect(page.locator("#admin-alert")).to_contain_text("wrong or has been revoked")
    expect(page.get_by_label("API key", exact=True)).to_be_focused()
    expect(rows(page)).to_have_count(0)
    assert page.evaluate("() => sessionStorage.length") == 0


def test_admin_lists_leads_page_by_page(site: Site, open_page) -> None:
    key = site.api_key()
    for n in range(1, 22):
        site.add_lead(n, key)
    # Data is shown as text, never interpreted as HTML.
    site.add_lead(22, key, name='<img src="x" data-x="1">Mallory')
    page = open_page(site.url + "/admin")
    sign_in(page, key)

    expect(rows(page)).to_have_count(20)
    first = rows(page).first
    expect(first.locator("td").nth(0)).to_have_text('<img src="x" data-x="1">Mallory')
    assert page.locator("#leads-body img").count() == 0
    second = rows(page).nth(1)
    expect(second.locator("td").nth(0)).to_have_text("Lead Person 21")
    expect(second.locator("td").nth(1)).to_have_text("lead21@example.com")
    expect(second.locator("td").nth(2)).to_have_text(e164_for(21))
    expect(second.locator("td").nth(3)).to_have_text("198.51.100.22")
    expect(second.locator("td").nth(4)).to_have_text(re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"))
    expect(page.locator("#page-label")).to_have_text("Page 1")
    expect(page.get_by_role("button", name="Previous page")).to_be_disabled()

    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#page-label")).to_have_text("Page 2")
    expect(rows(page)).to_have_count(2)
    expect(rows(page).first.locator("td").first).to_have_text("Lead Person 2")
    expect(rows(page).last.locator("td").first).to_have_text("Lead Person 1")
    expect(page.get_by_role("button", name="Next page")).to_be_disabled()

    page.get_by_role("button", name="Previous page").click()
    expect(page.locator("#page-label")).to_have_text("Page 1")
    expect(rows(page)).to_have_count(20)

    page.get_by_label("Per page").select_option("10")
    expect(rows(page)).to_have_count(10)
    page.get_by_role("button", name="Next page").click()
    page.get_by_role("button", name="Next page").click()
    expect(page.locator("#page-label")).to_have_text("Page 3")
    expect(rows(page)).to_have_count(2)


def test_admin_finds_leads_by_email_and_by_phone(site: Site, open_page) -> None:
    key = site.api_key()
    for n in range(1, 4):
        site.add_lead(n, key)
    page = open_page(site.url + "/admin")
    sign_in(page, key)
    expect(rows(page)).to_have_count(3)

    page.get_by_label("Email address or phone number to find").fill("LEAD2@Example.com")
    page.get_by_role("button", name="Find").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first.locator("td").nth(1)).to_have_text("lead2@example.com")
    expect(page.locator("#page-label")).to_contain_text("Search results")

    page.get_by_label("Find by").select_option("phone")
    page.get_by_label("Email address or phone number to find").fill(phone_for(3))
    page.get_by_role("button", name="Find").click()
    expect(rows(page)).to_have_count(1)
    expect(rows(page).first.locator("td").nth(2)).to_have_text(e164_for(3))

    page.get_by_label("Email address or phone number to find").fill("+44 20 7999 9999")
    page.get_by_role("button", name="Find").click()
    expect(rows(page)).to_have_count(0)
    expect(page.locator("#leads-empty")).to_have_text("No lead matches that phone.")

    page.get_by_label("Email address or phone number to find").fill("no letters please")
    page.get_by_role("button", name="Find").click()
    expect(page.locator("#admin-alert")).to_contain_text("phone:")

    page.get_by_role("button", name="Show all").click()
    expect(rows(page)).to_have_count(3)
    expect(page.locator("#admin-alert")).to_be_empty()


def test_admin_table_fits_a_laptop_screen_with_the_erase_buttons_visible(
    site: Site, open_page
) -> None:
    """At 1440 px wide, long values wrap inside their cells instead of pushing Erase away."""
    from tests.support.operator_data import set_lead

    key = site.api_key()
    long_values = {
        "name": "Maximiliana Alexandra Wolfeschlegelsteinhausen-Bergerdorff",
        "email": "maximiliana.alexandra.wolfeschlegelsteinhausen@subdomain.example-company.com",
        "ip_address": "2001:db8:85a3:1234:5678:8a2e:370:7334",
    }
    lead = site.add_lead(1, key, **long_values)
    set_lead(site.app, lead["id"], source="spring-newsletter-campaign-for-returning-customers-2026")
    site.add_lead(2, key)
    page = open_page(site.url + "/admin", viewport={"width": 1440, "height": 900})
    sign_in(page, key)
    expect(rows(page)).to_have_count(2)

    assert no_horizontal_scroll(page)
    wrap = page.locator(".table-wrap").filter(has=page.locator("#leads-table"))
    assert wrap.evaluate("(element) => element.scrollWidth <= element.clientWidth")
    for button in (
        page.locator("#leads-body").get_by_role("button", name=re.compile("^Erase ")).all()
    ):
        button.scroll_into_view_if_needed()
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= 1440, box
        expect(button).to_be_in_viewport()


def test_admin_erases_a_lead_after_confirmation(site: Site, open_page) -> None:
    key = site.api_key()
    leads = [site.add_lead(n, key) for n in range(1, 3)]
    page = open_page(site.url + "/admin")
    sign_in(page, key)
    expect(rows(page)).to_have_count(2)

    row = page.locator(f'#leads-body tr[data-lead-id="{leads[0]["id"]}"]')
    row.get_by_role("button", name="Erase Lead Person 1").click()
    confirm = row.get_by_role("button", name="Really erase Lead Person 1?")
    expect(confirm).to_have_text("Really erase?")
    row.get_by_role("button", name="Cancel").click()
    expect(row.get_by_role("button", name="Erase Lead Person 1")).to_be_focused()
    assert site.lead_status(key, leads[0]["id"]) == 200

    row.get_by_role("button", name="Erase Lead Person 1").click()
    confirm.click()
    expect(row).to_have_count(0)
    expect(rows(page)).to_have_count(1)
    expect(page.locator("#admin-status")).to_have_text("Erased the lead of Lead Person 1.")
    assert site.lead_status(key, leads[0]["id"]) == 404
    assert site.lead_status(key, leads[1]["id"]) == 200

    # Erased means free again: the same person can be taken in anew.
    site.add_lead(1, key)


def test_admin_key_lives_in_session_storage_only(site: Site, open_page) -> None:
    key = site.api_key()
    site.add_lead(1, key)
    page = open_page(site.url + "/admin")
    sign_in(page, key)
    expect(rows(page)).to_have_count(1)

    assert page.evaluate("() => Object.values(sessionStorage)") == [key]
    assert page.evaluate("() => localStorage.length") == 0
    assert page.evaluate("() => document.cookie") == ""
    assert page.context.cookies() == []
    assert key not in page.url

    # It survives a reload of the tab...
    page.reload()
    expect(rows(page)).to_have_count(1)
    # ... but not another tab's session.
    other = open_page(site.url + "/admin")
    expect(other.get_by_label("API key", exact=True)).to_be_visible()

    page.get_by_role("button", name="Forget key").click()
    expect(page.get_by_label("API key", exact=True)).to_be_visible()
    expect(rows(page)).to_have_count(0)
    assert page.evaluate("() => sessionStorage.length") == 0
    expect(page.locator("#admin-status")).to_contain_text("forgotten")


def test_admin_fits_a_phone_screen(site: Site, open_page) -> None:
    key = site.api_key()
    for n in range(1, 4):
        site.add_lead(n, key)
    site.add_lead(4, key, email="an.unusually.long.address.for.a.person@subdomain.example.com")
    page = open_page(site.url + "/admin", viewport={"width": 375, "height": 667}, is_mobile=True)
    assert no_horizontal_scroll(page)
    sign_in(page, key)
    expect(rows(page)).to_have_count(4)
    assert no_horizontal_scroll(page)
