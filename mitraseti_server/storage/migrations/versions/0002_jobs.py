"""The jobs layer's tables: jobs and the monthly usage counter job_usage.

Revision ID: 0002_jobs
Revises: 0001_platform
"""
import sqlalchemy as sa
from alembic import op

revision = "0002_jobs"
down_revision = "0001_platform"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "jobs",
        sa.Column("job_id", sa.Text, primary_key=True),
        sa.Column("user_id", sa.Text, nullable=False),
        sa.Column("status", sa.Text, nullable=False, server_default="submitted"),
        sa.Column("file_key", sa.Text, nullable=False),
        sa.Column("filename", sa.Text, nullable=False),
        sa.Column("source_name", sa.Text, nullable=False),
        sa.Column("file_size", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("params", sa.Text, nullable=False, server_default="{}"),
        sa.Column("webhook_url", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("started_at", sa.BigInteger),
        sa.Column("completed_at", sa.BigInteger),
        sa.Column("error", sa.Text),
        sa.Column("results", sa.Text),
        sa.Column("exports", sa.Text, nullable=False, server_default="{}"),
        sa.Column("exports_ready", sa.Integer, nullable=False, server_default="0"),
        sa.Column("progress", sa.Text),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("pid", sa.Integer),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
        sa.CheckConstraint("status IN ('submitted', 'processing', 'complete', 'failed')",
                           name="jobs_status_check"),
    )
    op.create_index("jobs_user_created", "jobs", ["user_id", "created_at"])
    op.create_index("jobs_status", "jobs", ["status", "created_at"])
    op.create_table(
        "job_usage",
        sa.Column("user_id", sa.Text, primary_key=True),
        sa.Column("month", sa.Text, primary_key=True),
        sa.Column("jobs", sa.Integer, nullable=False, server_default="0"),
    )


def downgrade() -> None:
    op.drop_table("job_usage")
    op.drop_table("jobs")
