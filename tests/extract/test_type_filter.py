"""`/api/messages` and filter[type]: the messages stream learns whether the server honours it
(one probe per client) and reads each window once untyped, or once per channel.

Fake servers (`httpx.MockTransport`) of both behaviours; the exact requests are asserted, and
every record must land once."""

from __future__ import annotations

import json
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

import httpx
import orjson
import pytest

from bsg_analytics.pipeline import run_job
from bsg_analytics.raw import RawStore
from bsg_analytics.schemas.statuses import CHANNELS
from bsg_analytics.streams import REGISTRY
from bsg_analytics.streams.messages import TYPE_FILTER_FACT, extract_messages_window
from bsg_client import BSGAPIError, BSGClient, split_windows

NOW = datetime(2026, 11, 20, 12, tzinfo=UTC)
TOKEN = "tf-SECRET-token"
WINDOWS = split_windows(date(2026, 3, 2), date(2026, 3, 16), 7, "UTC", NOW)  # two weeks


def message(i: int, kind: str, day: int, hour: int = 10) -> dict:
    return {
        "id": i,
        "type": kind,
        "status": "delivered",
        "created_at": f"2026-03-{day:02d} {hour:02d}:00:00",
    }


def mixed(n_per_type: int, days=(3, 10), types=CHANNELS) -> list[dict]:
    """`n_per_type` messages of each type on each day of `days` (one per window)."""
    out, i = [], 0
    for day in days:
        for kind in types:
            for k in range(n_per_type):
                i += 1
                out.append(message(i, kind, day, hour=k % 24))
    return out


class MessagesServer:
    """/api/messages over `messages`, honouring filter[type] (the pages' quirk: only that
    type, SMS without it) or ignoring it (the published description)."""

    def __init__(self, messages: list[dict], *, honour: bool):
        self.messages = messages
        self.honour = honour
        self.requests: list[httpx.Request] = []
        self.lock = threading.Lock()
        self.fail: dict[tuple[str | None, int], int] = {}  # (type, offset) -> HTTP status
        # type -> how many of its next requests announce one row more than they serve
        self.short: Counter[str | None] = Counter()
        self.hook = None  # called with each request before it is answered

    def transport(self) -> httpx.MockTransport:
        return httpx.MockTransport(self.handle)

    def handle(self, request: httpx.Request) -> httpx.Response:
        with self.lock:
            self.requests.append(request)
        if self.hook is not None:
            self.hook(request)
        assert request.headers["Authorization"] == f"Bearer {TOKEN}"
        assert request.url.path == "/api/messages"
        p = request.url.params
        kind = p.get("filter[type]")
        offset, limit = int(p["page[offset]"]), int(p["page[limit]"])
        status = self.fail.get((kind, offset))
        if status:
            return httpx.Response(status, json={"message": "no"})
        rows = [
            m
            for m in self.messages
            if p["filter[from]"] <= m["created_at"] <= p["filter[to]"]
            and (not self.honour or m["type"] == (kind or "sms"))
        ]
        rows.sort(key=lambda m: m["id"])
        total = len(rows)
        if self.short[kind] > 0:
            self.short[kind] -= 1
            total += 1  # announced, never served: the read comes out short
        page = rows[offset : offset + limit]
        meta = {"page": {"total": total, "limit": limit, "offset": offset}}
        return httpx.Response(200, json={"data": page, "meta": meta})

    def asked(self) -> list[tuple[str, str | None, int, int]]:
        """(window start, filter[type], offset, limit) of each request, in order."""
        return [
            (
                r.url.params["filter[from]"][:10],
                r.url.params.get("filter[type]"),
                int(r.url.params["page[offset]"]),
                int(r.url.params["page[limit]"]),
            )
            for r in self.requests
        ]


def client_for(server: MessagesServer, page_limit: int = 20) -> BSGClient:
    return BSGClient(
        api_url="http://one-api.test", rest_url="http://rest.test", api_token=TOKEN,
        page_limit=page_limit, max_retries=2, transport=server.transport(),
    )  # fmt: skip


def landed(store: RawStore, run_id: str | None = None) -> list[tuple[str, int, str]]:
    """(group, id, type) of every landed record, in landing order."""
    return [
        (p.group, m["id"], m["type"])
        for p in store.iter_pages(["messages"], run_id=run_id)
        for m in orjson.loads(p.body)["data"]
    ]


