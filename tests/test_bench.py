"""Smoke tests of the benchmark's parts (the benchmark itself is `make bench`, not a test)."""

from __future__ import annotations

import os
import shutil
import threading
import time

import pytest
from flask import Flask

from bench import ceiling, fill, gil, profile, reads, receiver, v2
from bench.ceiling import create_ceiling_app
from bench.run import parse_args, round_order
from bench.servers import bench_keys, leadapp_environment
from bench.wrk import STRIDE, run_wrk
from tests.support.apps import create_api_key
from tests.support.client import bearer
from tests.support.servers import LeadAppServer, ThreadedServer

if shutil.which("wrk") is None:
    WRK_PROBLEM: str | None = "wrk is not installed (apt-get install wrk)"
elif (os.cpu_count() or 1) < 2:
    WRK_PROBLEM = "the load generator is pinned to core 1"
else:
    WRK_PROBLEM = None
needs_wrk = pytest.mark.skipif(WRK_PROBLEM is not None, reason=WRK_PROBLEM or "")


@pytest.fixture
def wrk_target(make_app) -> tuple[Flask, str]:
    """An app whose per-key limit wrk cannot reach, and its API key."""
    app = make_app(LEADAPP_RATELIMIT_INTEGRATIONS="1000000 per minute")
    return app, create_api_key(app)


def test_ceiling_parses_the_body_and_answers_201() -> None:
    response = create_ceiling_app().test_client().post("/leads", json={"name": "Ada", "x": 1})
    assert response.status_code == 201
    assert response.get_json() == {"status": "created", "fields": 2}


@needs_wrk
def test_wrk_script_sends_distinct_valid_leads_from_every_thread(wrk_target) -> None:
    app, key = wrk_target
    with ThreadedServer(app, threads=2) as server:
        result = run_wrk(
            f"http://127.0.0.1:{server.port}",
            api_key=key,
            offset=STRIDE * 7,
            duration=1,
            threads=2,
            connections=2,
        )
    assert result.requests > 10
    assert result.non_2xx == 0 and set(result.statuses) == {"201"}
    client = app.test_client()
    # wrk builds one request of thread 0 to check the script, so its first sent lead is
    # the second of its range.
    for n in (STRIDE * 7 + 1, STRIDE * 8):
        page = client.get(f"/leads?email=lead{n}@example.com", headers=bearer(key)).get_json()
        assert [item["phone"] for item in page["items"]] == [f"+44207{n:07d}"]


