"""``adcluster keys create/revoke/list`` against a migrated SQLite database."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from cluster.keys_cli import app
from core.db import keys
from core.db.engine import Database
from core.settings import Settings

runner = CliRunner()


@pytest.fixture
def url(make_settings: Callable[..., Settings]) -> str:
    return make_settings("sqlite").db_url


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_create_prints_the_key_once_and_stores_its_hash(url: str) -> None:
    code, out, err = run("create", "--name", "ci", "--rate-limit", "60", "--database-url", url)
    assert code == 0, err
    key = out.strip()
    assert keys.key_prefix(key) is not None and "shown once" in err
    db = Database(url)
    info = keys.lookup_key(db, key, touch=False)
    assert info.name == "ci" and info.rate_limit_per_min == 60 and info.tenant_id == "default"
    db.dispose()
    code, out, _ = run("list", "--database-url", url)
    assert code == 0 and info.prefix in out and key not in out


def test_create_for_a_tenant_and_list_json(url: str) -> None:
    run("create", "--name", "a", "--tenant", "acme", "--database-url", url)
    run("create", "--name", "b", "--database-url", url)
    code, out, _ = run("list", "--tenant", "acme", "--json", "--database-url", url)
    assert code == 0
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["tenant_id"] == "acme" and record["revoked_at"] is None
    assert record["rate_limit_per_min"] == 600


def test_revoke_by_prefix_then_hidden_from_active(url: str) -> None:
    _, out, _ = run("create", "--name", "gone", "--database-url", url)
    prefix = keys.key_prefix(out.strip())
    code, out, _ = run("revoke", prefix, "--database-url", url)
    assert code == 0 and "revoked" in out
    assert run("revoke", prefix, "--database-url", url)[0] == 0  # idempotent
    _, out, _ = run("list", "--active", "--database-url", url)
    assert prefix not in out


@pytest.mark.parametrize("form", ["adc_{p}", "adc_{p}_", "{p}", "  adc_{p} "])
def test_revoke_accepts_the_prefix_as_the_key_shows_it(url: str, form: str) -> None:
    _, key, _ = run("create", "--name", "k", "--database-url", url)
    prefix = keys.key_prefix(key.strip())
    code, out, err = run("revoke", form.format(p=prefix), "--database-url", url)
    assert code == 0 and "revoked" in out, err
    _, out, _ = run("list", "--database-url", url)
    assert prefix in out and "revoked" in out


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("revoke", "deadbeef"), 1, "no key with prefix"),
        (("revoke", "adc_deadbeef"), 1, "no key with prefix 'deadbeef'"),
        (("revoke", "adc_xyz"), 2, "not a key prefix"),
        (("create", "--name", "x", "--rate-limit", "-1"), 2, ""),
        (("create",), 2, ""),
    ],
)
def test_bad_input_exit_codes(url: str, args: tuple[str, ...], code: int, message: str) -> None:
    result = runner.invoke(app, [*args, "--database-url", url])
    assert result.exit_code == code
    assert message in result.stderr


def test_unreachable_database_is_a_clean_error() -> None:
    code, _, err = run("list", "--database-url", "sqlite:////nonexistent/dir/x.db")
    assert code == 1 and "database error" in err
