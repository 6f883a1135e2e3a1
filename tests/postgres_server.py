"""A real, throwaway PostgreSQL server for the tests and the benchmarks.

:class:`PostgresServer` runs ``initdb`` into a fresh temporary directory and starts the server with ``pg_ctl`` on a
free TCP port of 127.0.0.1 (and a Unix socket inside its data directory, so it never touches /var/run/postgresql).
Authentication is real: every connection, TCP or local, must give the superuser ``countersign``'s password
(SCRAM-SHA-256), a random one per server. ``fsync``, ``synchronous_commit`` and ``full_page_writes`` keep their
durable defaults, because the benchmarks measure durable commits; only initdb's one-off flush of the new directory is
skipped (``--no-sync``), as the directory is thrown away anyway.

PostgreSQL refuses to run as root. When this process is root (CI), the server runs as the unprivileged system user
``countersign-pg``, created on first use with ``useradd`` (``nobody`` if ``useradd`` is missing); otherwise it runs
as the current user. The binaries are found by :func:`find_bin_dir`: ``$COUNTERSIGN_PG_BINDIR``, then Debian's
``/usr/lib/postgresql/<version>/bin`` (newest version first), then ``initdb`` on ``PATH``. ``scripts/bootstrap``
installs Debian's ``postgresql`` package when none is found; Debian's own cluster is never used.

Usage (no pytest needed; ``tests/pg_fixtures.py`` wraps it in fixtures)::

    with PostgresServer() as server:
        server.create_database("bench")
        with psycopg.connect(server.uri("bench")) as conn:
            ...

``restart()`` stops the server cleanly and starts it again on the same port and data directory; ``kill()`` kills
every server process at once (SIGKILL, as in a crash) and a later ``start()`` runs crash recovery. ``stop()`` stops
it and deletes the directory. psycopg is imported only by the methods that connect (``create_database`` …).
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import os
import pwd
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

__all__ = ["PostgresError", "PostgresServer", "RunAs", "SUPERUSER", "SERVICE_USER", "find_bin_dir"]

SUPERUSER = "countersign"
SERVICE_USER = "countersign-pg"
REQUIRED_BINARIES = ("initdb", "pg_ctl", "postgres")
START_TIMEOUT_S = 60
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")


class PostgresError(RuntimeError):
    """The server could not be set up, started or stopped; the message says why and quotes the server log."""


def find_bin_dir() -> Path | None:
    """The directory holding ``initdb``, ``pg_ctl`` and ``postgres``, or None when PostgreSQL is not installed.

    Looks at ``$COUNTERSIGN_PG_BINDIR`` (which must then be complete), then ``/usr/lib/postgresql/*/bin`` (Debian's
    layout; newest major version first), then the directory of ``initdb`` on ``PATH``.
    """
    override = os.environ.get("COUNTERSIGN_PG_BINDIR")
    if override:
        path = Path(override)
        missing = [name for name in REQUIRED_BINARIES if not os.access(path / name, os.X_OK)]
        if missing:
            raise PostgresError(f"COUNTERSIGN_PG_BINDIR={override} lacks the executable(s) {', '.join(missing)}")
        return path
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for path in candidates:
        if all(os.access(path / name, os.X_OK) for name in REQUIRED_BINARIES):
            return path
    return None


def _version_key(bin_dir: Path) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", bin_dir.parent.name)) or (0,)


@dataclass(frozen=True)
class RunAs:
    """The account the server runs as (``uid``/``gid`` are None when it is the current, non-root user)."""

    name: str
    uid: int | None
    gid: int | None

    def subprocess_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        # extra_groups=[] drops root's supplementary groups as well (setgroups), not only the uid and gid.
        return {"user": self.uid, "group": self.gid, "extra_groups": []}


def service_account() -> RunAs:
    """The account to run the server as: the current user, or (as root) ``countersign-pg``, created if missing."""
    if os.geteuid() != 0:
        return RunAs(pwd.getpwuid(os.geteuid()).pw_name, None, None)
    entry = _lookup(SERVICE_USER)
    if entry is None and shutil.which("useradd"):
        # One lock for all processes (pytest-xdist workers start together); useradd also fails while another
        # useradd holds /etc/passwd, so the user is looked up again under the lock before trying.
        with open(os.path.join(tempfile.gettempdir(), "countersign-pg-useradd.lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entry = _lookup(SERVICE_USER)
            if entry is None:
                done = subprocess.run(["useradd", "--system", "--user-group", "--no-create-home",
                                       "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
                                       "--comment", "Countersign test PostgreSQL servers", SERVICE_USER],
                                      capture_output=True, text=True)
                entry = _lookup(SERVICE_USER)
                if entry is None:
                    raise PostgresError(f"useradd {SERVICE_USER} failed (exit {done.returncode}): "
                                        f"{done.stderr.strip() or done.stdout.strip()}")
    if entry is None:
        entry = _lookup("nobody")
        if entry is None:
            raise PostgresError(f"running as root, and neither user {SERVICE_USER} nor nobody exists (and there "
                                "is no useradd to create one); PostgreSQL refuses to run as root")
    return RunAs(entry.pw_name, entry.pw_uid, entry.pw_gid)


def _lookup(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the server binds it moments later; ``start`` retries on a clash)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def _check_traversable(path: Path, account: RunAs) -> None:
    """Fail clearly when ``account`` (another user than us) cannot reach ``path`` through its parents."""
    if account.uid is None:
        return
    for parent in [path, *path.parents]:
        info = parent.stat()
        if info.st_uid == account.uid:
            continue
        bit = stat.S_IXGRP if info.st_gid == account.gid else stat.S_IXOTH
        if not info.st_mode & bit:
            raise PostgresError(f"{parent} (mode {stat.filemode(info.st_mode)}) is not traversable by "
                                f"{account.name}, which runs the server; set COUNTERSIGN_PG_TMPDIR to another "
                                "directory (default /tmp)")


class PostgresServer:
    """One throwaway PostgreSQL server: a temporary data directory, a free port, a random superuser password.

    Attributes once started: ``host`` (127.0.0.1), ``port``, ``user`` (``countersign``), ``password``,
    ``base_dir`` (the temporary directory), ``data_dir``, ``log_path``, ``bin_dir``, ``run_as``.
    """

    def __init__(self, *, bin_dir: Path | None = None, max_connections: int = 300, port: int | None = None,
                 settings: dict[str, str] | None = None) -> None:
        found = bin_dir or find_bin_dir()
        if found is None:
            raise PostgresError("no PostgreSQL server binaries (initdb, pg_ctl, postgres) in /usr/lib/postgresql/*/bin"
                                " or on PATH; install Debian's 'postgresql' package (scripts/bootstrap does) or set "
                                "COUNTERSIGN_PG_BINDIR")
        for name in REQUIRED_BINARIES:
            if not os.access(found / name, os.X_OK):
                raise PostgresError(f"{found / name} is missing or not executable")
        self.bin_dir = found
        self.host = "127.0.0.1"
        self.user = SUPERUSER
        self.password = secrets.token_hex(16)
        self.max_connections = max_connections
        self.settings = dict(settings or {})
        self.port = port or 0
        self._port_given = port is not None
        self.run_as: RunAs | None = None
        self.base_dir: Path | None = None
        self._running = False
        self._atexit_registered = False

    # -- paths --------------------------------------------------------------------------------------------------

    @property
    def data_dir(self) -> Path:
        return self._base() / "data"

    @property
    def log_path(self) -> Path:
        return self._base() / "server.log"

    @property
    def running(self) -> bool:
        return self._running

    def _base(self) -> Path:
        if self.base_dir is None:
            raise PostgresError("the server has not been started (no data directory yet)")
        return self.base_dir

    # -- lifecycle ----------------------------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        """Create the cluster if there is none yet, then start the server and wait until it accepts connections.

        A new cluster gets a free port (chosen again if another process binds it first); a cluster that already
        ran (after ``restart`` or ``kill``) keeps its port.
        """
        if self._running:
            return self
        fresh = self.base_dir is None
        if fresh:
            self._init_cluster()
        if not self._atexit_registered:
            atexit.register(self._atexit)
            self._atexit_registered = True
        attempts = 5 if fresh and not self._port_given else 1
        for attempt in range(attempts):
            offset = self._log_size()
            done = self._pg_ctl("start", "-w", "-t", str(START_TIMEOUT_S), "-l", str(self.log_path))
            if done.returncode == 0:
                self._running = True
                return self
            log = self._log_since(offset)
            if attempt + 1 < attempts and "could not bind" in log:
                self.port = free_port(self.host)  # another process took the port since it was chosen: pick again
                self._write_port()
                continue
            raise PostgresError(f"pg_ctl start failed (exit {done.returncode}) for {self.data_dir} on port "
                                f"{self.port}:\n{_output(done)}\n--- server log ({self.log_path}), last lines ---\n"
                                f"{_tail(log)}")
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop the server (fast shutdown: open sessions are ended) and delete its temporary directory."""
        try:
            if self._running:
                self._stop_server("fast")
        finally:
            if self.base_dir is not None:
                shutil.rmtree(self.base_dir, ignore_errors=True)
                self.base_dir = None
            if self._atexit_registered:
                atexit.unregister(self._atexit)
                self._atexit_registered = False

    def restart(self, mode: str = "fast") -> None:
        """Stop the server (``mode``: smart, fast or immediate) and start it again: same port, same data."""
        if self._running:
            self._stop_server(mode)
        self.start()

    def kill(self) -> None:
        """Kill the postmaster and all its children with SIGKILL (a crash); ``start()`` then runs crash recovery."""
        pid = self.postmaster_pid()
        if pid is not None:
            # pg_ctl starts the postmaster in a session of its own: its process group is the whole server.
            victims = _group_members(pid) if os.getpgid(pid) == pid else [pid, *_children(pid)]
            for victim in victims:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(victim, signal.SIGKILL)
            deadline = time.monotonic() + 30
            while any(_alive(victim) for victim in victims):
                if time.monotonic() > deadline:
                    raise PostgresError(f"server processes {victims} still alive 30 s after SIGKILL")
                time.sleep(0.01)
            # Everything is dead, but the postmaster may stay a zombie if nothing reaps orphans (a container's PID 1
            # may not), and PostgreSQL takes the PID in postmaster.pid and in the socket's lock file for a running
            # server: remove both stale files, as a reboot after a crash would make them stale.
            for lock in [self.data_dir / "postmaster.pid", *self.data_dir.glob(".s.PGSQL.*.lock")]:
                lock.unlink(missing_ok=True)
        self._running = False

    def postmaster_pid(self) -> int | None:
        """The postmaster's process id from ``postmaster.pid``, or None when the server is not running."""
        try:
            first = (self.data_dir / "postmaster.pid").read_text().split("\n", 1)[0]
        except (OSError, PostgresError):
            return None
        return int(first) if first.strip().isdigit() and _alive(int(first)) else None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.stop()

    # -- connecting ---------------------------------------------------------------------------------------------

    def uri(self, database: str = "postgres", *, with_password: bool = True) -> str:
        """``postgresql://countersign:PASSWORD@127.0.0.1:PORT/DATABASE`` (without the password if asked: libpq
        then takes it from ``PGPASSWORD`` or the ``.pgpass`` file)."""
        credentials = urllib.parse.quote(self.user, safe="")
        if with_password:
            credentials += ":" + urllib.parse.quote(self.password, safe="")
        return f"postgresql://{credentials}@{self.host}:{self.port}/{urllib.parse.quote(database, safe='')}"

    def create_database(self, name: str) -> str:
        """Create an empty database (a copy of template1) and return its URI."""
        self._admin_sql("CREATE DATABASE {}", name)
        return self.uri(name)

    def drop_database(self, name: str) -> None:
        """Drop a database if it exists, ending the sessions still connected to it (``WITH (FORCE)``)."""
        self._admin_sql("DROP DATABASE IF EXISTS {} WITH (FORCE)", name)

    def _admin_sql(self, statement: str, name: str) -> None:
        import psycopg
        from psycopg import sql

        if not _DB_NAME.fullmatch(name):
            raise ValueError(f"database name {name!r}: use lower-case letters, digits and _ (at most 63)")
        with psycopg.connect(self.uri("postgres"), autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql.SQL(statement).format(sql.Identifier(name)))

    # -- internals ----------------------------------------------------------------------------------------------

    def _init_cluster(self) -> None:
        self.run_as = service_account()
        root = Path(os.environ.get("COUNTERSIGN_PG_TMPDIR")
                    or ("/tmp" if self.run_as.uid is not None else tempfile.gettempdir()))
        root.mkdir(mode=0o755, parents=True, exist_ok=True)
        _check_traversable(root, self.run_as)
        base = Path(tempfile.mkdtemp(prefix="countersign-pg-", dir=root))
        self.base_dir = base
        try:
            if self.run_as.uid is not None:
                os.chown(base, self.run_as.uid, self.run_as.gid or -1)
            pwfile = base / "pwfile"
            pwfile.write_text(self.password + "\n")
            pwfile.chmod(0o600)
            if self.run_as.uid is not None:
                os.chown(pwfile, self.run_as.uid, self.run_as.gid or -1)
            locale = "C.UTF-8" if Path("/usr/lib/locale/C.utf8").is_dir() else "C"
            done = self._run(self.bin_dir / "initdb", "--pgdata", str(self.data_dir), "--username", self.user,
                             "--pwfile", str(pwfile), "--auth-host=scram-sha-256", "--auth-local=scram-sha-256",
                             "--encoding=UTF8", f"--locale={locale}", "--no-sync")
            pwfile.unlink()
            if done.returncode != 0:
                raise PostgresError(f"initdb failed (exit {done.returncode}) as {self.run_as.name} in "
                                    f"{self.data_dir}:\n{_output(done)}")
            if not self.port:
                self.port = free_port(self.host)
            settings = {
                "listen_addresses": "'127.0.0.1'",
                "unix_socket_directories": f"'{self.data_dir}'",
                "max_connections": str(self.max_connections),
                # Durable, as in production (the benchmarks measure commits that reach the disk).
                "fsync": "on",
                "synchronous_commit": "on",
                "full_page_writes": "on",
                "timezone": "'UTC'",
                "log_timezone": "'UTC'",
                "log_line_prefix": "'%m [%p] %q%u@%d '",
                **self.settings,
            }
            with (self.data_dir / "postgresql.conf").open("a") as conf:
                conf.write("\n# tests/postgres_server.py\n")
                conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
            self._write_port()
        except BaseException:
            shutil.rmtree(base, ignore_errors=True)
            self.base_dir = None
            raise

    def _write_port(self) -> None:
        # The port lives in postgresql.auto.conf (read after postgresql.conf), so restart() keeps it.
        (self.data_dir / "postgresql.auto.conf").write_text(f"port = {self.port}\n")

    def _stop_server(self, mode: str) -> None:
        done = self._pg_ctl("stop", "-w", "-t", str(START_TIMEOUT_S), "-m", mode)
        if done.returncode != 0 and self.postmaster_pid() is not None:
            raise PostgresError(f"pg_ctl stop -m {mode} failed (exit {done.returncode}):\n{_output(done)}\n"
                                f"--- server log, last lines ---\n{_tail(self._log_since(0))}")
        self._running = False

    def _pg_ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        return self._run(self.bin_dir / "pg_ctl", args[0], "-D", str(self.data_dir), *args[1:])

    def _run(self, *argv: str | Path) -> subprocess.CompletedProcess[str]:
        assert self.run_as is not None and self.base_dir is not None
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.base_dir), "LC_ALL": "C",
               "LANG": "C"}
        return subprocess.run([str(a) for a in argv], cwd=self.base_dir, env=env, capture_output=True, text=True,
                              stdin=subprocess.DEVNULL, umask=0o077, timeout=START_TIMEOUT_S + 30,
                              **self.run_as.subprocess_kwargs())

    def _log_size(self) -> int:
        try:
            return self.log_path.stat().st_size
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        try:
            with self.log_path.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", "replace")
        except OSError:
            return "(no server log)"

    def _atexit(self) -> None:
        with contextlib.suppress(Exception):
            if self._running:
                self._stop_server("immediate")
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return "\n".join(part.strip() for part in (done.stdout, done.stderr) if part and part.strip()) or "(no output)"


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.rstrip().splitlines()[-lines:]) or "(empty)"


def _proc_stat(pid: int) -> list[str] | None:
    """Fields of /proc/PID/stat after the command name (state, ppid, pgrp, …), or None if there is no such process."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (dead, not yet reaped)."""
    fields = _proc_stat(pid)
    return fields is not None and fields[0] not in ("Z", "X")


def _group_members(pgid: int) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and (f := _proc_stat(int(e.name))) is not None and int(f[2]) == pgid]


def _children(pid: int) -> list[int]:
    return [int(e.name) for e in Path("/proc").iterdir()
            if e.name.isdigit() and (f := _proc_stat(int(e.name))) is not None and int(f[1]) == pid]
