"""Alembic environment: migrations run on the connection ``storage.engine.migrate`` passes
in ``config.attributes["connection"]``, inside its transaction (no engine of its own)."""
from alembic import context

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=None,
                  render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
