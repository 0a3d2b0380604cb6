"""The ``adcluster`` CLI: clear messages and exit codes."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from cluster.cli import app

runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for word in ("up", "down", "demo", "db"):
        assert word in result.output


def test_db_upgrade_creates_database(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    result = runner.invoke(app, ["db", "upgrade", "--database-url", url])
    assert result.exit_code == 0, result.output
    assert "revision" in result.output and "sqlite" in result.output
    assert (tmp_path / "cli.db").stat().st_size > 0


def test_db_upgrade_bad_url_fails_with_message(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["db", "upgrade", "--database-url", "postgresql://nobody@127.0.0.1:1/none"]
    )
    assert result.exit_code == 1
    assert "migration failed" in result.output


def test_invalid_setting_is_reported(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ADCLUSTER_WINNER__MIN_CTR", "lots")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2 and "invalid settings" in result.output
    assert "winner.min_ctr" in result.output


def test_misspelt_setting_names_the_variable(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("ADCLUSTER_WINER__MIN_CTR", "0.1")
    result = runner.invoke(app, ["db", "upgrade"])
    assert result.exit_code == 2 and "ADCLUSTER_WINER__MIN_CTR" in result.output


def test_an_error_with_brackets_is_printed_as_it_is(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import cluster.cli as cli

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("[ALERT] cannot bind socket [/tmp/haproxy.cfg:73]")

    monkeypatch.setattr("cluster.demo.run_demo", broken)
    result = runner.invoke(cli.app, ["demo"])
    assert result.exit_code == 1
    assert "demo failed: RuntimeError: [ALERT] cannot bind socket [/tmp/haproxy.cfg:73]" in (
        result.output.replace("\n", "")
    )
