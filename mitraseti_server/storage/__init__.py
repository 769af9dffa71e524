"""Storage layer: the SQLite database (``database``: every platform query), blob stores
behind one interface (``blobs``; ``local``, ``s3``; picked by ``registry``) and the upload
bookkeeping on top of them (``uploads``)."""
