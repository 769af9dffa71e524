"""Files are written atomically (mitraseti.atomic, the one place that does it): no temp file
remains, a reader never sees half a file, a long name still fits."""
from __future__ import annotations

import json
import os
import threading

import pytest

from mitraseti.atomic import (NAME_MAX, TMP_SUFFIX, atomic_open, atomic_path,
                              atomic_write_text, temp_file_beside)
from mitraseti.export import write_all


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


@pytest.mark.parametrize("name", ["a" * 240 + ".csv", "\u00e9" * 123 + "x.csv"])
def test_names_near_the_limit_still_get_a_temp_file(tmp_path, name):
    """The temporary name is shortened so it fits even when the final one barely does."""
    assert len(name.encode()) > NAME_MAX - 16
    target = tmp_path / name
    with atomic_open(target, "w", newline="") as fh:
        fh.write("a,b\r\n")
    assert target.read_bytes() == b"a,b\r\n"
    assert [p.name for p in tmp_path.iterdir()] == [name]
    fd, tmp = temp_file_beside(target, suffix=".part.ipynb")
    os.close(fd)
    assert len(tmp.name.encode()) <= NAME_MAX and tmp.name.endswith(".part.ipynb")


def test_every_writer_in_the_package_uses_this_module():
    """Temp-file-and-rename is written once: no other module of mitraseti calls os.replace
    or renames a temporary file itself."""
    import re
    from pathlib import Path

    import mitraseti

    root = Path(mitraseti.__file__).parent
    pattern = re.compile(r"os\.replace\(|\.rename\(|\btmp\w*\.replace\(|mkstemp\(")
    offenders = [f"{p.relative_to(root)}:{i}" for p in root.rglob("*.py")
                 if p.name != "atomic.py"
                 for i, line in enumerate(p.read_text().splitlines(), 1)
                 if pattern.search(line)]
    assert offenders == []
