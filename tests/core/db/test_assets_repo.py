"""The assets table on SQLite and PostgreSQL: migration 0007, tenant scoping, dedupe by
content hash, search by name / tags, delete."""

from __future__ import annotations

from sqlalchemy import inspect

from core.db.assets import delete_asset, find_by_hash, get_asset, insert_asset, list_assets
from core.db.engine import Database
from core.db.migrate import downgrade, upgrade


def record(tenant: str, n: int, **kw) -> dict:
    base = {
        "asset_id": f"{n:032x}",
        "tenant_id": tenant,
        "kind": "logo",
        "name": f"logo {n}",
        "tags": ["brand"],
        "filename": "logo.png",
        "path": f"assets/{tenant}/{n:032x}.png",
        "size_bytes": 100,
        "sha256": f"{n:064x}",
        "mime": "image/png",
        "duration_s": None,
        "width": 40,
        "height": 20,
    }
    return {**base, **kw}


def test_migration_0007_creates_and_drops_the_table(db: Database) -> None:
    cols = {c["name"] for c in inspect(db.engine).get_columns("assets")}
    assert {"asset_id", "tenant_id", "kind", "sha256", "duration_s", "width"} <= cols
    downgrade(db, "0006_learning")
    assert "assets" not in inspect(db.engine).get_table_names()
    upgrade(db)
    assert "assets" in inspect(db.engine).get_table_names()


def test_same_content_is_stored_once_per_tenant(db: Database) -> None:
    first, created = insert_asset(db, record=record("acme", 1))
    assert created and first.tags == ["brand"] and first.created_at.tzinfo is not None
    again, created = insert_asset(db, record=record("acme", 2, sha256=first.sha256))
    assert not created and again.asset_id == first.asset_id
    other, created = insert_asset(db, record=record("globex", 3, sha256=first.sha256))
    assert created  # another tenant may hold the same bytes
    assert find_by_hash(db, tenant_id="globex", sha256=first.sha256).asset_id == other.asset_id


def test_reads_are_tenant_scoped(db: Database) -> None:
    mine, _ = insert_asset(db, record=record("acme", 10))
    assert get_asset(db, tenant_id="acme", asset_id=mine.asset_id) == mine
    assert get_asset(db, tenant_id="globex", asset_id=mine.asset_id) is None
    assert delete_asset(db, tenant_id="globex", asset_id=mine.asset_id) is None
    assert list_assets(db, tenant_id="globex").items == []
    assert delete_asset(db, tenant_id="acme", asset_id=mine.asset_id) == mine
    assert get_asset(db, tenant_id="acme", asset_id=mine.asset_id) is None


def test_search_by_kind_name_and_tags_newest_first(db: Database) -> None:
    insert_asset(db, record=record("t", 20, name="Summer Logo", tags=["beach", "2026"]))
    insert_asset(db, record=record("t", 21, kind="font", name="Headline", tags=["bold"]))
    insert_asset(db, record=record("t", 22, kind="music", name="Jingle_100%", tags=[]))

    def ids(**kw) -> list[int]:
        return [int(a.asset_id, 16) for a in list_assets(db, tenant_id="t", **kw).items]

    assert ids() == [22, 21, 20]
    assert ids(kind="font") == [21]
    assert ids(q="summer") == [20] and ids(q="BEACH") == [20] and ids(q="bold") == [21]
    assert ids(q="100%") == [22] and ids(q="summ_r") == []  # wildcards are literal
    page = list_assets(db, tenant_id="t", limit=2)
    assert len(page.items) == 2 and page.next_cursor
    rest = list_assets(db, tenant_id="t", limit=2, cursor=page.next_cursor)
    assert [int(a.asset_id, 16) for a in rest.items] == [20] and rest.next_cursor is None
