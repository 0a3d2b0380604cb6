"""``adcluster changes list/show/rollback/kill-switch`` against a migrated SQLite database."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from typer.testing import CliRunner

from cluster.cli import app
from core.db import changes as changes_db
from core.db.engine import Database
from core.db.models import PendingAdChange, utcnow
from core.execution.service import NewChange, request_change
from core.settings import Settings
from tests.support.executor_world import policy

runner = CliRunner()


@pytest.fixture
def url(make_settings: Callable[..., Settings]) -> str:
    return make_settings("sqlite").db_url


def run(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["changes", *args])
    return result.exit_code, result.stdout, result.stderr


def queue(url: str, key: str, tenant: str = "default", applied: bool = False) -> int:
    db = Database(url)
    with db.session() as s:
        change = NewChange("budget", key, "act_1", "c1", 1200, ad_set_id="as1")
        row, _ = request_change(s, change, tenant_id=tenant, requested_by="t", policy=policy())
        if applied:
            row = s.get(PendingAdChange, row.id)
            row.status, row.dry_run, row.old_value, row.applied_value = "applied", False, 1000, 1200
            row.applied_at = utcnow()
        cid = row.id
    db.dispose()
    return cid


def test_list_and_show(url: str) -> None:
    a = queue(url, "k1")
    queue(url, "k2", tenant="acme")
    code, out, _ = run("list", "--json", "--database-url", url)
    assert code == 0
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["id"] == a and record["status"] == "pending" and record["new_value"] == 1200
    code, out, _ = run("list", "--tenant", "acme", "--database-url", url)
    assert code == 0 and "as1" in out
    code, out, _ = run("show", str(a), "--json", "--database-url", url)
    detail = json.loads(out)
    assert code == 0 and [e["action"] for e in detail["audit"]] == ["requested"]
    assert run("show", str(a), "--tenant", "acme", "--database-url", url)[0] == 1  # not theirs


@pytest.mark.parametrize(
    "args, message",
    [
        (("list", "--status", "nope"), "unknown status"),
        (("list", "--kind", "delete"), "unknown kind"),
        (("list", "--cursor", "bogus"), "invalid cursor"),
        (("show", "424242"), "no change 424242"),
        (("rollback", "424242"), "no change 424242"),
        (("kill-switch", "maybe"), "unknown action"),
        (("kill-switch", "on"), "exactly one of"),
        (("kill-switch", "on", "--global", "--tenant", "x"), "exactly one of"),
    ],
)
def test_bad_input_is_a_message_and_a_non_zero_exit(url: str, args: tuple, message: str) -> None:
    code, _, err = run(*args, "--database-url", url)
    assert code != 0 and message in err


def test_rollback_only_of_applied_changes(url: str) -> None:
    pending = queue(url, "k1")
    code, _, err = run("rollback", str(pending), "--database-url", url)
    assert code == 1 and "only an applied change" in err
    done = queue(url, "k2", applied=True)
    code, out, _ = run("rollback", str(done), "--database-url", url)
    assert code == 0 and "queued as change" not in out and "back to 1000" in out
    code, out, _ = run("rollback", str(done), "--database-url", url)
    assert code == 0 and "already queued" in out


def test_kill_switch_is_persisted_per_tenant_and_global(url: str) -> None:
    code, out, _ = run(
        "kill-switch", "on", "--tenant", "acme", "--reason", "audit", "--database-url", url
    )  # noqa: E501
    assert code == 0 and "acme" in out and "ON" in out
    db = Database(url)
    with db.session() as s:
        assert "tenant acme" in changes_db.kill_switch_reason(s, "acme")
        assert changes_db.kill_switch_reason(s, "default") is None
    assert run("kill-switch", "on", "--global", "--database-url", url)[0] == 0
    with db.session() as s:
        assert "global" in changes_db.kill_switch_reason(s, "default")
    run("kill-switch", "off", "--global", "--database-url", url)
    run("kill-switch", "off", "--tenant", "acme", "--database-url", url)
    with db.session() as s:
        assert changes_db.kill_switch_reason(s, "acme") is None
    db.dispose()
    code, out, _ = run("kill-switch", "status", "--database-url", url)
    assert code == 0 and "global" in out and "ON" not in out
