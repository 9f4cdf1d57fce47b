import pytest

from bsg_analytics.settings import DEFAULT_API_URL, SettingsError, load_settings


def test_defaults_follow_the_contract(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # no stray .env
    s = load_settings()
    assert s.api_url == DEFAULT_API_URL
    assert s.timezone == "UTC"
    assert s.data_dir == "./data"
    assert s.page_limit == 500
    assert s.lookback_hours == 72
    assert s.credentials().api_token is None


def test_environment_and_flags(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSG_API_URL", "http://127.0.0.1:9000/")
    monkeypatch.setenv("BSG_API_TOKEN", "tok-env")
    s = load_settings(api_url="http://127.0.0.1:9001")
    assert s.api_url == "http://127.0.0.1:9001"  # a flag beats the environment
    assert s.credentials().api_token == "tok-env"


def test_dotenv_is_read(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("BSG_TIMEZONE=Europe/Kyiv\nBSG_API_KEY=live_abc\n")
    s = load_settings()
    assert s.timezone == "Europe/Kyiv"
    assert s.credentials().rest_api_key == "live_abc"


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"api_url": "not a url"}, "BSG_API_URL"),
        ({"api_url": "ftp://example.invalid"}, "BSG_API_URL"),
        ({"rest_url": "http://"}, "BSG_REST_URL"),
        ({"api_url": "http://127.0.0.1:99999"}, "BSG_API_URL"),
        ({"api_url": "http://127.0.0.1:port"}, "BSG_API_URL"),
        ({"api_url": "http://exa mple.invalid"}, "BSG_API_URL"),
        ({"api_url": "http://example.invalid/\x00"}, "BSG_API_URL"),
        ({"api_url": "http://[::1"}, "BSG_API_URL"),
        ({"timezone": "Mars/Olympus_Mons"}, "BSG_TIMEZONE"),
        ({"page_limit": 10}, "BSG_PAGE_LIMIT"),
        ({"page_limit": 501}, "BSG_PAGE_LIMIT"),
        ({"window_days": 200}, "BSG_WINDOW_DAYS"),
    ],
)
def test_bad_settings_fail_with_one_clear_line(overrides, needle, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SettingsError) as exc:
        load_settings(**overrides)
    message = str(exc.value)
    assert needle in message
    assert "\n" not in message


def test_secrets_never_show_in_reprs(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    s = load_settings(api_token="s3cr3t-token", api_key="live_s3cr3t")
    assert "s3cr3t" not in repr(s)
    assert "s3cr3t" not in str(s.model_dump())
    assert "s3cr3t" not in repr(s.credentials())
    assert sorted(s.secrets()) == ["live_s3cr3t", "s3cr3t-token"]


def test_blank_secret_counts_as_missing(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    assert load_settings(api_token="   ").credentials().api_token is None
