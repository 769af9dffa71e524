"""Atomic file writes: a reader sees either the old file, no file, or the whole new file.

Every file MitraSETI writes (exports, observations, models, tables) is first written to a
temporary file in the destination directory (same file system) and then moved over the
final name with ``os.replace``, which is atomic on POSIX and Windows. A failed write removes
its temporary file and leaves any previous file untouched. This module is the one place
that does it: :func:`atomic_open`, :func:`atomic_path`, :func:`atomic_write_bytes` /
:func:`atomic_write_text`, and for a writer that streams over several calls
:func:`temp_file_beside` + :func:`move_into_place`.
"""
from __future__ import annotations

import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Iterator

TMP_SUFFIX = ".part"
NAME_MAX = 255      # bytes in one file name on common file systems (ext4, XFS, APFS, NTFS)
_RANDOM_CHARS = 8   # what tempfile.mkstemp adds


def _default_mode() -> int:
    """Permissions an ordinary ``open(path, "w")`` would give (0o666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def temp_file_beside(path: str | os.PathLike, suffix: str = TMP_SUFFIX) -> tuple[int, Path]:
    """Create an empty temporary file in ``path``'s folder (created if needed) and return
    ``(fd, tmp_path)``. The name is ``.<name>.XXXXXXXX<suffix>``, with ``<name>`` shortened
    (whole UTF-8 characters) so that it fits in ``NAME_MAX`` bytes even when ``path``'s own
    name is close to the limit."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    room = NAME_MAX - len(suffix.encode("utf-8")) - _RANDOM_CHARS - 2
    stem = final.name.encode("utf-8")[:room].decode("utf-8", "ignore")
    fd, tmp_name = tempfile.mkstemp(prefix=f".{stem}.", suffix=suffix, dir=final.parent)
    return fd, Path(tmp_name)


def move_into_place(tmp: str | os.PathLike, path: str | os.PathLike) -> Path:
    """Give ``tmp`` the permissions of a newly created file and rename it onto ``path``
    (``os.replace``: atomic on POSIX and Windows). Returns ``path``."""
    os.chmod(tmp, _default_mode())
    os.replace(tmp, path)
    return Path(path)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success move it onto ``path``, on error
    remove it (any previous ``path`` stays untouched).

    Use it for libraries that write by file name (matplotlib, astropy, h5py). The temporary
    name starts with a dot and ends with ``.part`` so directory listings can ignore it.
    """
    fd, tmp = temp_file_beside(path)
    os.close(fd)
    try:
        yield tmp
        move_into_place(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


@contextmanager
def atomic_open(path: str | os.PathLike, mode: str = "w", **kwargs) -> Iterator[IO]:
    """``open(tmp, mode, **kwargs)`` on a temporary file beside ``path``; the file is
    flushed, fsynced and moved onto ``path`` when the block ends without error."""
    with atomic_path(path) as tmp:
        with open(tmp, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())


def atomic_write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (flushed and fsynced before the rename)."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` (UTF-8, newlines untranslated) to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))
