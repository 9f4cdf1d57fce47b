from datetime import UTC, date, datetime, timedelta

import httpx
import orjson

from bsg_analytics.extract import classify_legacy
from bsg_analytics.pipeline import extract_legacy
from bsg_analytics.planning import plan_windows
from bsg_analytics.raw import RawStore, codec_of, decompress
from bsg_analytics.settings import Settings
from bsg_analytics.state import SyncState
from bsg_analytics.streams.campaign_detail import extract_campaign_details
from bsg_analytics.streams.campaigns import extract_campaigns_window
from bsg_analytics.streams.messages import extract_messages_window
from bsg_analytics.transforms.campaigns import unwrap_detail
from bsg_client import legacy_error_code, split_windows
from tests.fixtures.fakebsg import (
    LOGIN_KEY,
    REST_KEY,
    TOKEN,
    FakeBSG,
    make_client,
    recorded,
    recorded_json,
)

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
SECRETS = (TOKEN, LOGIN_KEY, REST_KEY, "issued-SECRET")


def all_files_text(data_dir) -> str:
    out = []
    for path in data_dir.walk_files(data_dir.root):
        raw = data_dir.read_bytes(path)
        codec = codec_of(path)
        out.append((decompress(raw, codec) if codec else raw).decode())
    return "\n".join(out)


def test_messages_window_lands_every_page(data_dir):
    fake = FakeBSG(500, start=datetime(2026, 1, 1), step=timedelta(minutes=30))
    store = RawStore(data_dir)
    windows = split_windows(date(2026, 1, 1), date(2026, 2, 1), 7, "UTC", NOW)
    with make_client(fake, api_token=None, api_login_key=LOGIN_KEY) as client:
        fake.fail(lambda r: httpx.Response(503, text="<html>busy</html>"), "/api/messages")
        results = [extract_messages_window(client, store, w, "run-1") for w in windows]
    assert sum(r.distinct_ids for r in results) == 500
    assert sum(r.records for r in results) == 500 and all(r.complete for r in results)
    assert results[0].pages == 7 and results[0].total == 336  # 7 days x 48 per day
    pages = list(store.iter_pages(["messages"], run_id="run-1"))
    assert len(pages) == sum(r.pages for r in results)
    landed_ids = {m["id"] for p in pages for m in orjson.loads(p.body)["data"]}
    assert landed_ids == set(range(1, 501))
    first = pages[0]
    assert first.group == windows[0].key and first.seq == 0 and first.status_code == 200
    assert first.endpoint == "/api/messages"
    assert first.params["filter[from]"] == "2026-01-01 00:00:00"
    assert first.params["filter[to]"] == "2026-01-07 23:59:59"
    text = all_files_text(data_dir)
    for secret in SECRETS:
        assert secret not in text
    assert results[0].summary()["pages"] == 7


def test_campaigns_window_both_types_and_statuses(data_dir):
    fake = FakeBSG(0)
    fake.campaigns = [
        {**recorded_json("campaigns_seed003.json")["data"][0], "id": 1},
        {**recorded_json("campaigns_variant_statistics.json")["data"][0], "id": 2},
        {
            **recorded_json("campaigns_variant_statistics.json")["data"][0],
            "id": 3,
            "status": "sending",
        },
    ]
    for c in fake.campaigns:
        c["created_at"] = "2026-03-02 10:00:00"
    store = RawStore(data_dir)
    (window,) = split_windows(date(2026, 3, 1), date(2026, 3, 8), 7, "UTC", NOW)
    with make_client(fake) as client:
        sms = extract_campaigns_window(client, store, window, "sms", "run-1")
        rcs = extract_campaigns_window(client, store, window, "rcs", "run-1")
    assert sms.campaign_statuses == {2: "done", 3: "sending"}
    assert rcs.campaign_statuses == {1: "creation"}
    assert sms.group == f"{window.key}.type=sms"
    types = [r.url.params["filter[type]"] for r in fake.requests]
    assert types == ["sms", "rcs"]
    metas = list(store.iter_pages(["campaigns"]))
    assert {m.params["filter[type]"] for m in metas} == {"sms", "rcs"}


def test_campaign_list_path_falls_back_to_the_pages_spelling(data_dir):
    fake = FakeBSG(0)
    fake.fail(lambda r: httpx.Response(404, json={"message": "Not Found"}), "/api/campaigns")
    body = recorded("campaigns_seed003.json")
    fake.fail(lambda r: httpx.Response(200, content=body), "/api/campaign")
    (window,) = split_windows(date(2026, 3, 1), date(2026, 3, 8), 7, "UTC", NOW)
    with make_client(fake) as client:
        res = extract_campaigns_window(client, RawStore(data_dir), window, "rcs", "r")
        assert client.campaign_list_path == "/api/campaign"
    assert res.campaign_statuses == {1: "creation"}


def test_campaign_details_wrapped_bare_and_missing(data_dir):
    fake = FakeBSG(0)
    wrapped, bare = (
        recorded("campaign_detail_seed002.json"),
        recorded("campaign_detail_bare_sample.json"),
    )
    store = RawStore(data_dir)
    with make_client(fake) as client:
        fake.fail(lambda r: httpx.Response(200, content=wrapped), "/api/campaigns/1/detail")
        fake.fail(lambda r: httpx.Response(200, content=bare), "/api/campaigns/2/detail")
        res = extract_campaign_details(client, store, [2, 1, 9, 1], "run-1")
    assert res.statuses == {1: "creation", 2: "done"}
    assert res.not_found == [9] and res.pages == 2
    pages = sorted(store.iter_pages(["campaign_detail"]), key=lambda p: p.group)
    assert [p.group for p in pages] == ["1", "2"]
    assert pages[0].body == wrapped  # byte for byte
    assert unwrap_detail(orjson.loads(wrapped))["id"] == 1
    assert unwrap_detail(orjson.loads(bare))["id"] == 2


