from typer.testing import CliRunner

from bsg_analytics.cli import app

runner = CliRunner()


def test_help_lists_every_contract_command():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("demo", "sync", "simulate", "sql", "report", "rebuild", "serve"):
        assert command in result.output


def test_bad_setting_is_one_line_and_non_zero(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSG_TIMEZONE", "Nowhere/Land")
    result = runner.invoke(app, ["sync"])
    assert result.exit_code == 2
    assert "BSG_TIMEZONE" in result.output
    assert "Traceback" not in result.output


def test_bad_date_flag(monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["sync", "--since", "last tuesday"])
    assert result.exit_code == 2
    assert "--since must be YYYY-MM-DD" in result.output


def test_unwritable_data_dir_fails_at_once_with_one_line(monkeypatch, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BSG_API_TOKEN", "tok-x")
    result = runner.invoke(app, ["sync", "--data-dir", str(blocker / "data"), "--no-progress"])
    assert result.exit_code == 2
    assert "is not writable" in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_version_and_short_help():
    from importlib.metadata import version

    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output == f"bsg-analytics {version('bsg-analytics')}\n"
    for args in (["-h"], ["sync", "-h"], ["sql", "-h"]):
        result = runner.invoke(app, args)
        assert result.exit_code == 0 and "Usage: " in result.output, args


def test_every_sync_setting_option_says_what_it_is_and_its_variable():
    """Each option that overrides a setting has words of its own and names its BSG_ variable."""
    import re

    text = " ".join(runner.invoke(app, ["sync", "-h"], env={"COLUMNS": "200"}).output.split())
    for flag, var in [
        ("--api-url", "BSG_API_URL"), ("--rest-url", "BSG_REST_URL"),
        ("--timezone", "BSG_TIMEZONE"), ("--concurrency", "BSG_CONCURRENCY"),
        ("--window-days", "BSG_WINDOW_DAYS"), ("--lookback-hours", "BSG_LOOKBACK_HOURS"),
        ("--lookback", "BSG_LOOKBACK"), ("--orchestrator", "BSG_ORCHESTRATOR"),
        ("--data-dir", "BSG_DATA_DIR"),
    ]:  # fmt: skip
        found = re.search(rf"{flag}\b[^│]*?<\w+>\s+│?\s*(.+?)\[env: {var}\]", text)
        assert found and len(found.group(1).strip(" │")) > 10, (flag, found)


def test_views_lists_every_table_and_view_with_what_a_row_is():
    from bsg_analytics.schemas.tables import TABLES
    from bsg_analytics.warehouse import view_definitions

    result = runner.invoke(app, ["views"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    lines = result.output.splitlines()
    for name in [*TABLES, *view_definitions()]:
        assert any(line.split()[:1] == [name] for line in lines), name
    row = next(line for line in lines if line.startswith("message_facts "))
    assert "view" in row and "per message, with the facts every message metric counts by." in row
    row = next(line for line in lines if line.startswith("messages "))
    assert "table" in row and "one message of any channel" in row
