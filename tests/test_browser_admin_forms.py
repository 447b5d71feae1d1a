"""The admin page's Forms section in a real browser, against the server `make run` starts.

Create a form with three custom fields, see the server's errors beside the members they
name, reorder a field, find it as saved after a reload, see a lead of the form with its
custom values, remove the form.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import expect, no_horizontal_scroll, rows, sign_in
from tests.support.builders import lead_payload
from tests.support.client import bearer
from tests.support.processes import flask_command
from tests.support.servers import LeadAppServer, leadapp_environment

WIDE_SCREEN = {"viewport": {"width": 1440, "height": 900}}
# Whether a table fits its box (.table-wrap would otherwise scroll it sideways).
TABLE_FITS = "(s) => { const box = document.querySelector(s).parentElement;"
TABLE_FITS += " return box.scrollWidth <= box.clientWidth; }"


@pytest.fixture
def served(test_keys: dict[str, str], tmp_path: Path) -> Iterator[tuple[LeadAppServer, str]]:
    """`make run`: the database upgraded, an API key made with the CLI, the server process."""
    env = leadapp_environment(test_keys, f"sqlite:///{tmp_path / 'leadapp.sqlite3'}")
    flask_command(env, "db", "upgrade")
    key = flask_command(env, "apikeys", "create", "admin").stdout.strip().splitlines()[-1]
    with LeadAppServer(env, tmp_path / "server.log") as server:
        yield server, key


def field_row(page: Any, n: int) -> Any:
    """The custom field row at position n (from 1)."""
    return page.locator("#form-fields > li").nth(n - 1)


def add_field(page: Any, name: str, label: str, kind: str) -> Any:
    """Add a custom field at the end; its row."""
    page.get_by_role("button", name="Add a field").click()
    row = page.locator("#form-fields > li").last
    expect(row.get_by_label("Name")).to_be_focused()
    row.get_by_label("Name").fill(name)
    row.get_by_label("Label").fill(label)
    row.get_by_label("Type").select_option(kind)
    return row


def field_names(page: Any) -> list[str]:
    """The names in the editor's custom field rows, in order."""
    return [
        row.get_by_label("Name").input_value() for row in page.locator("#form-fields > li").all()
    ]


