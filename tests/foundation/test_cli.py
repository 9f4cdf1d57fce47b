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