def test_legacy_lookups_and_task_path_shapes(data_dir):
    fake = FakeBSG(0)
    fake.legacy.update(
        {
            "/rest/sms/211": (200, recorded("legacy_sms_seed004.json")),
            "/rest/sms/reference/ext_id_20": (200, recorded("legacy_sms_numeric_ids.json")),
            "/rest/sms/task/501": (200, recorded("legacy_task_seed004.json")),
            # task 502: the published path is not served (404 HTML); the seed's shape answers
            "/rest/sms/task/502": (404, b"<html>Not Found</html>"),
            "/rest/sms/502": (200, recorded("legacy_task_seed004.json")),
            "/rest/sms/task/503": (200, recorded("legacy_error_task_not_found.json")),
            "/rest/sms/503": (404, recorded("legacy_error_not_found_number.json")),
            "/rest/sms/213": (400, recorded("legacy_error_string.json")),
        }
    )
    store = RawStore(data_dir)
    with make_client(fake) as client:
        res = extract_legacy(
            client, store, "run-1", sms_ids=[211, 404, 213], references=["ext_id_20"],
            task_ids=[501, 502, 503],
        )  # fmt: skip
    assert res.landed == {"legacy_sms": 2, "legacy_task": 2}
    assert sorted(res.not_found) == [("sms", "404"), ("task", "503")]
    assert res.errors == [("sms", "213", 25, "Invalid originator")]
    paths = [r.url.path for r in fake.requests]
    assert paths.index("/rest/sms/task/502") < paths.index("/rest/sms/502")
    assert "/rest/sms/501" not in paths
    groups = {(p.stream, p.group, p.seq) for p in store.iter_pages(["legacy_sms", "legacy_task"])}
    assert groups == {
        ("legacy_sms", "sms-211", 0),
        ("legacy_sms", "ref-ext_id_20", 0),
        ("legacy_task", "task-501", 0),
        ("legacy_task", "task-502", 1),
    }
    assert all(r.headers.get("X-API-KEY") == REST_KEY for r in fake.requests)
    assert REST_KEY not in all_files_text(data_dir)


def test_recorded_variants_are_understood():
    assert legacy_error_code(recorded_json("legacy_error_string.json")) == 25
    assert legacy_error_code(recorded_json("legacy_error_not_found_number.json")) == 20
    assert legacy_error_code(recorded_json("legacy_sms_seed004.json")) == 0
    assert legacy_error_code(recorded_json("legacy_task_seed004.json")) is None
    assert classify_legacy(recorded_json("legacy_task_seed004.json")) == "legacy_task"
    assert classify_legacy(recorded_json("legacy_sms_numeric_ids.json")) == "legacy_sms"
    assert classify_legacy(recorded_json("legacy_error_string.json")) is None


def test_every_recorded_list_body_is_paged(data_dir):
    from bsg_client.pagination import page_total

    for name, total, n in [
        ("messages_rcs_seed000.json", 1, 1),
        ("messages_sms_seed001.json", 1, 1),
        ("messages_variants_string_meta.json", 2, 2),
        ("messages_empty.json", 0, 0),
        ("messages_no_meta.json", None, 1),
        ("campaigns_seed003.json", 1, 1),
        ("campaigns_variant_statistics.json", 1, 1),
    ]:
        fake = FakeBSG(0)
        body = recorded(name)
        fake.fail(lambda r, body=body: httpx.Response(200, content=body))
        with make_client(fake) as client:
            pag = client.paginate("/api/messages", {})
            pages = list(pag)
        assert len(pages) == 1, name
        assert pages[0].body == body
        assert page_total(pages[0].data) == total, name
        assert pag.stats.records == n and pag.stats.complete, name


def test_plan_windows_bases():
    settings = Settings(timezone="Europe/Berlin", window_days=7, lookback_hours=72)
    # no state: 90 days back from local midnight
    plan = plan_windows(settings, None, now=NOW)
    assert plan.basis == "default"
    assert plan.windows[0].api_from == "2026-08-22 00:00:00"
    # on the grid: a short first window to the next Monday, then ISO weeks, then up to now
    assert plan.windows[0].api_to == "2026-08-23 23:59:59"
    assert all(w.start.astimezone(settings.zone).weekday() == 0 for w in plan.windows[1:])
    assert plan.windows[-1].end <= NOW and len(plan) == 14
    # since given (a date: local midnight)
    plan = plan_windows(settings, None, since="2026-11-01", until=date(2026, 11, 15), now=NOW)
    assert plan.basis == "since" and [w.api_from for w in plan][:1] == ["2026-11-01 00:00:00"]
    assert plan.windows[-1].api_to == "2026-11-14 23:59:59"


def test_plan_windows_from_watermark_minus_lookback(data_dir):
    state = SyncState.load(data_dir)
    state.watermark = datetime(2026, 11, 18, 6, tzinfo=UTC)
    state.record_campaigns({5: "sending", 6: "done", 7: "paused"})
    settings = Settings(window_days=7, lookback_hours=72)
    plan = plan_windows(settings, state, now=NOW)
    assert plan.basis == "watermark"
    assert plan.windows[0].start == datetime(2026, 11, 15, 6, tzinfo=UTC)
    assert plan.open_campaign_ids == [5, 7]
