"""MitraSETI REST service (Tornado), in layers; each imports only the layers below it.

- ``api``: HTTP handlers, request validation against the OpenAPI schemas, error mapping;
- ``jobs``: the jobs service, its table, the executor, the runner process, kernel pool,
  retention sweeps and webhooks;
- ``auth``: API keys and bearer tokens;
- ``storage``: the database (SQLite or PostgreSQL) and the blob stores (local, S3);
- ``config``, ``errors``: the validated configuration and the error types every layer uses.

``services`` wires the layers together, ``app`` serves them, ``commands`` is the CLI.
See docs/architecture.md.
"""
