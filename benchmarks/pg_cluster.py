"""A throwaway PostgreSQL cluster, from the installed server binaries: for the tests
(tests/conftest.py) and for `recochat bench scale-out`, so both start it the same way.

initdb and postgres refuse to run as root, so under root they run as the `postgres` system
user (`runuser`), in a temporary directory that user owns. The server listens on a free
loopback port, keeps its unix socket in that directory, trusts local connections, and skips
fsync (the data dies with the run). Starting takes well under a second.
"""

from __future__ import annotations

import glob
import os
import re
import shutil
import subprocess
import tempfile
import uuid
from dataclasses import dataclass
from pathlib import Path

from recochat.bot.llm_server import free_port

from .settings import BenchSettings

SEARCHED = ("RECOCHAT_TEST_PG_BIN", "PATH", "/usr/lib/postgresql/*/bin")


class ClusterError(RuntimeError):
    """The throwaway cluster cannot start; the message says what to install or fix."""


def find_bin_dir() -> Path:
    """Where initdb and pg_ctl are: $RECOCHAT_TEST_PG_BIN, else PATH, else the newest Debian/Ubuntu install."""
    if (configured := BenchSettings().test_pg_bin) is not None:  # read at each call: tests set it
        candidates = [configured]
    else:
        on_path = shutil.which("initdb")
        candidates = [Path(on_path).parent] if on_path else []
        by_version = sorted(
            glob.glob("/usr/lib/postgresql/*/bin"),
            key=lambda p: [int(n) for n in re.findall(r"\d+", Path(p).parent.name)],
            reverse=True,
        )
        candidates += [Path(p) for p in by_version]
    for directory in candidates:
        if (directory / "initdb").is_file() and (directory / "pg_ctl").is_file():
            return directory
    raise ClusterError(
        "the PostgreSQL tests and `recochat bench scale-out` need the server binaries (initdb, pg_ctl), searched in "
        f"{', '.join(SEARCHED)}: install them (Debian/Ubuntu: apt-get install -y postgresql) "
        "or set RECOCHAT_TEST_PG_BIN to their directory"
    )


@dataclass(frozen=True)
class Cluster:
    port: int
    root: Path
    """Owned by the server's user: the data directory, the unix socket and the server log."""
    bin_dir: Path

    @property
    def url(self) -> str:
        """The cluster's own database, as superuser `postgres` over loopback TCP."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def fresh_schema_url(self) -> str:
        """A URL whose search_path is a new, empty schema: one test's private tables in the shared cluster."""
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE SCHEMA {name}")
        return f"{self.url}?options=-csearch_path%3D{name}"

    def stop(self) -> None:
        """Stop the server at once (the data is thrown away) and delete its directory."""
        try:
            _run(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop"],
                "pg_ctl stop",
            )
        finally:
            shutil.rmtree(self.root, ignore_errors=True)


def _as_owner(command: list[str]) -> list[str]:
    """Run as the `postgres` user when we are root (the server refuses root), else as ourselves."""
    if os.geteuid() != 0:
        return command
    if shutil.which("runuser") is None:
        raise ClusterError(
            "running as root, a throwaway PostgreSQL cluster needs `runuser` to start the server as `postgres`"
        )
    return ["runuser", "-u", "postgres", "--", *command]


def _run(command: list[str], what: str) -> None:
    done = subprocess.run(_as_owner(command), capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        raise ClusterError(f"{what} failed ({done.returncode}): {(done.stderr or done.stdout).strip()[-2000:]}")


def start_cluster() -> Cluster:
    """initdb + pg_ctl start on a free port, in a new temporary directory; `Cluster.stop()` undoes it."""
    bin_dir = find_bin_dir()
    root = Path(tempfile.mkdtemp(prefix="recochat-pg-"))
    try:
        if os.geteuid() == 0:
            shutil.chown(root, "postgres", "postgres")
        _run(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(root / "data"),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
            "initdb",
        )
        port = free_port()
        options = (
            f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories={root} "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        log = root / "server.log"
        command = [str(bin_dir / "pg_ctl"), "-D", str(root / "data"), "-l", str(log), "-o", options, "-w", "start"]
        try:
            _run(command, "pg_ctl start")
        except ClusterError as error:
            server_said = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise ClusterError(f"{error}\nserver log: {server_said}") from None
    except BaseException:
        shutil.rmtree(root, ignore_errors=True)
        raise
    return Cluster(port, root, bin_dir)