def ids_in(messages: list[dict], window) -> set[int]:
    return {m["id"] for m in messages if window.api_from <= m["created_at"] <= window.api_to}


W1, W2 = WINDOWS[0].api_from[:10], WINDOWS[1].api_from[:10]


def test_the_windows_of_these_tests():
    assert [w.key for w in WINDOWS] == [
        "20260302T000000Z..20260309T000000Z",
        "20260309T000000Z..20260316T000000Z",
    ]


def test_a_server_ignoring_the_filter_is_read_once_per_window_untyped(data_dir, caplog):
    caplog.set_level("INFO", "bsg_analytics.extract")
    messages = mixed(5)  # 25 a window, 5 of each channel
    server = MessagesServer(messages, honour=False)
    store = RawStore(data_dir)
    with client_for(server) as client:
        results = [extract_messages_window(client, store, w, "r1") for w in WINDOWS]
        assert client.learned == {TYPE_FILTER_FACT: False}
    assert server.asked() == [
        (W1, "hlr", 0, 15),  # the probe: one small typed request
        (W1, None, 0, 20),
        (W1, None, 20, 20),
        (W2, None, 0, 20),
        (W2, None, 20, 20),
    ]
    probe = server.requests[0].url.params
    assert dict(probe) == {
        "filter[from]": "2026-03-02 00:00:00", "filter[to]": "2026-03-08 23:59:59",
        "filter[type]": "hlr", "sort": "id", "way": "asc", "page[limit]": "15",
        "page[offset]": "0",
    }  # fmt: skip
    rows = landed(store)
    assert Counter(i for _g, i, _t in rows) == Counter(range(1, 51))  # each record once
    assert {g for g, _i, _t in rows} == {w.key for w in WINDOWS}
    for r, w in zip(results, WINDOWS, strict=True):
        assert (r.group, r.pages, r.records, r.distinct_ids, r.total) == (w.key, 2, 25, 25, 25)
        assert r.complete and not r.stalled and r.duplicates == 0
        assert len(r.raw_paths) == 2
    assert "ignores filter[type] (asked for hlr, it served rcs, sms, viber)" in (caplog.text)
    assert TOKEN not in caplog.text


def test_a_server_honouring_the_filter_is_read_once_per_channel(data_dir, caplog):
    caplog.set_level("INFO", "bsg_analytics.extract")
    messages = mixed(5)
    server = MessagesServer(messages, honour=True)
    store = RawStore(data_dir)
    with client_for(server, page_limit=15) as client:
        results = [extract_messages_window(client, store, w, "r1") for w in WINDOWS]
        assert client.learned == {TYPE_FILTER_FACT: True}
    per_window = [(t, 0, 15) for t in CHANNELS]
    assert server.asked() == [
        (W1, "hlr", 0, 15),
        *[(W1, *a) for a in per_window],
        *[(W2, *a) for a in per_window],
    ]
    rows = landed(store)
    assert Counter(i for _g, i, _t in rows) == Counter(range(1, 51))
    # each channel's listing under its own raw group, holding that channel only
    for g, _i, kind in rows:
        assert g.endswith(f".type={kind}")
    assert {g for g, _i, _t in rows} == {f"{w.key}.type={t}" for w in WINDOWS for t in CHANNELS}
    for r, w in zip(results, WINDOWS, strict=True):
        assert (r.group, r.pages, r.records, r.distinct_ids, r.total) == (w.key, 5, 25, 25, 25)
        assert r.complete and r.duplicates == 0 and r.rereads == 0
        assert len(r.raw_paths) == 5
        assert r.summary()["records"] == 25
    assert "honours filter[type] (asked for hlr, it served only hlr)" in caplog.text


def test_the_untyped_listing_of_an_honouring_server_would_miss_channels(data_dir):
    """Why it matters: read untyped, such a server gives SMS only."""
    server = MessagesServer(mixed(5), honour=True)
    with client_for(server) as client:
        client.remember(TYPE_FILTER_FACT, False)  # a wrong belief, on purpose
        r = extract_messages_window(client, RawStore(data_dir), WINDOWS[0], "r1")
    assert r.distinct_ids == 5
    assert {t for _g, _i, t in landed(RawStore(data_dir))} == {"sms"}


