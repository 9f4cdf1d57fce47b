"""Secrets and settings: refused credentials (401, 403, 422, a refused login key) fail with a
message that names the endpoint and the API's words but never the secret, even when the API
echoes it; bad settings fail at once with one clear line through the CLI. (Every test of this
suite also has its data directory, logs and output scanned for secrets by the conftest.)"""

from __future__ import annotations

import traceback
from datetime import timedelta

import httpx
import pytest
from typer.testing import CliRunner

from bsg_analytics.cli import app
from bsg_analytics.flows.run import describe_failure
from bsg_analytics.pipeline import run_sync
from bsg_client.errors import BSGAPIError, BSGAuthError
from bsg_simulator.testing import TEST_NOW, make_simulator
from tests.reliability.rel_helpers import (
    API_KEY,
    LOGIN_KEY,
    SECRETS,
    SINCE,
    TOKEN,
    leaks_in_files,
    leaks_in_text,
    settings_for,
)

WRONG = "tok-SECRET-wrong-41aa07"
UNTIL = SINCE + timedelta(days=20)


def all_text_of(exc: BaseException) -> str:
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.args)


def assert_clean_error(exc: BaseException, endpoint: str, words: str, extra=()) -> None:
    text = str(exc)
    assert "\n" not in text, text
    assert endpoint in text and words in text, text
    assert not leaks_in_text(all_text_of(exc), (*SECRETS, *extra)), text


def test_a_refused_token_names_the_endpoint_and_the_api_message_not_the_token(
    tmp_path, transport_for
):
    sim = make_simulator(messages=500, token=TOKEN, api_key=API_KEY)
    with pytest.raises(BSGAuthError) as info:
        run_sync(settings_for(tmp_path / "d", api_token=WRONG), SINCE, UNTIL,
                 transport=transport_for(sim), now=TEST_NOW)  # fmt: skip
    assert info.value.status_code == 401
    assert_clean_error(info.value, "GET /api/messages", "Unauthenticated.", extra=[WRONG])
    assert describe_failure(info.value)[0] == 3
    assert not leaks_in_files(tmp_path, (*SECRETS, WRONG))


def test_a_refused_login_key_names_the_login_endpoint_not_the_key(tmp_path, transport_for):
    sim = make_simulator(messages=500, api_key="live_the_only_one_accepted")
    s = settings_for(tmp_path / "d", api_token=None, api_login_key=LOGIN_KEY)
    with pytest.raises(BSGAuthError) as info:
        run_sync(s, SINCE, UNTIL, transport=transport_for(sim), now=TEST_NOW)
    assert_clean_error(info.value, "POST /api/auth/login", "Invalid API key.")


@pytest.mark.parametrize(
    ("status", "body", "words", "cls"),
    [
        (403, {"message": f"Token {TOKEN} lacks the read scope"}, "lacks the", BSGAuthError),
        (401, {"message": f"Bearer {TOKEN} expired; key {API_KEY}"}, "expired", BSGAuthError),
        (
            422,
            {
                "message": "The given data was invalid.",
                "errors": {"filter[from]": [f"bad value (token {TOKEN})"]},
            },
            "The given data was invalid.",
            BSGAPIError,
        ),
    ],
)  # fmt: skip
def test_an_api_that_echoes_the_secret_does_not_get_it_into_the_error(
    status, body, words, cls, tmp_path
):
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, json=body)

    with pytest.raises(cls) as info:
        run_sync(settings_for(tmp_path / "d"), SINCE, UNTIL,
                 transport=httpx.MockTransport(handler), now=TEST_NOW)  # fmt: skip
    assert info.value.status_code == status
    assert_clean_error(info.value, "GET /api/messages", words)
    assert "***" in str(info.value)
    assert not leaks_in_text(info.value.api_message or "")


def test_a_login_key_sync_leaks_neither_the_key_nor_the_issued_bearers(tmp_path, transport_for):
    sim = make_simulator(messages=1_500, seed=4, api_key=LOGIN_KEY, token_ttl_requests=7,
                         fault_rate=0.2)  # fmt: skip
    s = settings_for(tmp_path / "d", api_token=None, api_login_key=LOGIN_KEY, page_limit=50)
    run_sync(s, SINCE, transport=transport_for(sim), now=TEST_NOW)
    issued = list(sim.issued_tokens)
    assert len(issued) > 2, "no renewal happened"
    assert not leaks_in_files(tmp_path, (*SECRETS, *issued))


# --- bad settings through the command line -------------------------------------------------


def invoke(tmp_path, args, **env):
    base = {"BSG_API_TOKEN": TOKEN, "BSG_DATA_DIR": str(tmp_path / "d")}
    base.update(env)
    base = {k: v for k, v in base.items() if v is not None}
    result = CliRunner().invoke(app, ["sync", "--no-progress", *args], env=base)
    err = result.stderr if hasattr(result, "stderr") else result.output
    return result, err


@pytest.mark.parametrize(
    ("args", "env", "needle"),
    [
        ([], {"BSG_API_URL": "ht!tp://exa mple"}, "BSG_API_URL"),
        (["--api-url", "ftp://one-api.bsg.world"], {}, "BSG_API_URL"),
        (["--rest-url", "http://"], {}, "BSG_REST_URL"),
        (["--timezone", "Mars/Olympus_Mons"], {}, "BSG_TIMEZONE"),
        ([], {"BSG_PAGE_LIMIT": "5"}, "BSG_PAGE_LIMIT"),
        ([], {"BSG_PAGE_LIMIT": "501"}, "BSG_PAGE_LIMIT"),
        ([], {"BSG_PAGE_LIMIT": "lots"}, "BSG_PAGE_LIMIT"),
        ([], {"BSG_API_TOKEN": None}, "BSG_API_TOKEN"),
        ([], {"BSG_API_TOKEN": "   "}, "BSG_API_TOKEN"),
        (["--since", "2026-13-45"], {}, "--since"),
    ],
)
def test_bad_settings_fail_at_once_with_one_clear_line(tmp_path, args, env, needle):
    result, err = invoke(tmp_path, args, **env)
    assert result.exit_code == 2, (result.exit_code, err)
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("bsg-analytics: ") and needle in lines[0], lines[0]
    assert TOKEN not in result.output + err
    assert not (tmp_path / "d" / "raw").exists(), "a bad setting still reached the API"


def test_a_data_directory_that_cannot_be_written_fails_at_once(tmp_path, transport_for):
    """Root ignores file modes, so the data directory sits under a regular file."""
    (tmp_path / "file").write_text("not a directory")
    s = settings_for(tmp_path / "file" / "data")
    calls = []

    def handler(request):
        calls.append(request)
        return httpx.Response(500)

    with pytest.raises(PermissionError) as info:
        run_sync(s, SINCE, transport=httpx.MockTransport(handler), now=TEST_NOW)
    code, line = describe_failure(info.value)
    assert code == 2 and "\n" not in line and "is not writable" in line
    assert not calls
