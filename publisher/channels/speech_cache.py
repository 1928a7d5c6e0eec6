"""Announcement audio on disk, made once per key and shared by every speaker.

Several worker processes (and the web server's preview) may want the same
audio at once. A file lock on the directory lets one of them make it while
the others wait and then find it, so an announcement is synthesised once
however many speakers and workers need it. A file appears under its final
name only complete: it is written to a temporary file in the same directory,
flushed to disk and renamed over, so a reader never sees half a WAV, even
after a crash.

Keys are SHA-256 hex digests; the name of a file is its key plus ``.wav``.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from publisher.channels.base import TransientChannelError

__all__ = ["AUDIO_ROUTE", "AUDIO_SUFFIX", "AudioCache", "audio_path", "is_audio_key"]

AUDIO_SUFFIX = ".wav"
# Where the platform serves the cached files (publisher.web.audio), for speakers to fetch.
AUDIO_ROUTE = "/audio/{key}" + AUDIO_SUFFIX
_KEY = re.compile(r"[0-9a-f]{64}")
_LOCK_NAME = ".making.lock"
_PARTIAL_SUFFIX = ".partial"
_READABLE = 0o644


def is_audio_key(key: str) -> bool:
    """Whether ``key`` has the form of a cache key (and so names no other file)."""
    return _KEY.fullmatch(key) is not None


def audio_path(key: str) -> str:
    """The path of a cached file under the platform's base URL."""
    return AUDIO_ROUTE.format(key=key)


class AudioCache:
    """WAV files by key in ``directory``, which is created when first needed."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path(self, key: str) -> Path:
        if not is_audio_key(key):
            raise ValueError(f"key: {key!r} is not a SHA-256 hex digest")
        return self.directory / f"{key}{AUDIO_SUFFIX}"

    def find(self, key: str) -> Path | None:
        """The file of ``key`` if it has been made, else None."""
        path = self.path(key)
        return path if path.is_file() else None

    def get_or_make(self, key: str, make: Callable[[Path], None]) -> tuple[Path, bool]:
        """The file of ``key``, and whether this call made it.

        ``make`` writes the complete file to the path it is given (a
        temporary name in the same directory); it is called only when no
        process has made the file yet. Raises TransientChannelError naming
        the directory when the file cannot be written there (a full disk):
        nothing of it is left behind.
        """
        found = self.find(key)
        if found is not None:
            return found, False
        try:
            return self._make(key, make)
        except OSError as error:
            # A full or read-only disk is the machine's fault, not the alert's:
            # transient, so the batch is tried again once space is freed.
            raise TransientChannelError(
                f"audio cache {self.directory}: cannot store the announcement"
                f" ({error.strerror or error})") from error

    def _make(self, key: str, make: Callable[[Path], None]) -> tuple[Path, bool]:
        self.directory.mkdir(parents=True, exist_ok=True)
        with self._locked():
            found = self.find(key)
            if found is not None:
                return found, False
            final = self.path(key)
            descriptor, partial = tempfile.mkstemp(
                dir=self.directory, prefix=f".{key[:16]}-", suffix=_PARTIAL_SUFFIX)
            os.close(descriptor)
            try:
                make(Path(partial))
                _flush_to_disk(Path(partial))
                # Public audio, served by the web process, which may run as another user.
                os.chmod(partial, _READABLE)
                os.replace(partial, final)
            finally:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(partial)
            return final, True

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        # flock, not a lock of this process: other workers and the web server
        # share the directory. Each call opens its own file, so threads of one
        # process exclude each other too.
        with open(self.directory / _LOCK_NAME, "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def _flush_to_disk(path: Path) -> None:
    with open(path, "rb") as written:
        os.fsync(written.fileno())
