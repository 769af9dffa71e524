"""Exports are written atomically: no temp file remains, a reader never sees half a file."""
from __future__ import annotations

import json
import os
import threading

import pytest

from mitraseti.export import write_all
from mitraseti.export.atomic import TMP_SUFFIX, atomic_path, atomic_write_text


def test_no_temp_files_left_and_permissions(result, tmp_path):
    out = tmp_path / "out"
    write_all(result, out)
    leftovers = [p for p in out.rglob("*") if p.name.startswith(".") or
                 p.name.endswith(TMP_SUFFIX)]
    assert leftovers == []
    umask = os.umask(0)
    os.umask(umask)
    assert (out / "results.json").stat().st_mode & 0o777 == 0o666 & ~umask


def test_failed_write_keeps_old_file_and_cleans_up(tmp_path):
    target = tmp_path / "results.json"
    atomic_write_text(target, '{"old": true}\n')
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"new": tr')          # half written ...
            raise RuntimeError("writer crashed")  # ... then the writer dies
    assert json.loads(target.read_text()) == {"old": True}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results.json"]


def test_concurrent_reader_never_sees_partial_file(tmp_path):
    """A reader polling the file while it is rewritten always parses a whole document."""
    target = tmp_path / "results.json"
    docs = [json.dumps({"n": i, "pad": "x" * 400_000}) for i in range(2)]
    atomic_write_text(target, docs[0])
    stop = threading.Event()
    bad: list[str] = []
    reads = [0]

    def reader():
        while not stop.is_set():
            text = target.read_text()
            reads[0] += 1
            try:
                json.loads(text)
            except ValueError:
                bad.append(f"{len(text)} bytes")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for i in range(40):
            atomic_write_text(target, docs[i % 2])
    finally:
        stop.set()
        thread.join()
    assert reads[0] > 0 and bad == []
