"""A private PostgreSQL cluster that a case may restart: the shared server is never touched.

The shared server on 127.0.0.1:5432 serves every test running in parallel,
so a case that takes the database away makes its own cluster: ``initdb`` in
a temporary directory, ``pg_ctl`` on a free port, trust authentication,
its socket in its own directory. PostgreSQL refuses to run as root, so as
root the cluster belongs to the ``postgres`` user and every command runs
through ``runuser``.

Without the server binaries (``/usr/lib/postgresql/<version>/bin``) the
fixture skips with the reason, and fails under CI (``CI=true``).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from publisher.local_ports import free_port
from tests.faults.case_support import skip_or_fail

__all__ = ["PrivatePostgres", "private_postgres"]

BINARIES = Path("/usr/lib/postgresql")
CLUSTER_USER = "postgres"
COMMAND_SECONDS = 60
LOG_TAIL_CHARACTERS = 2000


def _server_binaries() -> Path | None:
    """The newest installed version's bin directory holding initdb and pg_ctl, if any."""
    found = sorted((path for path in BINARIES.glob("*/bin")
                    if (path / "initdb").is_file() and (path / "pg_ctl").is_file()),
                   key=lambda path: int(path.parent.name) if path.parent.name.isdigit() else 0)
    return found[-1] if found else None


@dataclass
class PrivatePostgres:
    binaries: Path
    directory: Path
    port: int

    @property
    def data(self) -> Path:
        return self.directory / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *command: str) -> None:
        # As root, the cluster's own user runs every command.
        prefix = ["runuser", "-u", CLUSTER_USER, "--"] if os.geteuid() == 0 else []
        result = subprocess.run([*prefix, *command], capture_output=True, check=False,
                                timeout=COMMAND_SECONDS)
        if result.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {result.returncode}:"
                               f" {result.stderr.decode(errors='replace')}\n{self.log_tail()}")

    def _pg_ctl(self, action: str, *options: str) -> None:
        self._run(str(self.binaries / "pg_ctl"), action, "-D", str(self.data), "-w",
                  "-t", str(COMMAND_SECONDS), "-l", str(self.directory / "server.log"),
                  *options)

    def create(self) -> None:
        if os.geteuid() == 0:
            owner = pwd.getpwnam(CLUSTER_USER)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self._run(str(self.binaries / "initdb"), "-D", str(self.data), "-U", "postgres",
                  "--auth=trust", "--no-sync", "--encoding=UTF8", "--locale=C")
        with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(f"port = {self.port}\nlisten_addresses = '127.0.0.1'\n"
                       f"unix_socket_directories = '{self.directory}'\nfsync = off\n")

    def start(self) -> None:
        self._pg_ctl("start")

    def restart(self, mode: str = "immediate") -> None:
        """Stop the server (``immediate``: as a crash, no checkpoint) and start it again."""
        self._pg_ctl("restart", "-m", mode)

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "immediate")

    def log_tail(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace")[-LOG_TAIL_CHARACTERS:] if path.exists() else ""


@pytest.fixture
def private_postgres() -> Iterator[PrivatePostgres]:
    """A running private cluster for one case, removed with its files after."""
    binaries = _server_binaries()
    if binaries is None:
        skip_or_fail(f"no PostgreSQL server binaries under {BINARIES}")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        skip_or_fail("running as root without runuser: initdb refuses to run as root")
    assert binaries is not None
    # Not under pytest's own temporary directory: as root, that one is closed to the
    # cluster's user.
    cluster = PrivatePostgres(binaries, Path(tempfile.mkdtemp(prefix="publisher-pg-")),
                              free_port())
    try:
        try:
            cluster.create()
            cluster.start()
        except (RuntimeError, subprocess.TimeoutExpired, KeyError) as error:
            skip_or_fail(f"a private PostgreSQL cluster did not start: {error}")
        yield cluster
    finally:
        # Never started, or already gone: then only its files are left.
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            cluster.stop()
        shutil.rmtree(cluster.directory, ignore_errors=True)
