"""The webhook outbox: one ``webhook_deliveries`` row per event to send.

Rows are created by the revision ``0004_job_control``. ``state`` is ``pending`` (due at
``next_attempt_at``, unix s), ``sending`` (claimed by the sender ``owner``), ``delivered``
or ``failed`` (every attempt used). ``body`` is the JSON sent.
"""
from __future__ import annotations

import sqlalchemy as sa

from mitraseti_server.storage.database import metadata

PENDING, SENDING, DELIVERED, FAILED = "pending", "sending", "delivered", "failed"

webhook_deliveries = sa.Table(
    "webhook_deliveries", metadata,
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
    sa.Index("webhook_deliveries_due", "state", "next_attempt_at"),
    sa.Index("webhook_deliveries_job", "job_id", "inserted_ns"),
)
