"""Look into the service's database from tests (either engine), with named parameters:

    rows(store, "SELECT state FROM uploads WHERE file_key=:key", key=key)
"""
from __future__ import annotations

import sqlalchemy as sa


def rows(store, sql: str, **params) -> list[dict]:
    """Every row of ``sql`` as a dict (column name -> value)."""
    with store.read() as conn:
        return [dict(r._mapping) for r in conn.execute(sa.text(sql), params)]


def execute(store, sql: str, **params) -> int:
    """Run a write statement in its own transaction; the number of rows it touched."""
    with store.transaction() as conn:
        return conn.execute(sa.text(sql), params).rowcount
