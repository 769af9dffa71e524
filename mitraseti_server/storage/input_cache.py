"""A bounded cache of local copies of remote objects (the S3 inputs jobs read as files).

Layout under ``root``: ``objects/<digest>/<file name>`` (the copy, named like the key's
last part so readers see the .fil/.h5 extension) and ``locks/<digest>.pin|.fetch`` (empty
lock files), where ``<digest>`` is a SHA-256 of the key.

``InputCache.use(key, fetch)`` is a context manager: it pins the key, downloads it once
(``fetch(dest)`` writes a temp file that is renamed into place) and yields the local path.
Pins are shared ``flock`` locks on the key's ``.pin`` file, held while the copy is in use;
the pruner deletes a copy only while it holds that lock exclusively, so copies in use are
never removed, across threads and processes alike (a crashed process's locks go with it).
Concurrent users of one key download it once: the download holds the ``.fetch`` lock.
After each download and each release the cache is pruned to ``budget`` bytes, least
recently used first (the copy's mtime, touched on every use). A copy larger than the whole
budget is still served, and removed once nobody uses it.

Lock files are removed with their copy (under the exclusive pin lock); whoever locks a
file checks that it is still the one at that path, and opens it again otherwise.
"""
from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import shutil
from pathlib import Path
from typing import Callable, Iterator

from mitraseti.atomic import TMP_SUFFIX, move_into_place, temp_file_beside

log = logging.getLogger("mitraseti_server.input_cache")
GIB = 1024 ** 3


class InputCache:
    """Local copies of objects under ``root``, pruned to ``budget`` bytes (LRU)."""

    def __init__(self, root: str | Path, budget: int):
        self.root = Path(root)
        self.budget = int(budget)
        self.objects = self.root / "objects"
        self.locks = self.root / "locks"
        self.objects.mkdir(parents=True, exist_ok=True)
        self.locks.mkdir(parents=True, exist_ok=True)

    def _digest(self, key: str) -> str:
        return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()[:40]

    def path_of(self, key: str) -> Path:
        """Where the copy of ``key`` lives (whether or not it is there now)."""
        return self.objects / self._digest(key) / key.rsplit("/", 1)[-1]

    @contextlib.contextmanager
    def use(self, key: str, fetch: Callable[[Path], None],
            prune: bool = True) -> Iterator[Path]:
        """Pin ``key``, download it if missing (``fetch(temp_path)``), yield its path;
        unpin and (with ``prune``) prune on exit."""
        digest = self._digest(key)
        pin = _lock(self.locks / f"{digest}.pin", fcntl.LOCK_SH)
        try:
            path = self.path_of(key)
            if path.is_file():
                os.utime(path)                      # most recently used
            else:
                self._download(digest, path, fetch)
            yield path
        finally:
            os.close(pin)
            if prune:
                self.prune()

    def _download(self, digest: str, path: Path, fetch: Callable[[Path], None]) -> None:
        """Fetch into a temp file beside ``path`` and rename, once across processes."""
        lock = _lock(self.locks / f"{digest}.fetch", fcntl.LOCK_EX)
        try:
            if path.is_file():                      # another user fetched it meanwhile
                os.utime(path)
                return
            path.parent.mkdir(parents=True, exist_ok=True)
            for stale in path.parent.glob(f".*{TMP_SUFFIX}"):   # a crashed download's
                stale.unlink(missing_ok=True)
            fd, tmp = temp_file_beside(path)
            os.close(fd)
            try:
                fetch(tmp)
                move_into_place(tmp, path)
            finally:
                tmp.unlink(missing_ok=True)
        finally:
            os.close(lock)
        self.prune()

    def entries(self) -> list[tuple[float, int, Path]]:
        """(mtime, bytes, path) of every complete copy, oldest first."""
        found = []
        for folder in self.objects.iterdir():
            try:
                paths = [p for p in folder.iterdir() if not p.name.endswith(TMP_SUFFIX)]
                found += [(st.st_mtime, st.st_size, p) for p in paths
                          for st in [p.stat()]]
            except FileNotFoundError:               # pruned meanwhile by another process
                continue
        return sorted(found, key=lambda e: e[0])

    def size(self) -> int:
        """Bytes held by complete copies."""
        return sum(size for _, size, _ in self.entries())

    def prune(self) -> int:
        """Delete unpinned copies, least recently used first, until the cache holds at
        most ``budget`` bytes; returns how many were deleted."""
        guard = _lock(self.root / "prune.lock", fcntl.LOCK_EX)
        try:
            entries = self.entries()
            total = sum(size for _, size, _ in entries)
            removed = 0
            for _, size, path in entries:
                if total <= self.budget:
                    break
                if self._remove_unpinned(path.parent.name):
                    total -= size
                    removed += 1
            return removed
        finally:
            os.close(guard)

    def discard(self, key: str) -> bool:
        """Drop the copy of ``key`` (the object was deleted) unless it is in use."""
        return self._remove_unpinned(self._digest(key))

    def _remove_unpinned(self, digest: str) -> bool:
        """Remove a copy and its lock files if nobody pins it (non-blocking)."""
        pin_path = self.locks / f"{digest}.pin"
        pin = _lock(pin_path, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if pin is None:
            return False                            # in use
        try:
            shutil.rmtree(self.objects / digest, ignore_errors=True)
            (self.locks / f"{digest}.fetch").unlink(missing_ok=True)
            pin_path.unlink(missing_ok=True)
            log.debug("pruned %s from the input cache", digest)
            return True
        finally:
            os.close(pin)


def _lock(path: Path, mode: int) -> int | None:
    """An fd holding ``flock(mode)`` on the file now at ``path`` (created if missing);
    None when ``mode`` is non-blocking and the lock is taken. Retries when the file was
    replaced or removed while waiting (a pruner deletes lock files it holds)."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, mode)
        except BlockingIOError:
            os.close(fd)
            return None
        try:
            same = os.stat(path).st_ino == os.fstat(fd).st_ino
        except FileNotFoundError:
            same = False
        if same:
            return fd
        os.close(fd)
