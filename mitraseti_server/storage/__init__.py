"""Storage layer: the metadata database, SQLite or PostgreSQL (``database``: the platform's
tables and every query on them; ``engine``: the engine and the Alembic ``migrations``),
blob stores behind one interface (``blobs``; ``local``, ``s3``; picked by ``registry``) and
the upload bookkeeping on top of them (``uploads``)."""
import logging

# alembic announces each of its plugins at INFO when it is imported: noise in the
# service's log (migrations themselves still log at INFO)
logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
