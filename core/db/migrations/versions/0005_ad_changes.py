"""ad changes: pending_ad_changes, ad_change_audit, kill_switches (SPEC §3.5)

Revision ID: 0005_ad_changes
Revises: 0004_model_registry
Create Date: 2026-11-26 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005_ad_changes"
down_revision = "0004_model_registry"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# Frozen text (migrations never import the live code): wake executors on a new change.
POSTGRES_NOTIFY_CREATE = [
    """
CREATE OR REPLACE FUNCTION adc_notify_ad_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('adcluster_ad_changes', NEW.tenant_id);
  RETURN NULL;
END
$$;
""",
    """
CREATE TRIGGER trg_pending_ad_changes_notify AFTER INSERT ON pending_ad_changes
FOR EACH ROW EXECUTE FUNCTION adc_notify_ad_change();
""",
]
POSTGRES_NOTIFY_DROP = [
    "DROP TRIGGER IF EXISTS trg_pending_ad_changes_notify ON pending_ad_changes",
    "DROP FUNCTION IF EXISTS adc_notify_ad_change()",
]


def upgrade() -> None:
    op.create_table(
        "pending_ad_changes",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("account_id", sa.String(length=128), nullable=False),
        sa.Column("campaign_id", sa.String(length=128), nullable=False),
        sa.Column("ad_set_id", sa.String(length=128), nullable=True),
        sa.Column("ad_id", sa.String(length=128), nullable=True),
        sa.Column("object_id", sa.String(length=128), nullable=False),
        sa.Column("old_value", JSON, nullable=True),
        sa.Column("new_value", JSON, nullable=False),
        sa.Column("applied_value", JSON, nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=True),
        sa.Column("dry_run", sa.Boolean(), nullable=True),
        sa.Column("decision", sa.String(length=16), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("earliest_execute_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("claimed_by", sa.String(length=128), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("leased_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("rollback_of", sa.BigInteger(), nullable=True),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pending_ad_changes_pkey"),
        sa.UniqueConstraint(
            "tenant_id", "idempotency_key", name="pending_ad_changes_tenant_id_idempotency_key_key"
        ),
    )
    with op.batch_alter_table("pending_ad_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_pending_ad_changes_claim", ["status", "earliest_execute_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_pending_ad_changes_tenant_created", ["tenant_id", "created_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_pending_ad_changes_history",
            ["tenant_id", "campaign_id", "applied_at"],
            unique=False,
        )
        batch_op.create_index("ix_pending_ad_changes_tenant_id", ["tenant_id"], unique=False)
    op.create_table(
        "ad_change_audit",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("change_id", sa.BigInteger(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("object_id", sa.String(length=128), nullable=False),
        sa.Column("before", JSON, nullable=True),
        sa.Column("after", JSON, nullable=True),
        sa.Column("platform_response", JSON, nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="ad_change_audit_pkey"),
    )
    with op.batch_alter_table("ad_change_audit", schema=None) as batch_op:
        batch_op.create_index("ix_ad_change_audit_change_id", ["change_id"], unique=False)
        batch_op.create_index("ix_ad_change_audit_tenant_id", ["tenant_id"], unique=False)
    op.create_table(
        "kill_switches",
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("engaged", sa.Boolean(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("set_by", sa.String(length=200), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("scope", name="kill_switches_pkey"),
    )
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_NOTIFY_CREATE:
            op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_NOTIFY_DROP:
            op.execute(statement)
    op.drop_table("kill_switches")
    with op.batch_alter_table("ad_change_audit", schema=None) as batch_op:
        batch_op.drop_index("ix_ad_change_audit_tenant_id")
        batch_op.drop_index("ix_ad_change_audit_change_id")
    op.drop_table("ad_change_audit")
    with op.batch_alter_table("pending_ad_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_pending_ad_changes_tenant_id")
        batch_op.drop_index("ix_pending_ad_changes_history")
        batch_op.drop_index("ix_pending_ad_changes_tenant_created")
        batch_op.drop_index("ix_pending_ad_changes_claim")
    op.drop_table("pending_ad_changes")