def test_a_form_is_created_corrected_reordered_used_and_removed(served, open_page) -> None:
    server, key = served
    page = open_page(server.url + "/admin", **WIDE_SCREEN)
    sign_in(page, key)
    forms = page.locator("#forms-body tr")
    expect(forms).to_have_count(1)
    default = forms.filter(has_text="default")
    expect(default.get_by_role("button", name="Edit default")).to_be_visible()
    expect(default.get_by_role("button", name="Remove default")).to_have_count(0)

    # A new form: three custom fields of three types, a bad origin, a select without options.
    page.get_by_role("button", name="New form").click()
    expect(page.get_by_label("Slug")).to_be_focused()
    page.get_by_label("Slug").fill("webinar")
    page.get_by_label("Title").fill("Webinar sign-up")
    origins = page.get_by_label("Allowed origins")
    origins.fill("https://www.example.org\nhttps://shop.example.org/landing")
    page.get_by_label("Consent text").fill("You may write to me about the webinar.")
    page.get_by_label("Submit button text").fill("Anmelden")
    page.get_by_label("One lead per IP address").uncheck()
    company = add_field(page, "company", "Company", "text")
    company.get_by_label("Required").check()
    company.get_by_label("Max length").fill("80")
    budget = add_field(page, "budget", "Budget", "number")
    expect(budget.get_by_label("Max length")).to_be_hidden()
    budget.get_by_label("Minimum").fill("0")
    budget.get_by_label("Maximum").fill("100000")
    topic = add_field(page, "topic", "Topic", "select")
    page.get_by_role("button", name="Save form").click()

    # Each error beside its member, bound to it, announced; nothing stored.
    expect(page.locator("#editor-alert")).to_contain_text("The form was not saved: 2 members")
    origins_error = page.locator("#form-origins-error")
    expect(origins_error).to_contain_text("Line 2:")
    expect(origins).to_have_attribute("aria-invalid", "true")
    assert "form-origins-error" in origins.get_attribute("aria-describedby").split()
    options = topic.get_by_label("Options, one a line")
    expect(options).to_have_attribute("aria-invalid", "true")
    options_error = page.locator("#" + options.get_attribute("id") + "-error")
    expect(options_error).to_be_visible()
    assert server.request("GET", "/forms/webinar", headers=bearer(key)).status == 404

    origins.fill("https://www.example.org")
    options.fill("Sales\nSupport\n")
    page.get_by_role("button", name="Save form").click()
    expect(page.locator("#editor-alert")).to_have_text("Created the form webinar.")
    expect(origins_error).to_be_hidden()
    expect(origins).not_to_have_attribute("aria-invalid", "true")
    expect(forms).to_have_count(2)
    expect(forms.filter(has_text="webinar").locator("td[data-label='Custom fields']")).to_have_text(
        "3"
    )

    # Mail is refused when the site has none, and said so beside the member.
    page.get_by_label("Tell these addresses of every new lead").fill("sales@example.org")
    page.get_by_role("button", name="Save form").click()
    expect(page.locator("#form-notify-error")).to_contain_text("Needs mail")
    page.get_by_label("Tell these addresses of every new lead").fill("")

    # Reorder by keyboard: the topic goes up one; the focus stays on its button.
    move_up = page.get_by_role("button", name="Move field topic up")
    move_up.focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Move field topic up")).to_be_focused()
    assert field_names(page) == ["company", "topic", "budget"]
    page.get_by_role("button", name="Save form").click()
    expect(page.locator("#editor-alert")).to_have_text("Saved the form webinar.")

    stored = server.request("GET", "/forms/webinar", headers=bearer(key)).body
    assert stored["title"] == "Webinar sign-up"
    assert stored["origins"] == ["https://www.example.org"]
    assert stored["labels"] == {"submit": "Anmelden"}
    assert stored["one_lead_per_ip"] is False and stored["notify"] == []
    assert stored["fields"] == [
        {"name": "company", "label": "Company", "type": "text", "required": True, "max_length": 80},
        {
            "name": "topic",
            "label": "Topic",
            "type": "select",
            "required": False,
            "options": ["Sales", "Support"],
        },
        {
            "name": "budget",
            "label": "Budget",
            "type": "number",
            "required": False,
            "min": 0,
            "max": 100000,
        },
    ]

    # After a reload the editor shows the form as saved.
    page.reload()
    page.get_by_role("button", name="Edit webinar").click()
    expect(page.locator("#editor-title")).to_have_text("Form webinar")
    expect(page.locator("#form-fields > li")).to_have_count(3)
    assert field_names(page) == ["company", "topic", "budget"]
    expect(field_row(page, 2).get_by_label("Options, one a line")).to_have_value("Sales\nSupport")
    expect(page.get_by_label("Consent text")).to_have_value(
        "You may write to me about the webinar."
    )
    expect(page.get_by_label("One lead per IP address")).not_to_be_checked()
    assert no_horizontal_scroll(page)

    # A lead of the form, listed with its form and custom values.
    values = {
        "company": "Acme <b> Applied Sciences & Logistics",
        "topic": "Support",
        "budget": 5000,
    }
    lead = lead_payload(1, consent=True, fields=values)
    answer = server.request("POST", "/f/webinar", lead, headers=bearer(key))
    assert answer.status == 201, answer.body
    page.get_by_label("Form", exact=True).select_option("webinar")
    listed = rows(page).filter(has_text="lead1@example.com")
    probe = server.request("GET", "/leads?form=webinar", headers=bearer(key))
    if probe.status == 200:
        expect(rows(page)).to_have_count(1)
        expect(listed).to_have_count(1)
    else:
        # GET /leads?form= is added in parallel (issue 21); until then the server refuses it.
        assert probe.status == 422, probe.body
        expect(page.locator("#admin-alert")).to_contain_text("form")
        page.get_by_label("Form", exact=True).select_option("")
    expect(listed.locator("td[data-label='Form'] .form-slug")).to_have_text("webinar")
    stored_values = answer.body["fields"]
    assert stored_values == values
    cells = listed.locator("td[data-label='Form'] dl[aria-label='Custom values']")
    expect(cells.locator("dt")).to_have_text(list(stored_values))
    expect(cells.locator("dd")).to_have_text([str(value) for value in stored_values.values()])
    assert no_horizontal_scroll(page)
    assert page.evaluate(TABLE_FITS, "#leads-table"), "the leads table scrolls sideways at 1440 px"

    # Removed after a confirmation; its lead stays.
    webinar = forms.filter(has_text="webinar")
    webinar.get_by_role("button", name="Remove webinar").click()
    expect(webinar.get_by_role("button", name="Really remove webinar?")).to_be_visible()
    assert server.request("GET", "/forms/webinar", headers=bearer(key)).status == 200
    webinar.get_by_role("button", name="Really remove webinar?").click()
    expect(page.locator("#forms-status")).to_contain_text("Removed the form webinar")
    expect(forms).to_have_count(1)
    expect(page.locator("#form-editor")).to_be_hidden()
    assert server.request("GET", "/forms/webinar", headers=bearer(key)).status == 404
    assert server.request("GET", f"/leads/{answer.body['id']}", headers=bearer(key)).status == 200
