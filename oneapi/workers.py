"""``oneapi serve`` as one process, or as N workers on one port (``--workers N``) so one machine uses its cores.

Each worker is a node of its own (its own database connections, ledger and journal) and shares balances, rate
limits and admin changes through Redis exactly as separate machines do: that is why N > 1 needs Redis. The
kernel spreads the port's connections across the workers (SO_REUSEPORT).

Worker 0 is the primary. It alone migrates the database and creates root (before any other worker starts), runs
the admin socket and the master's background jobs (channel tests, balance updates), and replays the journals of
workers that no longer exist (a run with more workers before). The others forward their live events and
dashboard figures to it through Redis (``services.worker_events``), so the TUI sees the whole machine.
Worker k > 0 keeps its journal in ``<journal>/worker-k``; worker 0 uses ``<journal>`` itself, as a single process
does, so going from one process to N and back loses nothing.

The supervisor (the process ``oneapi serve`` started) forks the workers before any thread or event loop exists,
starts worker 0 first and the others once it listens, restarts a worker that dies (it replays its own journal:
what it had answered is charged), and on SIGTERM/SIGINT stops them all, each draining its requests. A worker
that cannot start stops the whole server with its exit code. When the supervisor itself is killed, the kernel
sends each worker SIGTERM (PR_SET_PDEATHSIG), so no worker outlives it.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import secrets
import select
import signal
import socket
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from oneapi.config import Config, ConfigError

log = logging.getLogger("oneapi.workers")

RESTART_DELAY = 1.0  # seconds before a worker that died is started again
READY_TIMEOUT = 120.0  # seconds worker 0 gets to migrate the database and listen
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerRole:
    """Which worker this process is. The default is a server of one process."""

    index: int = 0
    count: int = 1
    ready: Callable[[], None] | None = None  # called once the port listens
    group: str = ""  # names this machine's workers in Redis (their live events go to worker 0)

    @property
    def primary(self) -> bool:
        return self.index == 0

    @property
    def name(self) -> str:
        return f"worker {self.index}" if self.count > 1 else "server"

    def journal(self, config: Config) -> Path:
        base = config.data_path(config.journal_dir)
        return base if self.primary else base / f"worker-{self.index}"

    def configure(self, config: Config) -> Config:
        """The configuration as this worker runs it: its own journal."""
        return config if self.primary else dataclasses.replace(config, journal_dir=str(self.journal(config)))

    def orphan_journals(self, config: Config) -> list[Path]:
        """Journals of workers that do not exist in this run (the primary replays them)."""
        if not self.primary:
            return []
        base = config.data_path(config.journal_dir)
        found = []
        for path in sorted(base.glob("worker-*")):
            suffix = path.name.removeprefix("worker-")
            if path.is_dir() and suffix.isdigit() and int(suffix) >= self.count:
                found.append(path)
        return found


def serve(config: Config) -> int:
    """Run the server until SIGTERM/SIGINT; returns the exit code (messages already printed)."""
    if config.workers == 1:
        return run_worker(config, WorkerRole())
    return Supervisor(config).run()


def run_worker(config: Config, role: WorkerRole) -> int:
    """One serving process; maps every way of failing to an exit code and one line on stderr."""
    from oneapi import eventloop
    from oneapi.server import IncompleteShutdownError, StartupError, run
    from oneapi.store.migrations import SchemaNotReadyError

    try:
        eventloop.run(run(role.configure(config), role), config.event_loop)
    except ConfigError as exc:
        return _fail(f"configuration error: {exc}", 2)
    except (StartupError, SchemaNotReadyError, IncompleteShutdownError) as exc:
        return _fail(str(exc), 1)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # a database that cannot be reached, a disk that is full, ...
        logging.getLogger("oneapi").debug("startup failed", exc_info=True)
        return _fail(f"cannot start: {type(exc).__name__}: {exc}", 1)
    return 0


def _fail(message: str, code: int) -> int:
    print(f"oneapi: {message}", file=sys.stderr, flush=True)
    return code


@dataclass
class _Child:
    index: int
    pid: int
    ready_fd: int | None  # read end of the pipe the worker writes to once it listens
    ready: bool = False


class Supervisor:
    def __init__(self, config: Config) -> None:
        # One session secret for all: a login on one worker is valid on the others.
        if not config.session_secret:
            from oneapi.server import session_secret

            config = dataclasses.replace(config, session_secret=session_secret(config))
        self.config = config
        self.group = secrets.token_hex(6)
        self.children: dict[int, _Child] = {}  # by pid
        self.stopping = False
        self.exit_code = 0

    def run(self) -> int:
        try:
            _check_port_free(self.config.port)
        except OSError as exc:
            return _fail(_port_problem(self.config.port, exc), 1)
        signal.pthread_sigmask(signal.SIG_BLOCK, {*STOP_SIGNALS, signal.SIGCHLD})
        try:
            first = self._spawn(0)
            code = self._wait_ready(first)
            if code is not None:
                return code
            for index in range(1, self.config.workers):
                self._spawn(index)
            log.info("%d workers serving port %d (pids %s)", self.config.workers, self.config.port,
                     " ".join(str(pid) for pid in sorted(self.children)))
            self._watch()
        finally:
            self._stop_all()
        return self.exit_code

    # -- children ---------------------------------------------------------------------------------

    def _spawn(self, index: int) -> _Child:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the worker
            code = 1
            try:
                os.close(read_fd)
                code = self._become_worker(index, write_fd)
            finally:
                os._exit(code)
        os.close(write_fd)
        child = _Child(index, pid, read_fd)
        self.children[pid] = child
        return child

    def _become_worker(self, index: int, ready_fd: int) -> int:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {*STOP_SIGNALS, signal.SIGCHLD})
        with contextlib.suppress(OSError, AttributeError):  # Linux: die with the supervisor
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
        if os.getppid() == 1:  # the supervisor died before prctl took effect
            return 0
        from oneapi.logsetup import setup_logging

        setup_logging(self.config.log_dir, self.config.debug, self.config.debug_sql, worker=index)

        def ready() -> None:
            with contextlib.suppress(OSError):
                os.write(ready_fd, b"1")
                os.close(ready_fd)

        return run_worker(self.config, WorkerRole(index, self.config.workers, ready, self.group))

    def _wait_ready(self, child: _Child) -> int | None:
        """Wait until worker 0 listens; its exit code if it stopped instead (or a stop signal came first)."""
        deadline = time.monotonic() + READY_TIMEOUT
        assert child.ready_fd is not None
        while time.monotonic() < deadline:
            readable, _, _ = select.select([child.ready_fd], [], [], 0.1)
            if readable and os.read(child.ready_fd, 1):
                self._mark_ready(child)
                return None
            pid, status = os.waitpid(child.pid, os.WNOHANG)
            if pid:
                del self.children[pid]
                os.close(child.ready_fd)
                code = os.waitstatus_to_exitcode(status)
                return code if code >= 0 else 1  # 0: it was told to stop before it listened
            if self._pending_stop():
                return 0
        return _fail(f"worker 0 did not listen within {READY_TIMEOUT:.0f} s", 1)

    def _mark_ready(self, child: _Child) -> None:
        child.ready = True
        if child.ready_fd is not None:
            os.close(child.ready_fd)
            child.ready_fd = None

    def _pending_stop(self) -> bool:
        pending = signal.sigpending()
        if pending & set(STOP_SIGNALS):
            signal.sigtimedwait(STOP_SIGNALS, 0)
            return True
        return False

    def _watch(self) -> None:
        """Until a stop signal: reap workers that die and start them again."""
        while True:
            info = signal.sigtimedwait({*STOP_SIGNALS, signal.SIGCHLD}, 1.0)
            for child in list(self.children.values()):  # a worker's ready byte: it listens
                if child.ready_fd is not None and select.select([child.ready_fd], [], [], 0)[0]:
                    self._mark_ready(child)
            if info is None:
                continue
            if info.si_signo in STOP_SIGNALS:
                log.info("stopping %d workers", len(self.children))
                return
            for index, code, was_ready in self._reap():
                if not was_ready and code not in (0, -signal.SIGKILL, -signal.SIGTERM):
                    log.error("worker %d could not start (exit code %d); stopping the server", index, code)
                    self.exit_code = code if code > 0 else 1
                    return
                log.error("worker %d stopped (%s); starting it again in %.0f s", index, _describe(code),
                          RESTART_DELAY)
                if signal.sigtimedwait(STOP_SIGNALS, RESTART_DELAY) is not None:
                    return
                self._spawn(index)

    def _reap(self) -> list[tuple[int, int, bool]]:
        reaped = []
        while self.children:
            pid, status = os.waitpid(-1, os.WNOHANG)
            if not pid:
                break
            child = self.children.pop(pid, None)
            if child is not None:
                if child.ready_fd is not None:
                    os.close(child.ready_fd)
                reaped.append((child.index, os.waitstatus_to_exitcode(status), child.ready))
        return reaped

    def _stop_all(self) -> None:
        for pid in self.children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        while self.children:
            try:
                pid, status = os.waitpid(-1, 0)
            except ChildProcessError:
                break
            child = self.children.pop(pid, None)
            code = os.waitstatus_to_exitcode(status)
            if child is not None and code not in (0, -signal.SIGTERM):
                log.error("worker %d stopped with %s", child.index, _describe(code))
                self.exit_code = self.exit_code or (code if code > 0 else 1)


def _describe(code: int) -> str:
    if code < 0:
        return f"signal {signal.Signals(-code).name}"
    return f"exit code {code}"


def _check_port_free(port: int) -> None:
    """Bind the port without SO_REUSEPORT: fails when anything listens there, even another group of workers
    (which would otherwise share the port with ours without a word)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("0.0.0.0", port))


def _port_problem(port: int, exc: OSError) -> str:
    import errno

    if exc.errno == errno.EADDRINUSE:
        return f"port {port} is already in use; stop the other process or set PORT"
    return f"cannot listen on port {port}: {exc.strerror or exc}"
