"""The scrubber masks secrets where secrets appear (headers, URLs, query strings, JSON bodies
echoed back, quoted values) without mangling ordinary words around a short test token; a
long secret is masked anywhere. A failed sync's last line (`flows.run`) follows the same
rules."""

from __future__ import annotations

import threading

import pytest

import bsg_analytics.flows.run as flows_run
from bsg_analytics.locking import SyncLocked
from bsg_analytics.settings import Settings
from bsg_client.errors import ANYWHERE_LENGTH, BSGAPIError, Scrubber

PROSE = "another sync is running on /tmp/x"
# where a secret stands as a whole token
PLACES = [
    "Authorization: Bearer {s}",
    "GET https://api.example/x?token={s}&x=1",
    '{{"api_key": "{s}"}}',
    "the key '{s}' was refused",
    "X-API-KEY: {s}",
    "{s}",
    "login {s}, then retry",
]
SHORT = ["t", "ther", "/tmp", "a.b"]  # the first three occur inside PROSE


@pytest.mark.parametrize("secret", SHORT)
def test_a_short_secret_leaves_ordinary_words_and_paths_intact(secret):
    assert Scrubber([secret]).scrub(PROSE) == PROSE
    assert Scrubber([secret]).scrub("tok-t tt t_x x.t naïvet") == "tok-t tt t_x x.t naïvet"


@pytest.mark.parametrize("secret", SHORT)
@pytest.mark.parametrize("place", PLACES)
def test_a_short_secret_is_masked_where_it_stands_as_a_token(secret, place):
    text = place.format(s=secret)
    assert Scrubber([secret]).scrub(text) == place.format(s="***")


def test_the_examples_of_the_issue():
    s = Scrubber(["t"])
    assert s.scrub("Authorization: Bearer t") == "Authorization: Bearer ***"
    assert s.scrub("?token=t&x=1") == "?token=***&x=1"
    assert s.scrub('{"api_key": "t"}') == '{"api_key": "***"}'
    assert s.scrub("'t'") == "'***'"
    assert s.scrub("bsg-analytics: another sync is running on /tmp/d") == (
        "bsg-analytics: another sync is running on /tmp/d"
    )


@pytest.mark.parametrize(
    "secret", ["tok-SECRET-41aa07", "a" * ANYWHERE_LENGTH, "live_0123456789abcdef"]
)
def test_a_long_secret_is_masked_anywhere(secret):
    s = Scrubber([secret])
    for text in (f"x{secret}y", f"/path/{secret}/more", f"{secret}{secret}", f"a-{secret}-b"):
        out = s.scrub(text)
        assert secret not in out, out
        assert "***" in out
    assert s.scrub(f"x{secret}y") == "x***y"


def test_regex_characters_in_a_secret_are_literal():
    s = Scrubber(["a+b", "(x)*[y]|z.{2}$"])
    assert s.scrub("sum a+b here") == "sum *** here"
    assert s.scrub("aab axb") == "aab axb"
    assert s.scrub("v=(x)*[y]|z.{2}$ end") == "v=*** end"


def test_longest_first_and_empty_secrets_ignored():
    s = Scrubber(["", None, "abc", "abcdefgh-long-one"])  # type: ignore[list-item]
    assert s.scrub("k=abcdefgh-long-one") == "k=***"
    assert s.scrub("k=abc") == "k=***"
    assert Scrubber([]).scrub("nothing to hide") == "nothing to hide"
    assert Scrubber().scrub(42) == "42"
    assert repr(s) == "Scrubber(2 secrets)"


def test_secrets_added_later_are_masked_and_scrubbing_is_thread_safe():
    s = Scrubber(["first-secret-value"])
    errors: list[str] = []
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            out = s.scrub("Bearer first-secret-value")
            if out != "Bearer ***":
                errors.append(out)

    threads = [threading.Thread(target=reader) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        for i in range(50):
            s.add(f"renewed-token-{i:04d}", "t")
    finally:
        stop.set()
        for t in threads:
            t.join(5)
    assert not errors
    assert s.scrub("renewed-token-0049 and Bearer t") == "*** and Bearer ***"
    assert s.scrub(PROSE) == PROSE
    assert repr(s) == "Scrubber(52 secrets)"


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            SyncLocked("another sync is running on /tmp/x (token t)"),
            "bsg-analytics: another sync is running on /tmp/x (token ***)",
        ),
        (
            BSGAPIError("GET /api/messages: HTTP 422: key ther, xxlive_longer-login-keyxx"),
            "bsg-analytics: GET /api/messages: HTTP 422: key ***, xx***xx",
        ),
    ],
)
def test_the_sync_command_scrubs_its_failure_line_by_the_same_rules(
    monkeypatch, tmp_path, capsys, exc, expected
):
    """`bsg_analytics.flows.run` prints a failed sync's one line through the same `Scrubber`."""
    monkeypatch.chdir(tmp_path)  # no .env
    settings = Settings(api_token="t", api_key="ther", api_login_key="live_longer-login-key",
                        data_dir=str(tmp_path / "d"))  # fmt: skip

    def fail(*args, **kwargs):
        raise exc

    monkeypatch.setattr(flows_run, "run_with_display", fail)
    monkeypatch.setattr(flows_run, "prepare_prefect_env", lambda *a, **k: None)  # no env/log edits
    assert flows_run.Scrubber is Scrubber
    assert flows_run.run_sync_command(settings, progress=False) != 0
    err = capsys.readouterr().err.strip()
    assert err == expected
    assert err == "bsg-analytics: " + Scrubber(settings.secrets()).scrub(str(exc))
