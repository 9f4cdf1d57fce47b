import threading
import time

import httpx

from bsg_client import AIMDLimiter
from tests.fixtures.fakebsg import FakeBSG, make_client


def test_halves_on_throttle_and_creeps_back():
    lim = AIMDLimiter(16)
    assert lim.limit == 16
    slot = lim.acquire()
    lim.release(slot)
    lim.on_throttle(lim.acquire())
    assert lim.limit == 8
    s = lim.acquire()
    lim.on_throttle(s)
    lim.release(s)
    assert lim.limit == 4
    # additive increase: about +1 per `limit` successes
    for _ in range(5):
        lim.on_success()
    assert lim.limit == 5
    for _ in range(200):
        lim.on_success()
    assert lim.limit == 16  # never above the maximum


def test_one_decrease_per_wave():
    lim = AIMDLimiter(8)
    slots = [lim.acquire() for _ in range(8)]
    for s in slots:  # eight 429s from requests sent together
        lim.on_throttle(s)
    assert lim.limit == 4 and lim.decreases == 1 and lim.throttles == 8
    for s in slots:
        lim.release(s)
    lim.on_throttle(lim.acquire())  # a request sent after the decrease counts again
    assert lim.limit == 2


def test_floor_is_min_limit():
    lim = AIMDLimiter(4, min_limit=1)
    for _ in range(10):
        s = lim.acquire()
        lim.on_throttle(s)
        lim.release(s)
    assert lim.limit == 1


def test_bounds_in_flight_across_threads():
    lim = AIMDLimiter(3)
    now = {"n": 0, "peak": 0}
    guard = threading.Lock()

    def work():
        for _ in range(5):
            with lim.slot():
                with guard:
                    now["n"] += 1
                    now["peak"] = max(now["peak"], now["n"])
                time.sleep(0.002)
                with guard:
                    now["n"] -= 1

    threads = [threading.Thread(target=work) for _ in range(10)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert now["peak"] == 3 == lim.peak_in_flight
    assert lim.in_flight == 0


def test_client_429_halves_shared_limit_then_recovers():
    fake = FakeBSG(10)
    fake.fail_times(2, lambda r: httpx.Response(429, json={"message": "Too Many Attempts."}))
    with make_client(fake, concurrency=8) as client:
        client.get_list_page("/api/messages", {})
        assert client.limiter.limit == 2  # two sequential 429s: two waves
        for _ in range(60):
            client.get_list_page("/api/messages", {})
        assert client.limiter.limit == 8