def test_paging_within_each_typed_listing(data_dir):
    messages = mixed(20, days=(3,))  # 20 per channel in the first window, none in the second
    server = MessagesServer(messages, honour=True)
    with client_for(server, page_limit=15) as client:
        r = extract_messages_window(client, RawStore(data_dir), WINDOWS[0], "r1")
    assert server.asked() == [
        (W1, "hlr", 0, 15),
        *[(W1, t, off, 15) for t in CHANNELS for off in (0, 15)],
    ]
    assert (r.pages, r.records, r.distinct_ids, r.total, r.complete) == (10, 100, 100, 100, True)
    assert Counter(i for _g, i, _t in landed(RawStore(data_dir))) == Counter(range(1, 101))


def test_no_hlr_message_the_first_listing_decides_honoured(data_dir, caplog):
    caplog.set_level("INFO", "bsg_analytics.extract")
    messages = mixed(3, types=("sms", "viber", "rcs", "whatsapp"))
    server = MessagesServer(messages, honour=True)
    store = RawStore(data_dir)
    with client_for(server) as client:
        results = [extract_messages_window(client, store, w, "r1") for w in WINDOWS]
        assert client.learned == {TYPE_FILTER_FACT: True}
    assert server.asked() == [
        (W1, "hlr", 0, 15),  # nothing: undecided, the window is read per channel
        *[(W1, t, 0, 20) for t in CHANNELS],
        *[(W2, t, 0, 20) for t in CHANNELS],  # decided by the sms listing: no second probe
    ]
    assert [r.distinct_ids for r in results] == [12, 12]
    assert Counter(i for _g, i, _t in landed(store)) == Counter(range(1, 25))
    assert "it served only sms, and nothing for hlr" in caplog.text


def test_an_empty_first_window_decides_nothing_the_next_probe_does(data_dir):
    messages = mixed(4, days=(10,))  # the first window is empty
    server = MessagesServer(messages, honour=False)
    store = RawStore(data_dir)
    with client_for(server) as client:
        first = extract_messages_window(client, store, WINDOWS[0], "r1")
        assert TYPE_FILTER_FACT not in client.learned
        second = extract_messages_window(client, store, WINDOWS[1], "r1")
        assert client.learned == {TYPE_FILTER_FACT: False}
    assert server.asked() == [
        (W1, "hlr", 0, 15),
        *[(W1, t, 0, 20) for t in CHANNELS],  # five empty pages: safe, and cheap
        (W2, "hlr", 0, 15),  # probed again: others come back, the filter is ignored
        (W2, None, 0, 20),
    ]
    assert (first.pages, first.records, first.total, first.complete) == (5, 0, 0, True)
    assert (second.pages, second.records, second.distinct_ids) == (1, 20, 20)
    assert Counter(i for _g, i, _t in landed(store)) == Counter(range(1, 21))


def test_a_typed_listing_serving_other_types_holds_the_window(data_dir, caplog):
    """A server that ignores the filter, probed on a window of hlr only: it looks honoured,
    until the sms listing serves hlr; that listing is the whole window, nothing more is read."""
    caplog.set_level("INFO", "bsg_analytics.extract")
    messages = [message(i, "hlr", 3, i) for i in range(1, 5)] + mixed(2, days=(10,))
    server = MessagesServer(messages, honour=False)
    store = RawStore(data_dir)
    with client_for(server) as client:
        first = extract_messages_window(client, store, WINDOWS[0], "r1")
        assert client.learned == {TYPE_FILTER_FACT: False}
        second = extract_messages_window(client, store, WINDOWS[1], "r1")
    assert server.asked() == [
        (W1, "hlr", 0, 15),  # only hlr: looks honoured
        (W1, "sms", 0, 20),  # serves hlr: the filter is ignored, this was the whole window
        (W2, None, 0, 20),
    ]
    assert (first.pages, first.records, first.distinct_ids, first.complete) == (1, 4, 4, True)
    assert second.distinct_ids == 10
    rows = landed(store)
    assert Counter(i for _g, i, _t in rows) == Counter(m["id"] for m in messages)
    assert {g for g, _i, _t in rows} == {f"{WINDOWS[0].key}.type=sms", WINDOWS[1].key}
    assert "ignores filter[type] (asked for sms over" in caplog.text


