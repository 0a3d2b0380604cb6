"""prediction_log: drop the tenant-only index (the lookup index leads with tenant_id)

Every served prediction inserts a row, so each index of this table costs on the request
path's follow-up work; ``ix_prediction_log_lookup`` (tenant_id, kind, ad_id, served_at)
already serves every query by tenant.

Revision ID: 0008_prediction_log_tenant_index
Revises: 0007_assets
Create Date: 2026-11-26 18:15:00
"""

from __future__ import annotations

from alembic import op

revision = "0008_prediction_log_tenant_index"
down_revision = "0007_assets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("prediction_log", schema=None) as batch_op:
        batch_op.drop_index("ix_prediction_log_tenant_id")


def downgrade() -> None:
    with op.batch_alter_table("prediction_log", schema=None) as batch_op:
        batch_op.create_index("ix_prediction_log_tenant_id", ["tenant_id"], unique=False)
