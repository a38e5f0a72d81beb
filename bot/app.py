"""The composition root: builds every part from settings and runs them with an explicit
start/stop. Nothing here is a module-level singleton; tests build as many apps as they like."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import os
import socket
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from sqlmodel import Session

from bot.channels.base import Channel
from bot.channels.console import ConsoleChannel
from bot.channels.webchat import WebChatChannel
from bot.domain.catalog import Catalog
from bot.domain.queue_rules import QueueRules
from bot.services import departments, notifications
from bot.services.delivery import Delivery
from bot.services.flow_catalog import FlowCatalog
from bot.services.inbox import ConversationManager
from bot.services.live_relay import LiveRelay
from bot.services.nlu_review import NluReview
from bot.services.queue_watch import StuckWatcher
from bot.services.scheduler import FollowUpScheduler
from bot.services.takeover import Handoff
from bot.services.ticket_desk import TicketDesk
from bot.services.ticket_intake import load_severity
from bot.services.tickets import TicketService
from bot.services.webhooks import WebhookDispatcher
from bot.settings import ConfigError, Settings
from dialogues.engine import EngineOptions
from nlu.types import NluClient
from storage import migrate
from storage.db import Database
from storage.repositories import leases
from storage.types import utcnow

if TYPE_CHECKING:
    from nlu.supervisor import RasaSupervisor

log = logging.getLogger(__name__)


class TousuApp:
    """Everything one bot process runs. ``channels`` defaults to console + webchat plus every
    channel whose credentials are configured."""

    def __init__(
        self,
        settings: Settings,
        *,
        channels: Sequence[Channel] | None = None,
        nlu: NluClient | None = None,
        use_nlu: bool | None = None,
        manage_nlu: bool | None = None,
        clock: Callable[[], datetime] = utcnow,
        migrate_on_start: bool = True,
        run_scheduler: bool | None = None,
    ) -> None:
        """``use_nlu``: None follows ``nlu.enabled`` (true: Rasa, backed by the built-in
        classifier while Rasa is down or starting; false: the built-in classifier alone, so free
        text is understood without a Rasa server); True asks for Rasa whatever the config says;
        False is menus only (``--no-nlu``, and tests that script the menus).
        ``run_scheduler``: whether this process competes for the scheduler lease (default
        ``scheduler.enabled``; False for ``tousu run --no-scheduler`` beside ``tousu scheduler``)."""
        self.settings = settings
        self.clock = clock
        self.migrate_on_start = migrate_on_start
        self.db = Database(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
            busy_timeout_ms=settings.database.busy_timeout_ms,
        )
        self.texts = Catalog.load()
        self.catalog = FlowCatalog(self.texts.engine_messages())
        self.webchat = WebChatChannel()
        self.console = ConsoleChannel()
        self.channels: dict[str, Channel] = {}
        for channel in channels if channels is not None else self._default_channels():
            self.channels[channel.name] = channel
        self.channels.setdefault(self.webchat.name, self.webchat)
        self.channels.setdefault(self.console.name, self.console)
        self.delivery = Delivery(db=self.db, channels=self.channels, settings=settings.outbox, clock=clock)
        self._use_rasa = settings.nlu.enabled if use_nlu is None else use_nlu
        self._use_builtin = use_nlu is not False
        self._manage_nlu = settings.nlu.managed if manage_nlu is None else manage_nlu
        self.nlu: NluClient | None = nlu
        self.nlu_server: object | None = None
        self._nlu_task: asyncio.Task[None] | None = None
        self.nlu_supervisor: RasaSupervisor | None = None
        self.desk = TicketDesk.from_settings(settings, texts=self.texts, flows=self.catalog)
        self.tickets = TicketService(db=self.db, desk=self.desk, delivery=self.delivery, clock=clock)
        self.notifier = notifications.Notifier(db=self.db, settings=settings, clock=clock, flows=self.catalog)
        self._notify_stop = asyncio.Event()
        self._notify_task: asyncio.Task[None] | None = None
        self.scheduler: FollowUpScheduler | None = None
        if settings.scheduler.enabled if run_scheduler is None else run_scheduler:
            self.scheduler = FollowUpScheduler(db=self.db, service=self.tickets, settings=settings.scheduler)
        self.manager = ConversationManager(
            db=self.db,
            catalog=self.catalog,
            delivery=self.delivery,
            nlu=self.nlu,
            default_flow=settings.dialogue.default_flow,
            tz=settings.general.tz,
            default_language=settings.general.default_language,
            options=EngineOptions(
                max_text_length=settings.dialogue.max_text_length,
                max_failures=settings.dialogue.max_failures,
                confidence_threshold=settings.nlu.confidence_threshold,
                timezone=settings.general.timezone,
            ),
            severity=load_severity(settings.path(settings.nlu.severity_rules)),
            clock=clock,
            tickets=self.tickets,
            cache_size=settings.dialogue.cached_conversations,
            queue_rules=QueueRules(
                angry_words=tuple(settings.console.angry_words), agents_back=self._agents_back
            ),
            turn_budget_s=settings.dialogue.turn_budget_seconds,
            texts=self.texts,
        )
        self.handoff = Handoff(
            db=self.db,
            manager=self.manager,
            tickets=self.tickets,
            channels=self.channels,
            files_dir=settings.path(settings.attachments.dir),
            clock=clock,
            texts=self.texts,
        )
        self.nlu_review = NluReview(db=self.db, settings=settings, catalog=self.catalog, clock=clock)
        self.stuck = StuckWatcher(
            db=self.db,
            catalog=self.catalog,
            idle=timedelta(minutes=settings.console.stuck_minutes),
            every=settings.console.watch_seconds,
            clock=clock,
            on_flag=self.handoff.changed,
        )
        self.webhooks = WebhookDispatcher(db=self.db, clock=clock)
        self._sweep_task: asyncio.Task[None] | None = None
        self.live = LiveRelay(self.db, origin=self.delivery.holder)  # console events, all processes
        self.started = False

    def _agents_back(self, now: datetime) -> datetime | None:
        """When staff next work (the lifecycle's working calendar), or None while they do."""
        back = self.desk.calendar.next_working_moment(now)
        return back if back > now else None

    def _default_channels(self) -> list[Channel]:
        wanted = [
            ("telegram", "telegram.token", self.settings.has_telegram),
            ("wechat", "wechat.app_id", self.settings.has_wechat),
        ]
        channels: list[Channel] = []
        for name, key, configured in wanted:
            if not configured:
                continue
            # Imported by name: a channel's module (and its platform library) loads only when
            # its credentials are configured.
            try:
                module = importlib.import_module(f"bot.channels.{name}")
            except ModuleNotFoundError as exc:
                if exc.name != f"bot.channels.{name}":
                    raise
                raise ConfigError(
                    f"config error: {key}: the {name} channel is not in this build yet; unset its settings"
                ) from exc
            build: Callable[[Settings, Database], Channel] = getattr(module, f"build_{name}_channel")
            channels.append(build(self.settings, self.db))
        return channels

    async def start(self) -> None:
        """Migrate, publish the flow files, start NLU, delivery and channels, answer leftovers."""
        if self.migrate_on_start:
            await asyncio.to_thread(migrate.upgrade, self.settings.database_url)
        flows_dir = self.settings.path(self.settings.dialogue.flows_dir)

        def publish(session: Session) -> list[tuple[str, int]]:
            leases.one_at_a_time(session, leases.STARTUP_LOCK)  # processes starting together
            departments.seed(session, self.settings, self.texts)  # config's, where the table has none
            return self.catalog.publish_dir(session, flows_dir)

        live = await self.db.run(publish)
        log.info("live flows: %s", ", ".join(f"{n} v{v}" for n, v in live))
        if self.nlu is None and self._use_rasa:
            self.nlu = self._build_nlu_client()
            self.manager.nlu = self.nlu
            if self._manage_nlu:
                self._start_managed_nlu()
        elif self.nlu is None and self._use_builtin:
            self.nlu = self._build_builtin_client()
            self.manager.nlu = self.nlu
        await self.delivery.start()
        await self.live.start()
        await self.webhooks.start()
        if self.scheduler is not None:
            await self.scheduler.start()
            # staff notifications go out from the one process holding the scheduler lease
            scheduler = self.scheduler
            self._notify_stop.clear()
            self._notify_task = asyncio.create_task(
                self.notifier.run(self._notify_stop, leading=lambda: scheduler.leading)
            )
        for channel in self.channels.values():
            await channel.start(self.manager)
        self.stuck.start()
        self.started = True
        await self.manager.recover()
        if self.manager.shared:  # a dead process's unanswered messages, on a shared database
            self._sweep_task = asyncio.create_task(self.manager.sweep_forever(holder=self.delivery.holder))

    def _build_nlu_client(self) -> NluClient | None:
        """Rasa, backed by the in-process classifier while Rasa is not up yet or is down."""
        from nlu.client import RasaNluClient
        from nlu.fallback import training_files, with_fallback

        places = self.settings.rasa_places
        rasa = RasaNluClient.from_settings(self.settings.nlu, places)
        return with_fallback(rasa, *training_files(places.project_dir, places.reviewed_data))

    def _build_builtin_client(self) -> NluClient | None:
        """No Rasa (``nlu.enabled: false``): the in-process classifier alone understands free
        text, trained on the same examples; None (menus only, logged) if they cannot be read."""
        from nlu.fallback import builtin_client, training_files

        places = self.settings.rasa_places
        return builtin_client(*training_files(places.project_dir, places.reviewed_data))

    def _start_managed_nlu(self) -> None:
        """Start Rasa in the background under a supervisor that restarts it when it dies
        (nlu/supervisor.py); while it is down, the built-in classifier answers."""
        from nlu.server import RasaServer
        from nlu.supervisor import RasaSupervisor

        server = RasaServer(self.settings.nlu, self.settings.rasa_places)
        self.nlu_server = server
        self.nlu_supervisor = RasaSupervisor(server)
        self.nlu_supervisor.start()

    async def stop(self) -> None:
        for channel in reversed(list(self.channels.values())):
            with contextlib.suppress(Exception):
                await channel.stop()
        await self.stuck.stop()
        if self._sweep_task is not None:
            self._sweep_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._sweep_task
            self._sweep_task = None
        await self.nlu_review.drain()
        await self.manager.drain()
        if self.scheduler is not None:
            await self.scheduler.stop()
        if self._notify_task is not None:
            self._notify_stop.set()
            await self._notify_task
            self._notify_task = None
        await self.webhooks.stop()
        await self.delivery.stop()
        await self.live.stop()
        if self._nlu_task is not None:
            self._nlu_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._nlu_task
        if self.nlu_supervisor is not None:
            await self.nlu_supervisor.stop()  # stops the server's whole process group
        server = self.nlu_server
        if server is not None:
            with contextlib.suppress(Exception):
                await server.stop()  # type: ignore[attr-defined]
        if self.nlu is not None:
            await self.nlu.aclose()
        self.db.close()
        self.started = False

    async def __aenter__(self) -> TousuApp:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class SchedulerProcess:
    """``tousu scheduler``: the follow-up scheduler alone, for a deployment that runs it apart
    from the app processes (which then run with ``--no-scheduler``). The messages its jobs write
    stay pending for the app processes' delivery, whose claim poll takes them within a second;
    the staff alerts it fans out are announced to the console pages of every app process over
    the live relay (as an app process announces its own), so badges rise at once."""

    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = utcnow) -> None:
        self.settings = settings
        self.db = Database(
            settings.database_url,
            echo=settings.database.echo,
            pool_size=settings.database.pool_size,
            busy_timeout_ms=settings.database.busy_timeout_ms,
        )
        self.desk = TicketDesk.from_settings(settings, texts=Catalog.load())
        self.tickets = TicketService(db=self.db, desk=self.desk, delivery=None, clock=clock)
        self.scheduler = FollowUpScheduler(db=self.db, service=self.tickets, settings=settings.scheduler)
        self.notifier = notifications.Notifier(
            db=self.db, settings=settings, clock=clock, flows=FlowCatalog(Catalog.load().engine_messages())
        )
        origin = f"scheduler:{socket.gethostname()}:{os.getpid()}"
        self.live = LiveRelay(self.db, origin=origin, receive=False)
        self.notifier.listeners.append(lambda: self.live.publish({"type": "alerts"}))
        self._notify_stop = asyncio.Event()
        self._notify_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.live.start()
        await self.scheduler.start()
        scheduler = self.scheduler
        self._notify_task = asyncio.create_task(
            self.notifier.run(self._notify_stop, leading=lambda: scheduler.leading)
        )

    async def stop(self) -> None:
        await self.scheduler.stop()
        if self._notify_task is not None:
            self._notify_stop.set()
            await self._notify_task
            self._notify_task = None
        await self.live.stop()
        self.db.close()
