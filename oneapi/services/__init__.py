"""Domain logic shared by every door (HTTP /api, the relay, the admin socket, the CLI and the TUI).

Services take plain values, check them, and call the store; they raise ``oneapi.errors`` exceptions and never
know which door called them. :func:`start_services` is the one constructor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from oneapi.config import Config
from oneapi.services.accounts import Accounts
from oneapi.services.channels import Channels
from oneapi.services.events import EventHub, LiveStats
from oneapi.services.ledger import Ledger, ShutdownReport
from oneapi.services.logs import Logs
from oneapi.services.logs import public as public_log
from oneapi.services.options import Options
from oneapi.services.sessions import Sessions
from oneapi.services.shared_windows import SharedWindows
from oneapi.services.token_limits import TokenLimits
from oneapi.services.tokens import Tokens
from oneapi.services.vouchers import Vouchers
from oneapi.store.facade import Store
from oneapi.store.journal import Journal
from oneapi.store.queries.accounting import LogRow

if TYPE_CHECKING:  # the redis client is imported only when REDIS_CONN_STRING is set (store/redis_names.py)
    from oneapi.services.changes import ChangeFeed
    from oneapi.services.worker_events import EventReceiver, EventSender
    from oneapi.store.redis_link import RedisLink


@dataclass
class Services:
    config: Config
    store: Store
    options: Options
    logs: Logs
    ledger: Ledger
    accounts: Accounts
    tokens: Tokens
    channels: Channels
    vouchers: Vouchers
    events: EventHub
    stats: LiveStats
    sessions: Sessions
    redis: RedisLink | None = None  # REDIS_CONN_STRING: the state shared by every node and worker
    changes: ChangeFeed | None = None  # with Redis: admin changes told to every node
    workers: EventSender | EventReceiver | None = None  # --workers: the admin socket's view of every worker
    token_limits: TokenLimits = field(default_factory=TokenLimits)  # tokens' RPM and TPM (the relay)
    windows: SharedWindows | None = None  # with Redis: rate-limit windows shared by every node (/api, pages)

    def join_workers(self, index: int, group: str) -> None:
        """``--workers``: worker 0 receives the others' live events and figures, the others send theirs."""
        from oneapi.services.worker_events import EventReceiver, EventSender

        assert self.redis is not None, "workers share their state through Redis"
        kind = EventReceiver if index == 0 else EventSender
        self.workers = kind(self.redis, group, self.events, self.stats)
        self.workers.start()

    async def close(self) -> ShutdownReport:
        """Flush the ledger's pending accounting; the store itself is closed by its owner. The report says
        what the database could not take (kept in the journal for the next start)."""
        report = await self.ledger.close()
        await self.token_limits.close()
        if self.workers is not None:
            await self.workers.close()
        if self.changes is not None:
            await self.changes.close()
        if self.redis is not None:
            await self.redis.close()
        return report


async def start_services(config: Config, store: Store, redis: RedisLink | None = None) -> Services:
    """Load options and build every service over one store; replays the ledger's journal and starts its
    flusher (stop it with ``await services.close()``). Does not migrate or create root. Raises JournalError
    when the journal directory is unusable or taken by another process, RedisUnavailableError when
    REDIS_CONN_STRING is set and Redis does not answer (``redis``: a link the caller connected already)."""
    # THEME sets the Theme option's default; a directory (a One API build) shows there as "default".
    options = await Options.load(store, {"Theme": config.theme if config.theme_dir is None else "default"})
    if redis is None and config.redis_conn_string:
        from oneapi.store.redis_link import RedisLink

        redis = RedisLink(config.redis_conn_string)
        await redis.connect()
    events = EventHub()
    stats = LiveStats()
    journal = Journal.open(config.data_path(config.journal_dir), fsync_each=config.journal_fsync_interval == 0)
    try:
        ledger = Ledger(store, journal,
                        flush_interval=config.batch_update_interval if config.batch_update_enabled else 0.0,
                        stale_after=float(config.sync_frequency), fsync_interval=config.journal_fsync_interval)
        await ledger.recover()
    except BaseException:
        journal.close()
        if redis is not None:
            await redis.close()
        raise
    logs = Logs(store, events, ledger)

    def consumed(row: LogRow) -> None:  # every settled request, on the hot path: build events only when watched
        stats.record_request(row.model_name, row.channel_id, row.prompt_tokens + row.completion_tokens, row.quota)
        if events.has_subscribers:
            events.publish("log", {"log": public_log(row.as_dict())})

    ledger.on_log.append(consumed)
    ledger.on_set_aside.append(lambda message: events.publish("alert", {"message": message}))
    ledger.start()
    services = Services(
        config=config, store=store, options=options, logs=logs, ledger=ledger,
        accounts=Accounts(store, options, logs, config, ledger), tokens=Tokens(store, ledger),
        channels=Channels(store, logs, options), vouchers=Vouchers(store, options, logs, ledger),
        events=events, stats=stats, sessions=Sessions(store), redis=redis,
    )
    if redis is not None:
        share_through_redis(services, redis)
    return services


def share_through_redis(services: Services, redis: RedisLink) -> None:
    """Balances reserved and settled in Redis, rate limits counted there; changes made here published, changes
    made elsewhere applied.
    (The relay adds its routing table: ``server.make_relay``.)"""
    from oneapi.services.changes import ChangeFeed
    from oneapi.services.shared_balances import SharedBalances

    ledger, options = services.ledger, services.options
    ledger.share(SharedBalances(redis, stale_after=float(services.config.sync_frequency)))
    services.windows = services.token_limits.shared = SharedWindows(redis)
    changes = services.changes = ChangeFeed(redis)
    ledger.on_changed.append(changes.publish)
    options.on_change.append(lambda _key: changes.publish("options"))
    services.channels.on_change(lambda: changes.publish("channels"))
    changes.on("user", lambda ident: ledger.user_changed(ident, here=False))
    changes.on("token", lambda ident: ledger.token_changed(ident, here=False))
    changes.on("new_token", lambda _: _forget_misses(ledger))
    changes.on("options", lambda _: options.reload())
    changes.on_resync(options.reload)
    changes.on_resync(lambda: _forget_all(ledger))
    changes.start()


async def _forget_misses(ledger: Ledger) -> None:
    ledger.forget_misses()


async def _forget_all(ledger: Ledger) -> None:
    ledger.forget_all()