def test_fill_stores_leads_the_app_reads_and_deduplicates(
    make_app, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    app = make_app()
    key = create_api_key(app)
    monkeypatch.setenv("LEADAPP_DATABASE_URL", database_url)
    result = fill.fill(30, workers=1, batch=7, days=10)
    assert result["count"] == 30
    client = app.test_client()
    page = client.get("/leads?limit=100", headers=bearer(key)).get_json()
    assert len(page["items"]) == 30
    assert page["items"][0]["email"] == fill.fill_email(29)  # newest first
    found = client.get(f"/leads?email={fill.fill_email(12)}", headers=bearer(key)).get_json()
    assert [(item["phone"], item["ip_address"]) for item in found["items"]] == [
        (fill.fill_phone(12), fill.fill_ip(12))
    ]
    duplicate = client.post(
        "/leads",
        json={"name": "X", "email": "new@example.com", "phone": fill.fill_phone(3)},
    )
    assert duplicate.status_code == 409 and list(duplicate.get_json()["errors"]) == ["phone"]


def test_profile_stages_attribute_each_stack_to_its_most_specific_stage() -> None:
    collapsed = "\n".join(
        [
            "run (waitress/server.py:1);BaseWSGIServer.run (waitress/server.py:2) 5",
            "Flask.wsgi_app (flask/app.py:1);__inner (flask_limiter/_limits.py:3);"
            "create_lead (leadapp/api/leads.py:9);load_or_422 (leadapp/api/parsing.py:4);"
            "normalize_email (leadapp/normalize.py:5);validate_email (email_validator/v.py:6) 3",
            "Flask.wsgi_app (flask/app.py:1);__inner (flask_limiter/_limits.py:3) 2",
            # Every worker stack passes the proxy middleware (leadapp/http/) first.
            "TrustedProxies.__call__ (leadapp/http/client.py:67);Flask.wsgi_app (flask/app.py:1);"
            "__inner (flask_limiter/_limits.py:3);create_lead (leadapp/services/leads.py:1);"
            "process_bind_param (leadapp/models/types.py:40) 4",
            "TrustedProxies.__call__ (leadapp/http/client.py:67);Flask.wsgi_app (flask/app.py:1);"
            "finish_response (leadapp/http/pipeline.py:30) 1",
        ]
    )
    summary = profile.summarize(collapsed)
    stages = {item["name"]: item["samples"] for item in summary["stages"]}
    assert summary["samples"] == 15
    assert stages == {
        "waitress main loop (accept, read + parse requests, write)": 5,
        "validate email (email-validator)": 3,
        "rate limiter (Flask-Limiter)": 2,
        "Fernet encryption": 4,
        "response steps (headers, CORS, request id)": 1,
    }


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert reads.percentile(values, 50) == 50
    assert reads.percentile(values, 99) == 99
    assert reads.percentile([3.0], 99) == 3.0


@needs_wrk
def test_wrk_variants_send_attribution_with_keys_and_floods_one_duplicate(wrk_target) -> None:
    app, key = wrk_target
    load = {"api_key": key, "duration": 1, "threads": 2, "connections": 2}
    with ThreadedServer(app, threads=2) as server:
        rich = run_wrk(server.url, offset=0, variant="attribution", **load)
        flood = run_wrk(server.url, offset=STRIDE * 2, variant="duplicate", **load)
    assert rich.requests > 10 and set(rich.statuses) == {"201"}
    # One lead created by the flood, every other request refused as its duplicate.
    assert flood.statuses.get("201") == 1 and flood.statuses["409"] == flood.requests - 1
    client = app.test_client()
    page = client.get("/leads?email=lead1@example.com", headers=bearer(key)).get_json()
    attribution = page["items"][0]["attribution"]
    assert {name for name, value in attribution.items() if value} == {
        "source", "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content",
        "page_url", "referrer",
    }  # fmt: skip
    assert attribution["page_url"] == "https://example.com/landing?lead=1"


def test_receiver_records_the_delay_from_the_payload_timestamp() -> None:
    recorder = receiver.Recorder()
    recorder.add(b'{"type": "lead.created", "timestamp": "2026-12-01T10:00:00.250000Z"}')
    recorder.add(b"not json")
    stats = recorder.stats()
    assert stats["count"] == 2 and stats["unparsed"] == 1
    assert stats["delays_ms"][0] > 0


def test_gil_cases_hold_the_gil_as_asked(monkeypatch) -> None:
    """bench.gil's ceiling variant spends the asked CPU in the view, and the thread stats read."""
    monkeypatch.setenv(ceiling.HOLD_GIL_MS, "20")
    client = ceiling.create_ceiling_app().test_client()
    started = time.thread_time()
    assert client.post("/leads", json={"name": "x"}).status_code == 201
    assert time.thread_time() - started >= 0.02
    threads = gil.thread_cpu_seconds(os.getpid())
    assert str(threading.get_native_id()) in threads


def test_rounds_put_every_configuration_in_every_slot() -> None:
    names = ["ceiling", "plain", "webhook"]
    orders = [round_order(names, index) for index in range(6)]
    assert orders[0] == names and orders[3] == names
    for slot in range(len(names)):
        assert {order[slot] for order in orders[:3]} == set(names)
    assert all(sorted(order) == sorted(names) for order in orders)


def test_reference_server_stores_a_lead_once_and_refuses_it_again(tmp_path) -> None:
    """bench/reference.py, served as the bench serves it: 201, then 409 for the same lead."""
    env = leadapp_environment(bench_keys(), f"sqlite:///{tmp_path / 'reference.sqlite3'}")
    lead = {"name": "Ada", "email": "Ada@Example.COM", "phone": "+44 20 7946 0000"}
    lead["ip_address"] = "10.0.0.1"
    log_path = tmp_path / "reference.log"
    with LeadAppServer(env, log_path, module="bench.reference", ready_status=None) as server:
        created = server.request("POST", "/leads", lead)
        again = server.request("POST", "/leads", {**lead, "email": "other@example.com"})
    assert created.status == 201, server.log()
    assert (created.body["email"], created.body["phone"]) == ("Ada@example.com", "+442079460000")
    assert again.status == 409  # the phone's unique blind index
    stored = (tmp_path / "reference.sqlite3").read_bytes()
    assert b"Ada" not in stored and b"7946" not in stored


@needs_wrk
def test_wrk_form5_variant_posts_a_value_for_each_custom_field(wrk_target) -> None:
    app, key = wrk_target
    with ThreadedServer(app, threads=2) as server:
        v2.put_bench_form(server.port, key)
        result = run_wrk(
            server.url, api_key=key, offset=0, duration=1, threads=2, connections=2, variant="form5"
        )
    assert result.requests > 10 and set(result.statuses) == {"201"}
    page = app.test_client().get("/leads?email=lead1@example.com", headers=bearer(key))
    lead = page.get_json()["items"][0]
    assert lead["form"] == v2.FORM5_SLUG
    assert lead["fields"] == {
        "company": "Company 1", "plan": "team", "seats": 2, "start_date": "2027-02-02",
        "terms": True,
    }  # fmt: skip
    kinds = {field["type"] for field in v2.FORM5_DOCUMENT["fields"]}
    assert kinds == {"text", "select", "number", "date", "checkbox"}


def test_v3_ratios_report_the_reference_and_judge_the_form_against_plain() -> None:
    def row(rate: float, cpu: float) -> dict[str, float]:
        return {"requests_per_s": rate, "server_cpu_ms_per_request": cpu}

    summary = {v2.PLAIN: row(500, 2.0), v2.FORM5: row(440, 2.2), v2.REFERENCE: row(1000, 1.0)}
    found = v2.ratios(summary)
    assert found["plain / reference"] == 0.5
    assert found["plain CPU ms/req / reference"] == 2.0
    assert found[f"{v2.FORM5} / plain"] == 0.88
    assert v2.check_targets(summary, {}) == {"five-field form within 15% of plain": True}
    summary[v2.FORM5] = row(420, 2.4)
    assert v2.check_targets(summary, {}) == {"five-field form within 15% of plain": False}


def test_v3_configurations_run_unless_skipped() -> None:
    assert {v2.FORM5, v2.REFERENCE} <= set(v2.configurations(parse_args(["--no-v2"])))
    assert v2.WEBHOOK not in v2.configurations(parse_args(["--no-v2"]))
    skipped = v2.configurations(parse_args(["--no-v3"]))
    assert v2.WEBHOOK in skipped and not {v2.FORM5, v2.REFERENCE} & set(skipped)


def test_hosted_bench_counts_each_kind_of_post(monkeypatch: pytest.MonkeyPatch) -> None:
    from bench import hosted

    monkeypatch.setattr(hosted, "REQUESTS", 20)
    monkeypatch.setattr(hosted, "WARM_UP", 5)
    result = hosted.measure(instructions=False)
    assert set(result["calls_per_request"]) == set(hosted.KINDS)
    assert all(calls > 500 for calls in result["calls_per_request"].values())
    assert result["ratio_to_json"]["json"] == 1
    assert "within 10 %" in hosted.format_result(result)


def test_hosted_bench_process_for_valgrind_posts_every_kind() -> None:
    """What callgrind counts runs on its own (a kind's requests must all get their status)."""
    from bench import hosted

    for kind in hosted.KINDS:
        hosted.run_requests(kind, 2)  # raises when a request gets another status
