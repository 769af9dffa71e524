"""The platform's tables: users, api_keys, uploads, reports.

Revision ID: 0001_platform
Revises:
"""
import sqlalchemy as sa
from alembic import op

revision = "0001_platform"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("name", sa.Text, nullable=False, unique=True),
        sa.Column("tier", sa.Text, nullable=False),
        sa.Column("external_sub", sa.Text, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "api_keys",
        sa.Column("key_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, sa.ForeignKey("users.user_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("digest", sa.Text, nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
        sa.Column("active", sa.Integer, nullable=False, server_default="1"),
    )
    op.create_index("api_keys_user", "api_keys", ["user_id", "created_at"])
    op.create_table(
        "uploads",
        sa.Column("upload_id", sa.Text, primary_key=True),
        sa.Column("file_key", sa.Text, nullable=False),
        sa.Column("user_id", sa.Text, sa.ForeignKey("users.user_id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("size", sa.BigInteger),
        sa.Column("multipart", sa.Integer, nullable=False, server_default="0"),
        sa.Column("parts", sa.Integer, nullable=False, server_default="1"),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("completed_at", sa.BigInteger),
        sa.CheckConstraint("state IN ('pending', 'complete', 'aborted')",
                           name="uploads_state_check"),
    )
    op.create_index("uploads_state", "uploads", ["state", "created_at"])
    op.create_index("uploads_key", "uploads", ["file_key"])
    op.create_table(
        "reports",
        sa.Column("report_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("job_id", sa.Text, nullable=False),
        sa.Column("error_type", sa.Text),
        sa.Column("description", sa.Text),
        sa.Column("metadata", sa.Text, nullable=False, server_default="{}"),
        sa.Column("created_at", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("reports", "uploads", "api_keys", "users"):
        op.drop_table(table)
