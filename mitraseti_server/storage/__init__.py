"""Storage layer: the metadata database, SQLite or PostgreSQL (``database``: the platform's
tables and every query on them; ``engine``: the engine and the Alembic ``migrations``),
blob stores behind one interface (``blobs``; ``local``, ``s3``; picked by ``registry``) and
the upload bookkeeping on top of them (``uploads``)."""
