"""learning: cycles, schedule, results, allocation decisions (§4); live simulator markets

Revision ID: 0006_learning
Revises: 0005_ad_changes
Create Date: 2026-11-26 02:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006_learning"
down_revision = "0005_ad_changes"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "learning_cycles",
        sa.Column("cycle_id", sa.String(length=36), nullable=False),
        sa.Column("trigger", sa.String(length=16), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("owner", sa.String(length=128), nullable=True),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("heartbeat_at", TS, nullable=False),
        sa.Column("completed_at", TS, nullable=True),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("cycle_id", name="learning_cycles_pkey"),
    )
    with op.batch_alter_table("learning_cycles", schema=None) as batch_op:
        batch_op.create_index("ix_learning_cycles_tenant_id", ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_learning_cycles_tenant_started", ["tenant_id", "started_at"], unique=False
        )
        batch_op.create_index(
            "ux_learning_cycles_running",
            ["tenant_id"],
            unique=True,
            sqlite_where=sa.text("status = 'running'"),
            postgresql_where=sa.text("status = 'running'"),
        )
    op.create_table(
        "learning_schedule",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("next_due_at", TS, nullable=False),
        sa.Column("last_cycle_id", sa.String(length=36), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="learning_schedule_pkey"),
    )
    op.create_table(
        "learning_results",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("cycle_id", sa.String(length=36), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="learning_results_pkey"),
    )
    with op.batch_alter_table("learning_results", schema=None) as batch_op:
        batch_op.create_index("ix_learning_results_tenant_id", ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_learning_results_latest", ["tenant_id", "kind", "created_at"], unique=False
        )
    op.create_table(
        "allocation_decisions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("cycle_id", sa.String(length=36), nullable=False),
        sa.Column("experiment_id", sa.String(length=128), nullable=False),
        sa.Column("ad_id", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.String(length=64), nullable=False),
        sa.Column("propensity", sa.Float(), nullable=False),
        sa.Column("decided_at", TS, nullable=False),
        sa.Column("reward", sa.Float(), nullable=True),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id", name="allocation_decisions_pkey"),
    )
    with op.batch_alter_table("allocation_decisions", schema=None) as batch_op:
        batch_op.create_index("ix_allocation_decisions_tenant_id", ["tenant_id"], unique=False)
        batch_op.create_index(
            "ix_allocation_decisions_exp",
            ["tenant_id", "experiment_id", "decided_at"],
            unique=False,
        )

    op.create_table(
        "simulator_markets",
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.LargeBinary(), nullable=False),
        sa.Column("anchored_at", TS, nullable=False),
        sa.Column("hours_run", sa.Integer(), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("tenant_id", name="simulator_markets_pkey"),
    )


def downgrade() -> None:
    op.drop_table("simulator_markets")
    for table, indexes in (
        (
            "allocation_decisions",
            ["ix_allocation_decisions_exp", "ix_allocation_decisions_tenant_id"],
        ),
        ("learning_results", ["ix_learning_results_latest", "ix_learning_results_tenant_id"]),
        (
            "learning_cycles",
            [
                "ux_learning_cycles_running",
                "ix_learning_cycles_tenant_started",
                "ix_learning_cycles_tenant_id",
            ],
        ),
    ):
        with op.batch_alter_table(table, schema=None) as batch_op:
            for name in indexes:
                batch_op.drop_index(name)
        op.drop_table(table)
    op.drop_table("learning_schedule")
