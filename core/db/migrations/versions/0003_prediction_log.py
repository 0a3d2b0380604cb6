"""prediction log: every served prediction (SPEC §2)

Revision ID: 0003_prediction_log
Revises: 0002_tenant_scoped_ids
Create Date: 2026-11-25 20:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003_prediction_log"
down_revision = "0002_tenant_scoped_ids"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "prediction_log",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("ad_id", sa.String(length=128), nullable=True),
        sa.Column("model_version", sa.String(length=64), nullable=False),
        sa.Column("inputs", JSON, nullable=False),
        sa.Column("output", JSON, nullable=False),
        sa.Column("served_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tenant_id", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("prediction_log", schema=None) as batch_op:
        batch_op.create_index(
            "ix_prediction_log_lookup", ["tenant_id", "kind", "ad_id", "served_at"], unique=False
        )
        batch_op.create_index("ix_prediction_log_served_at", ["served_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_prediction_log_tenant_id"), ["tenant_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_log_tenant_id"))
        batch_op.drop_index("ix_prediction_log_served_at")
        batch_op.drop_index("ix_prediction_log_lookup")
    op.drop_table("prediction_log")