def test_a_window_read_per_channel_stops_once_another_shows_the_filter_ignored(data_dir):
    """While window 1 (empty: undecided) is read per channel, another window's job learns
    that the server ignores the filter: the listing being read holds window 1 whole."""
    server = MessagesServer(mixed(2, days=(10,)), honour=False)
    store = RawStore(data_dir)
    with client_for(server) as client:

        def another_window_decides(request: httpx.Request) -> None:
            if request.url.params.get("filter[type]") == "viber":
                client.remember(TYPE_FILTER_FACT, False)

        server.hook = another_window_decides
        r = extract_messages_window(client, store, WINDOWS[0], "r1")
    assert server.asked() == [(W1, "hlr", 0, 15), (W1, "sms", 0, 20), (W1, "viber", 0, 20)]
    assert (r.pages, r.records, r.total, r.complete) == (2, 0, 0, True)


def test_parallel_windows_probe_once(data_dir):
    windows = split_windows(date(2026, 1, 5), date(2026, 3, 30), 7, "UTC", NOW)
    start = datetime(2026, 1, 5)
    messages = [  # 100 messages, one every 20 hours: 8 or 9 in each of the 12 windows
        {**message(i + 1, CHANNELS[i % 5], 1), "created_at": f"{start + i * timedelta(hours=20)}"}
        for i in range(100)
    ]
    server = MessagesServer(messages, honour=False)
    store = RawStore(data_dir)
    with client_for(server, page_limit=500) as client, ThreadPoolExecutor(4) as ex:
        results = list(ex.map(lambda w: extract_messages_window(client, store, w, "r1"), windows))
    probes = [a for a in server.asked() if a[1] == "hlr"]
    assert len(probes) == 1
    assert sum(r.distinct_ids for r in results) == 100
    assert Counter(i for _g, i, _t in landed(store)) == Counter(range(1, 101))


def test_a_reread_window_lands_under_new_groups_and_counts_once(data_dir):
    """A typed listing served short is read again by `run_job` (the whole window, each
    listing under a `.reread-2` group); the result counts the second read only."""
    messages = mixed(5)
    server = MessagesServer(messages, honour=True)
    server.short["viber"] = 2  # both requests of the first read of viber: short
    store = RawStore(data_dir)
    (job,) = REGISTRY["messages"].window_jobs(WINDOWS[:1])
    with client_for(server) as client:
        outcome = run_job(job, client, store, "r1")
    r = outcome.result
    assert outcome.reads == 2
    assert (r.group, r.pages, r.records, r.distinct_ids, r.total, r.complete) == (
        f"{WINDOWS[0].key}.reread-2", 5, 25, 25, 25, True,
    )  # fmt: skip
    groups = Counter(g for g, _i, _t in landed(store))
    key = WINDOWS[0].key
    assert set(groups) == {f"{key}.type={t}" for t in CHANNELS} | {
        f"{key}.type={t}.reread-2" for t in CHANNELS
    }
    # the pages of both reads are handed on, none overwritten: 6 (viber asked past its 5
    # rows for the sixth it announced), then 5
    assert len(outcome.pages) == len(set(outcome.pages)) == 11
    first_read = [i for g, i, _t in landed(store) if not g.endswith("reread-2")]
    second_read = [i for g, i, _t in landed(store) if g.endswith("reread-2")]
    assert Counter(first_read) == Counter(second_read) == Counter(ids_in(messages, WINDOWS[0]))


def test_an_interrupted_window_read_again_by_the_next_run_counts_once(data_dir):
    messages = mixed(5)
    server = MessagesServer(messages, honour=True)
    server.fail[("rcs", 0)] = 422  # not retried: the job fails after sms and viber landed
    store = RawStore(data_dir)
    with client_for(server) as client:
        with pytest.raises(BSGAPIError):
            extract_messages_window(client, store, WINDOWS[0], "run-1")
        assert {g for g, _i, _t in landed(store, "run-1")} == {
            f"{WINDOWS[0].key}.type=sms", f"{WINDOWS[0].key}.type=viber",
        }  # fmt: skip
        del server.fail[("rcs", 0)]
        r = extract_messages_window(client, store, WINDOWS[0], "run-2")
    assert (r.pages, r.records, r.distinct_ids, r.total, r.complete) == (5, 25, 25, 25, True)
    again = [i for _g, i, _t in landed(store, "run-2")]
    assert Counter(again) == Counter(ids_in(messages, WINDOWS[0]))
    probes = [a for a in server.asked() if a[1] == "hlr" and a[3] == 15]
    assert len(probes) == 1  # learnt once per client, kept across runs on it


