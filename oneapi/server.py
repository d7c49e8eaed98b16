"""Builds the applications and runs them.

``make_app(services, config)`` is the one constructor of the HTTP application (tests call it too);
``serve(config)`` opens the store, migrates (master only), creates root on first boot, and runs the site until
SIGTERM/SIGINT, then stops accepting, drains in-flight requests and flushes pending writes before exiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import logging
import os
import secrets
import signal
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from oneapi import __version__, eventloop, listener, runtime
from oneapi.api import add_api, web_page
from oneapi.api.admin import make_admin_app
from oneapi.api.client_ip import parse_networks
from oneapi.api.common import TRUSTED_PROXIES
from oneapi.api.csrf import api_csrf_middleware
from oneapi.api.middleware import (
    api_error_middleware,
    make_client_ip_middleware,
    make_rate_limit_middleware,
    page_error_middleware,
    request_id_middleware,
)
from oneapi.config import Config, ConfigError
from oneapi.http.body import SERVER_OPTIONS
from oneapi.http.doors import doors
from oneapi.proxy.probe import RelayProber
from oneapi.proxy.routes import add_relay, is_relay_path, relay_middleware
from oneapi.proxy.state import Relay
from oneapi.proxy.tokenizer import Tokenizer
from oneapi.redaction import redactor
from oneapi.services import Services, start_services
from oneapi.store.database import Database, open_database
from oneapi.store.facade import Store
from oneapi.store.journal import JournalError
from oneapi.store.migrations import check_schema, migrate_database
from oneapi.store.redis_names import RedisUnavailableError
from oneapi.workers import WorkerRole

log = logging.getLogger("oneapi.server")

MAX_BODY = 32 * 1024 * 1024  # request bodies (image and audio uploads included)
SHUTDOWN_GRACE = 30.0  # seconds in-flight requests get to finish after SIGTERM


class StartupError(RuntimeError):
    """The server cannot start; the message says why and what to do."""


class IncompleteShutdownError(RuntimeError):
    """The server stopped, but the database did not take every charge; the message says where they are
    kept (the journal, replayed at the next start)."""


def session_secret(config: Config) -> str:
    if config.session_secret:
        return config.session_secret
    log.warning("SESSION_SECRET is not set: using a random one, so web sessions end when the server restarts "
                "and cannot be shared between nodes")
    generated = secrets.token_urlsafe(32)
    redactor.register(generated)
    return generated


def make_relay(config: Config, services: Services) -> Relay:
    relay = Relay(config, services, Tokenizer(config.tiktoken_cache_dir or config.data_gym_cache_dir,
                                              approximate=lambda: services.options.get_bool("ApproximateTokenEnabled")))
    services.channels.set_prober(RelayProber(relay))
    services.channels.set_polling_interval(config.polling_interval)
    if services.changes is not None:  # a channel changed on another node: this node's routing follows
        services.changes.on("channels", lambda _: relay.reload_routes())
        services.changes.on_resync(relay.reload_routes)
    return relay


def make_app(services: Services, config: Config, secret: str | None = None,
             relay: Relay | None = None) -> web.Application:
    """The HTTP application: the relay (when given), /api and the web pages."""
    proxies = parse_networks(config.trusted_proxies)
    client_ip_middleware = make_client_ip_middleware(proxies)
    app = web.Application(
        client_max_size=MAX_BODY,
        middlewares=[listener.phase_middleware, doors(
            is_relay_path,
            relay=[request_id_middleware, client_ip_middleware, relay_middleware],
            site=[request_id_middleware, page_error_middleware, client_ip_middleware, api_error_middleware,
                  make_rate_limit_middleware(config.global_api_rate_limit, config.global_web_rate_limit,
                                             services.windows),
                  api_csrf_middleware, web_page.page_middleware])],
    )
    app[TRUSTED_PROXIES] = proxies
    add_api(app, services, secret or session_secret(config))
    if relay is not None:
        add_relay(app, relay)
    web_page.add_routes(app, config)  # last: its catch-all answers page paths no other route took
    return app


async def every(minutes: int, job: Callable[[], Awaitable[object]], name: str) -> None:
    """Run ``job`` every ``minutes`` (master-only background work); a failure is logged, never fatal."""
    while True:
        await asyncio.sleep(minutes * 60)
        try:
            await job()
        except Exception:
            log.exception("background job %s failed; next run in %d minutes", name, minutes)


def start_jobs(config: Config, services: Services, relay: Relay,
               role: WorkerRole = WorkerRole()) -> list[asyncio.Task[None]]:
    loop = asyncio.get_running_loop()
    tasks = [loop.create_task(sync_loop(config, services, relay))]
    if not role.primary:  # the master's jobs run once per machine, in worker 0
        return tasks
    if config.is_master and config.channel_test_frequency:
        tasks.append(loop.create_task(every(config.channel_test_frequency,
                                            lambda: services.channels.test_all("all"), "channel tests")))
    if config.is_master and config.channel_update_frequency:
        tasks.append(loop.create_task(every(config.channel_update_frequency, services.channels.update_all_balances,
                                            "balance updates")))
    return tasks


async def sync_loop(config: Config, services: Services, relay: Relay) -> None:
    """Every SYNC_FREQUENCY seconds: reload options and the routing table, so changes made by other nodes
    (or directly in the database) take effect here."""
    while True:
        await asyncio.sleep(config.sync_frequency)
        try:
            await services.options.reload()
            await relay.reload_routes()
        except Exception:
            log.exception("periodic sync from the database failed; will retry")


def prepare_database(config: Config, role: WorkerRole = WorkerRole()) -> Database:
    """Open the database and bring its schema up to date (master; with workers, worker 0) or check it is
    (slave, other workers). Sync: runs before the event loop serves anything."""
    db = open_database(config)
    redactor.register(db.spec.password, db.log_spec.password)
    log.info("database: %s%s", db.spec.describe(),
             f", logs in {db.log_spec.describe()}" if db.logs is not db.main else "")
    try:
        if config.is_master and role.primary:
            migrate_database(db)
        else:
            check_schema(db)
    finally:
        db.close_connections()  # this thread serves no queries; the store's threads open their own
    return db


async def start(config: Config, role: WorkerRole = WorkerRole()) -> tuple[Services, Store, Relay]:
    # What the configuration holds that no log line, event or client error may show (the databases'
    # passwords are registered once parsed, in prepare_database).
    redactor.register(config.session_secret, config.initial_root_token, config.initial_root_access_token,
                      urlsplit(config.redis_conn_string).password)
    redis = None
    if config.redis_conn_string:  # before the database: an unreachable Redis stops the start, as in One API
        from oneapi.store.redis_link import RedisLink

        redis = RedisLink(config.redis_conn_string)
        try:
            await redis.connect()
        except RedisUnavailableError as exc:
            await redis.close()
            raise ConfigError("REDIS_CONN_STRING", str(exc)) from None
    db = prepare_database(config, role)
    store = Store(db, read_threads=config.store_read_threads)
    try:
        try:
            services = await start_services(config, store, redis)
            for orphan in role.orphan_journals(config):
                await services.ledger.adopt(orphan)
        except JournalError as exc:
            raise StartupError(str(exc)) from None
        if config.is_master and role.primary:
            await services.accounts.ensure_root()
        if role.count > 1:
            services.join_workers(role.index, role.group)
        relay = make_relay(config, services)
        await relay.reload_routes()
    except BaseException:
        await store.close()
        raise
    return services, store, relay


MAX_SOCKET_PATH = 100  # sun_path is 108 bytes on Linux; leave room for the terminating NUL


def claim_socket_path(path: Path) -> None:
    """Make ``path`` free for our admin socket: refuse when a live server answers there, remove a stale one."""
    if len(str(path).encode()) > MAX_SOCKET_PATH:
        raise StartupError(f"admin socket path {str(path)!r} is too long for a Unix socket "
                           f"(at most {MAX_SOCKET_PATH} bytes); set --admin-socket to a shorter path")
    if not path.exists() and not path.is_symlink():
        path.parent.mkdir(parents=True, exist_ok=True)
        return
    if not stat.S_ISSOCK(path.lstat().st_mode):
        raise StartupError(f"{path} exists and is not a socket; remove it or set --admin-socket")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(1.0)
    try:
        probe.connect(str(path))
    except OSError:
        path.unlink()  # left behind by a server that crashed
        log.info("removed a stale admin socket at %s", path)
        return
    finally:
        probe.close()
    raise StartupError(f"another oneapi server is already running with the admin socket {path}; "
                       "stop it first, or give this one another --admin-socket")


async def start_admin_socket(services: Services, config: Config, secret: str) -> tuple[web.AppRunner, Path]:
    path = config.data_path(config.admin_socket)
    claim_socket_path(path)  # again: the world may have changed since run() first checked
    runner = web.AppRunner(make_admin_app(services, secret), access_log=None, **SERVER_OPTIONS)
    await runner.setup()
    old = os.umask(0o177)  # the socket is born 0600: no window in which others could connect
    try:
        await web.UnixSite(runner, str(path)).start()
    finally:
        os.umask(old)
    os.chmod(path, 0o600)
    log.info("admin socket at %s", path)
    return runner, path


def note_admin_socket(path: Path) -> Path | None:
    """Note the socket in the user's runtime directory, so ``oneapi tui`` and the CLI find it from anywhere."""
    entry = runtime.register(path)
    if entry is None:
        log.warning("cannot note the admin socket in %s (not a private directory of this user); the TUI and CLI "
                    "will need ONEAPI_HOME or --admin-socket to find %s", runtime.runtime_dir(), path)
    return entry


