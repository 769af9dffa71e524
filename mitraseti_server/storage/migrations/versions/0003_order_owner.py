"""Insertion order without SQLite's rowid (``inserted_ns`` on jobs and api_keys) and the
executor that claimed a job (``jobs.owner``), so several API processes can share one
database.

Rows made before this revision get their SQLite rowid as ``inserted_ns`` (they sort
before any row inserted later, whose value is the insert time in ns).

Revision ID: 0003_order_owner
Revises: 0002_jobs
"""
import sqlalchemy as sa
from alembic import op

revision = "0003_order_owner"
down_revision = "0002_jobs"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("jobs", sa.Column("inserted_ns", sa.BigInteger, nullable=False,
                                    server_default="0"))
    op.add_column("jobs", sa.Column("owner", sa.Text))
    op.add_column("api_keys", sa.Column("inserted_ns", sa.BigInteger, nullable=False,
                                        server_default="0"))
    if op.get_bind().dialect.name == "sqlite":
        op.execute("UPDATE jobs SET inserted_ns = rowid")
        op.execute("UPDATE api_keys SET inserted_ns = rowid")
    op.create_index("jobs_queue", "jobs", ["status", "created_at", "inserted_ns"])


def downgrade() -> None:
    op.drop_index("jobs_queue", "jobs")
    with op.batch_alter_table("api_keys") as batch:
        batch.drop_column("inserted_ns")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("owner")
        batch.drop_column("inserted_ns")