def test_a_probe_that_fails_decides_nothing(data_dir):
    server = MessagesServer(mixed(2), honour=False)
    server.fail[("hlr", 0)] = 403
    with client_for(server) as client:
        with pytest.raises(BSGAPIError):
            extract_messages_window(client, RawStore(data_dir), WINDOWS[0], "r1")
        assert TYPE_FILTER_FACT not in client.learned
        del server.fail[("hlr", 0)]
        r = extract_messages_window(client, RawStore(data_dir), WINDOWS[0], "r1")
        assert client.learned == {TYPE_FILTER_FACT: False}
    assert r.distinct_ids == 10


def test_raw_meta_of_a_typed_listing(data_dir):
    server = MessagesServer(mixed(1), honour=True)
    store = RawStore(data_dir)
    with client_for(server) as client:
        extract_messages_window(client, store, WINDOWS[0], "r1")
    metas = sorted(store.iter_pages(["messages"]), key=lambda p: p.group)
    assert [(p.group, p.seq, p.params["filter[type]"]) for p in metas] == [
        (f"{WINDOWS[0].key}.type={t}", 0, t) for t in sorted(CHANNELS)
    ]
    assert all(json.loads(p.body)["meta"]["page"]["total"] == 1 for p in metas)
    assert all(p.endpoint == "/api/messages" for p in metas)


# --- against the real simulator ------------------------------------------------------------

sim_testing = pytest.importorskip("bsg_simulator.testing")
sim_config = pytest.importorskip("bsg_simulator.config")

QUIRK = "messages_type_filter"
needs_quirk = pytest.mark.skipif(
    QUIRK not in getattr(sim_config, "QUIRKS", {}),
    reason=f"the simulator has no `{QUIRK}` quirk yet (bsg_simulator.config.QUIRKS); its "
    "helper is adding it",
)


def simulator_run(data_dir, quirks=None):
    extra = {"quirks": quirks} if quirks else {}
    sim = sim_testing.make_simulator(messages=5_000, token=TOKEN, **extra)
    windows = split_windows(datetime(2026, 10, 1, tzinfo=UTC), None, 7, "UTC", sim_testing.TEST_NOW)
    store = RawStore(data_dir)
    with sim_testing.inprocess_transport(sim) as transport:
        client = BSGClient(
            api_url="http://bsg.test", rest_url="http://bsg.test", api_token=TOKEN,
            page_limit=500, max_retries=5, transport=transport,
        )  # fmt: skip
        with client:
            results = [extract_messages_window(client, store, w, "r1") for w in windows]
            learned = dict(client.learned)
    truth = sim.ground_truth_messages()
    truth = truth.filter(
        (truth["created_at"] >= windows[0].start) & (truth["created_at"] < windows[-1].end)
    )
    return truth, results, landed(store), learned


def channels_of(truth) -> set[str]:
    column = "type" if "type" in truth.columns else "channel"
    return set(truth[column].unique().to_list())


def check_every_message_landed_once(truth, results, rows):
    ids = Counter(i for _g, i, _t in rows)
    assert set(ids) == set(truth["message_id"].to_list())
    assert set(ids.values()) == {1}
    assert sum(r.distinct_ids for r in results) == truth.height
    assert all(r.complete for r in results)
    assert {t for _g, _i, t in rows} == channels_of(truth)


def test_the_simulator_by_default_ignores_the_filter(data_dir):
    truth, results, rows, learned = simulator_run(data_dir)
    assert learned == {TYPE_FILTER_FACT: False}
    check_every_message_landed_once(truth, results, rows)
    assert all(".type=" not in g for g, _i, _t in rows)


@needs_quirk
def test_the_simulator_honouring_the_filter_is_read_per_channel(data_dir):
    truth, results, rows, learned = simulator_run(data_dir, [f"{QUIRK}=honoured"])
    assert learned == {TYPE_FILTER_FACT: True}
    check_every_message_landed_once(truth, results, rows)
    assert channels_of(truth) == set(CHANNELS)
    for g, _i, kind in rows:
        assert g.endswith(f".type={kind}")
