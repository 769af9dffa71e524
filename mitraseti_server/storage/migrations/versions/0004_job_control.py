"""Job control and the webhook outbox: a ``cancelled`` job status, the job's retry count,
and ``webhook_deliveries``, one row per webhook event to send (durable across restarts,
retried with backoff, its delivery state shown on the job).

Revision ID: 0004_job_control
Revises: 0003_order_owner
"""
import sqlalchemy as sa
from alembic import op

revision = "0004_job_control"
down_revision = "0003_order_owner"
branch_labels = None
depends_on = None

OLD_STATUSES = "status IN ('submitted', 'processing', 'complete', 'failed')"
NEW_STATUSES = "status IN ('submitted', 'processing', 'complete', 'failed', 'cancelled')"


def _jobs_table(check: str) -> sa.Table:
    """The jobs table as of this revision (SQLite rebuilds the table from it)."""
    return sa.Table(
        "jobs", sa.MetaData(),
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
        sa.Column("inserted_ns", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("owner", sa.Text),
        sa.CheckConstraint(check, name="jobs_status_check"),
        sa.Index("jobs_user_created", "user_id", "created_at"),
        sa.Index("jobs_status", "status", "created_at"),
        sa.Index("jobs_queue", "status", "created_at", "inserted_ns"),
    )


def _set_status_check(check: str) -> None:
    if op.get_bind().dialect.name == "sqlite":      # SQLite cannot alter a constraint
        with op.batch_alter_table("jobs", recreate="always",
                                  copy_from=_jobs_table(check)) as batch:
            batch.alter_column("status", existing_type=sa.Text)
    else:
        op.drop_constraint("jobs_status_check", "jobs", type_="check")
        op.create_check_constraint("jobs_status_check", "jobs", check)


def upgrade() -> None:
    _set_status_check(NEW_STATUSES)
    op.add_column("jobs", sa.Column("retries", sa.Integer, nullable=False,
                                    server_default="0"))
    op.create_table(
        "webhook_deliveries",
        sa.Column("delivery_id", sa.Text, primary_key=True),
        sa.Column("job_id", sa.Text, nullable=False),
        sa.Column("event", sa.Text, nullable=False),
        sa.Column("url", sa.Text, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("state", sa.Text, nullable=False, server_default="pending"),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", sa.BigInteger, nullable=False),
        sa.Column("last_code", sa.Integer),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("delivered_at", sa.BigInteger),
        sa.Column("inserted_ns", sa.BigInteger, nullable=False, server_default="0"),
        sa.Column("owner", sa.Text),
        sa.CheckConstraint("state IN ('pending', 'sending', 'delivered', 'failed')",
                           name="webhook_deliveries_state_check"),
    )
    op.create_index("webhook_deliveries_due", "webhook_deliveries",
                    ["state", "next_attempt_at"])
    op.create_index("webhook_deliveries_job", "webhook_deliveries",
                    ["job_id", "inserted_ns"])


def downgrade() -> None:
    op.drop_index("webhook_deliveries_job", "webhook_deliveries")
    op.drop_index("webhook_deliveries_due", "webhook_deliveries")
    op.drop_table("webhook_deliveries")
    with op.batch_alter_table("jobs") as batch:
        batch.drop_column("retries")
    op.execute("UPDATE jobs SET status = 'failed', error = 'cancelled' "
               "WHERE status = 'cancelled'")
    _set_status_check(OLD_STATUSES)