def _started(future: asyncio.Future[None]) -> None:
    """The tokenizer's tables are the last of start-up's long-lived state: freeze the heap once they are in."""
    if future.exception() is not None:
        log.error("the tokenizer failed to load: %s", future.exception())
    eventloop.freeze_startup_heap()


def open_files_guard(config: Config) -> listener.ConnectionGuard:
    """Raise the open-file limit as far as allowed, and size the connection guard by it (logged: what the
    operator needs to know when clients are refused)."""
    before, limit = listener.raise_file_limit()
    limits = listener.Limits(header_timeout=config.client_header_timeout, body_timeout=config.client_body_timeout,
                             idle_timeout=config.client_idle_timeout, per_ip=config.max_connections_per_ip,
                             budget=listener.connection_budget(limit), exempt=parse_networks(config.trusted_proxies))
    raised = f" (raised from {before}, to the hard limit)" if limit != before else ""
    log.info("open-file limit %d%s: up to %d client connections, %s per address", limit, raised, limits.budget,
             limits.per_ip or "no cap")
    if limit < 4096:
        log.warning("the open-file limit is %d: set LimitNOFILE=65536 in the systemd unit (or ulimit -n) so that "
                    "many clients can be served at once", limit)
    return listener.ConnectionGuard(limits)


async def run(config: Config, role: WorkerRole = WorkerRole()) -> None:
    """Serve until SIGTERM/SIGINT. ``role``: which of ``--workers`` this process is (worker 0 holds the admin
    socket and the background jobs; see oneapi/workers.py)."""
    if role.primary:
        claim_socket_path(config.data_path(config.admin_socket))  # refuse early when another server is running
    services, store, relay = await start(config, role)
    guard = open_files_guard(config)
    loop = asyncio.get_running_loop()
    loop.set_exception_handler(guard.handle_loop_exception)  # accept() failures: one line per interval
    # Loading the encodings takes ~0.5 s: do it now, off the loop, instead of in the first request.
    warm = loop.run_in_executor(None, relay.tokenizer.warm)
    warm.add_done_callback(_started)
    jobs = start_jobs(config, services, relay, role)
    secret = session_secret(config)
    app = make_app(services, config, secret, relay=relay)
    # aiohttp's own keep-alive timer waits longer than the guard's, which decides.
    options: dict[str, Any] = {"access_log": logging.getLogger("oneapi.access"),
                               "keepalive_timeout": config.client_idle_timeout + config.client_header_timeout,
                               **SERVER_OPTIONS}
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_GRACE, **options)
    await runner.setup()
    admin: tuple[web.AppRunner, Path] | None = None
    noted: Path | None = None
    try:
        if role.primary:
            admin = await start_admin_socket(services, config, secret)
            noted = note_admin_socket(admin[1])
        site = listener.GuardedSite(runner, guard, config.port, handler_options=options, reuse_port=role.count > 1)
        try:
            await site.start()
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise StartupError(f"port {config.port} is already in use; stop the other process or set PORT") \
                    from None
            raise StartupError(f"cannot listen on port {config.port}: {exc.strerror or exc}") from None
        log.info("oneapi %s listening on http://0.0.0.0:%d (node type %s%s, %s)", __version__, config.port,
                 config.node_type, f", worker {role.index} of {role.count}" if role.count > 1 else "",
                 eventloop.loop_name(loop))
        if role.ready is not None:
            role.ready()
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        log.info("shutting down: no new connections; waiting up to %.0f s for requests in flight", SHUTDOWN_GRACE)
    finally:
        for job in jobs:
            job.cancel()
        runtime.unregister(noted)
        if admin is not None:
            await admin[0].cleanup()
            admin[1].unlink(missing_ok=True)
        await runner.cleanup()  # stops the listener, then waits for handlers in flight
        report = await services.close()  # flushes pending accounting and consume logs
        await store.close()  # finishes every queued database write
    if not report.complete:
        raise IncompleteShutdownError(
            f"stopped, but the database did not take {report.unwritten} journaled charges or log rows; they are "
            f"kept in {report.journal} and written at the next start")
    log.info("stopped; every charge is in the database")
