"""0001: the first catalog schema (catalog facts, bucket configs, repositories).

The tables are spelled out here as they were at this revision, not imported from the
models, so later changes to the models never rewrite history.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Create the tables of revision 0001."""
    op.create_table(
        "frazil_catalog_info",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
    )
    op.create_table(
        "frazil_bucket_configs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("nickname", sa.String(64), nullable=False),
        sa.Column("uri", sa.Text, nullable=False),
        sa.Column("extra_config", sa.JSON, nullable=False),
        sa.Column("auth_config", sa.JSON, nullable=False),
        sa.Column("is_default", sa.Boolean, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org", "nickname", name="uq_frazil_bucket_configs_org_nickname"),
    )
    op.create_table(
        "frazil_repos",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("org", sa.String(64), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column(
            "bucket_id",
            sa.Integer,
            sa.ForeignKey("frazil_bucket_configs.id", ondelete="RESTRICT"),
            nullable=True,
        ),
        sa.Column("prefix", sa.Text, nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=True),
        sa.Column("metadata", sa.JSON, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("org", "name", name="uq_frazil_repos_org_name"),
    )
    op.create_index("ix_frazil_repos_bucket_id", "frazil_repos", ["bucket_id"])


def downgrade() -> None:
    """Drop every table of revision 0001."""
    op.drop_index("ix_frazil_repos_bucket_id", table_name="frazil_repos")
    op.drop_table("frazil_repos")
    op.drop_table("frazil_bucket_configs")
    op.drop_table("frazil_catalog_info")
