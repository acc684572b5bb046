"""``recipe-runner run``: the long-running service.

Start: logging, the state store (migrations), connections (a broken file stops the start
with every problem listed), recipes (a broken recipe is reported and left out; the rest
run). Then each recipe's trigger is polled on its interval by APScheduler (coalesced,
never overlapping itself) while its worker runs jobs.

Reload on SIGHUP or when a file in the recipes directory changes: new recipes start,
changed ones restart, removed ones stop; a broken edit keeps the last good version.
SIGTERM/SIGINT: stop polling, let running steps finish within the grace period, release
claims, exit 0. A second signal exits at once; every finished step is already committed,
so only the steps that were running repeat on the next start.

Several replicas may share one PostgreSQL (``runner.cluster``): each heartbeats, takes the
leases of its fair share of recipes, and polls only those, committing under the lease's
epoch; every replica runs the jobs of every loaded recipe. On SQLite the one replica
takes every lease.
"""

from __future__ import annotations

import asyncio
import os
import signal
import ssl
from contextlib import AsyncExitStack
from datetime import UTC, datetime
from pathlib import Path

import structlog
from apscheduler.events import EVENT_JOB_MAX_INSTANCES, JobSubmissionEvent
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from connectors.base import Registry
from connectors.catalog import default_registry
from runner.cluster import (
    ClusterSettings,
    Coordinator,
    CoordinatorLoop,
    CoordinatorThread,
    ReplicaIdInUse,
    cluster_engine,
)
from runner.config import ConfigError
from runner.connections import ConnectionsFile, load_connections
from runner.daemon_backfills import CHECK_EVERY_S, run_requested_backfills
from runner.daemon_health import RecipeHealth
from runner.daemon_push import RETRY_EVERY_S as PUSH_RETRY_EVERY_S
from runner.daemon_push import register_push_feeds, unregister_gone
from runner.engine.engine import Engine, connections_used
from runner.engine.worker import WorkerSettings
from runner.heartbeat_file import HeartbeatFile, heartbeat_path
from runner.listener import listening, parse_listen, tls_context
from runner.logs import REDACTOR, configure_logging, log_exception
from runner.ops import listen_problem
from runner.recipes import LoadedRecipes
from runner.recipes.declared import declared_name
from runner.recipes.loader import LoadTimedOut, load_recipes_off_loop, recipe_files
from runner.runtime import ConnectionPool, secret_values, token_manager_for
from runner.settings import Settings
from runner.store import ConnectionStatus, Store
from runner.store.open_errors import open_failure
from runner.systemd import SystemdNotifier
from runner.tokens import TokenManager

EXIT_OK, EXIT_CONFIG = 0, 2
PUSHED_TRIGGERS = frozenset({"http.webhook"})


class Daemon:
    def __init__(self, settings: Settings, registry: Registry | None = None) -> None:
        self.settings = settings
        self.registry = registry or default_registry()
        self.log = structlog.get_logger("recipe-runner")
        self.connections: ConnectionsFile | None = None
        self.engine: Engine | None = None
        self.scheduler: AsyncIOScheduler | None = None
        self._stop = asyncio.Event()
        self._reload = asyncio.Event()
        self._signals = 0
        self._files_seen: dict[Path, float] = {}
        self._file_of: dict[str, str] = {}  # recipe name -> file it came from
        self.listen_port: int | None = None
        self.tokens: TokenManager | None = None
        self.cluster: CoordinatorLoop | None = None
        self._leased: tuple[str, ...] = ()  # recipes to share out (read by self.cluster)
        self._polls: set[asyncio.Task[object]] = set()  # polls in flight
        self._poll_jobs: set[str] = set()  # scheduler jobs that poll (feeds, recipes)
        self.health = RecipeHealth(self.log)
        self.systemd = SystemdNotifier.from_env()
        self.heartbeat = HeartbeatFile(heartbeat_path(settings.state_url,
                                                      settings.heartbeat_file))

    # -- lifecycle -------------------------------------------------------------------

    async def run(self) -> int:
        refused = listen_problem(parse_listen(self.settings.listen), self.settings.status_token)
        if refused and not self.settings.burst:
            self.log.error("daemon.cannot_start", reason=refused)
            return EXIT_CONFIG
        if not self._load_connections():
            return EXIT_CONFIG
        self.systemd.start_watchdog()
        store = await self._open_store()
        if store is None:
            await self.systemd.stop_watchdog()
            return EXIT_CONFIG
        self.heartbeat.start()
        if not await self._join_cluster(store):
            await store.close()
            await self.heartbeat.stop()
            await self.systemd.stop_watchdog()
            return EXIT_CONFIG
        self.tokens = await self._start_tokens(store)
        pool = ConnectionPool(self.connections, self.tokens)
        settings = WorkerSettings(self.settings.worker_id, self.settings.claim_ttl_s)
        self.engine = Engine(store, self.registry, pool, self.log, settings, REDACTOR)
        try:
            released = await store.release_claims(self.settings.worker_id)
            if released:
                self.log.info("daemon.resumed_jobs", jobs=released)
            self._apply(await self._load_recipes() or LoadedRecipes(), start=False)
            if self.settings.burst:
                return await self._burst()
            return await self._serve()
        finally:
            await self.health.clear_kept(self.engine, list(self.health.kept),
                                         files=self._file_of, fixed=False)
            await self.engine.stop(self.settings.grace_s)
            await self._leave_cluster()
            if self.tokens is not None:
                self.tokens.close()
            await store.close()
            await self.heartbeat.stop()
            await self.systemd.stop_watchdog()
            self.log.info("daemon.stopped")

    async def _open_store(self) -> Store | None:
        """The state store, or None after one ``daemon.cannot_start`` line saying why."""
        try:
            return await Store.open(self.settings.state_url)
        except Exception as exc:
            self.log.error("daemon.cannot_start",
                           reason=open_failure(exc, self.settings.state_url))
            return None

    async def _burst(self) -> int:
        """Poll the recipes whose leases this replica takes (all of them unless other
        replicas are live), then run every due job of every recipe."""
        assert self.engine is not None and self.cluster is not None
        coordinator = self.cluster.coordinator
        await self.engine.settle_feeds()
        await self.cluster.call(coordinator.tick(self._polled_recipes()))
        polled = 0
        for name in self._polled_recipes():
            epoch = coordinator.epoch_for(name)
            if epoch is not None:
                await self.engine.poll(name, expected_epoch=epoch)
                polled += 1
        counts = await asyncio.gather(
            *(running.worker.run_until_idle() for running in self.engine.recipes.values()))
        self.log.info("daemon.burst_finished", jobs_run=sum(counts),
                      recipes=len(self.engine.recipes), polled=polled)
        return EXIT_OK

    async def _serve(self) -> int:
        """Listen first (a port that cannot be bound stops the start before anything
        polls), then schedule the polls, say ready, and serve until stopped."""
        async with AsyncExitStack() as listener:
            refused = await self._start_listener(listener)
            if refused:
                self.log.error("daemon.cannot_start", reason=refused)
                return EXIT_CONFIG
            return await self._serve_listening()

    async def _serve_listening(self) -> int:
        assert self.engine is not None
        self._install_signals()
        self.scheduler = AsyncIOScheduler(timezone=UTC)
        self.scheduler.add_listener(self._on_overrun, EVENT_JOB_MAX_INSTANCES)
        self.scheduler.start()
        await self.engine.settle_feeds()
        await self._cluster_tick()  # take our leases before the first polls are due
        for running in self.engine.recipes.values():
            running.worker.start()
        self._schedule_polls()
        self._schedule_token_upkeep()
        self.scheduler.add_job(self._requested_backfills, "interval", seconds=CHECK_EVERY_S,
                               id="operator:backfills", coalesce=True, max_instances=1)
        await self._register_push()
        self.scheduler.add_job(self._register_push, "interval", seconds=PUSH_RETRY_EVERY_S,
                               id="push:registrations", coalesce=True, max_instances=1)
        await self._start_cluster_loops()
        self.log.info(
            "daemon.ready", recipes=len(self.engine.recipes), worker=self.settings.worker_id
        )
        watcher = asyncio.create_task(self._watch_files(), name="recipe-watcher")
        sweeper = asyncio.create_task(self.engine.sweep(), name="job-sweep")
        try:
            self.systemd.ready(f"{len(self.engine.recipes)} recipes running")
            while not self._stop.is_set():
                await self._wait_for_stop_or_reload()
                if self._reload.is_set() and not self._stop.is_set():
                    self._reload.clear()
                    await self._reload_safely()
        finally:
            watcher.cancel()
            sweeper.cancel()
            await self._stop_cluster_loops()
            # No new runs, but the polls in flight commit (shutting the scheduler down
            # first would cancel them mid-transaction).
            self.scheduler.pause()
            await self._finish_polls()
            self.scheduler.shutdown(wait=False)
            self.log.info("daemon.stopping", grace_s=self.settings.grace_s)
            self.systemd.stopping(f"stopping: running steps get {self.settings.grace_s:g}s")
        return EXIT_OK

    async def _start_listener(self, stack: AsyncExitStack) -> str | None:
        """Bind the listener (it stays open until ``stack`` closes); why not, or None."""
        address = parse_listen(self.settings.listen)
        if address is None:
            return None
        assert self.engine is not None
        try:
            tls = tls_context(self.settings.tls_cert, self.settings.tls_key)
        except (OSError, ssl.SSLError, ValueError) as exc:
            return f"cannot serve https: {exc}"
        try:
            port = await stack.enter_async_context(
                listening(self.engine, *address, status_token=self.settings.status_token,
                          tls=tls))
        except OSError as exc:
            return cannot_listen(address, exc)
        self.listen_port = port
        self.log.info("daemon.listening", host=address[0], port=port)
        return None

    async def _register_push(self, *, again: bool = False) -> None:
        assert self.engine is not None
        try:
            await register_push_feeds(self.engine, self.settings, self.log, again=again)
        except Exception as exc:  # the store or a token is down: the next round tries again
            self.log.warning("feed.push_registration_failed", error=str(exc))

    def _on_overrun(self, event: JobSubmissionEvent) -> None:
        self.health.overran(self.engine, event.job_id)  # APScheduler's text: see runner.logs

    async def _wait_for_stop_or_reload(self) -> None:
        stop = asyncio.create_task(self._stop.wait())
        reload = asyncio.create_task(self._reload.wait())
        await asyncio.wait({stop, reload}, return_when=asyncio.FIRST_COMPLETED)
        for task in (stop, reload):
            task.cancel()

    def _install_signals(self) -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._reload.set)

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals > 1:
            # Everything finished is committed; running steps repeat on the next start.
            self.log.warning("daemon.exit_now", signal=sig.name)
            os._exit(1)
        self.log.info("daemon.signal", signal=sig.name)
        self._stop.set()

    def request_stop(self) -> None:
        self._stop.set()

    # -- replicas: membership and recipe leases ----------------------------------------

    async def _join_cluster(self, store: Store) -> bool:
        cluster = ClusterSettings(self.settings.worker_id, self.settings.lease_ttl_s)
        # PostgreSQL: its own pool and event loop, so that busy workers never delay
        # heartbeats or takeovers. SQLite: one replica, the store's engine and loop.
        engine = cluster_engine(store.engine, self.settings.state_url)
        coordinator = Coordinator(engine, cluster, log=self.log)
        own = engine is not store.engine
        self.cluster = CoordinatorThread(coordinator) if own else CoordinatorLoop(coordinator)
        try:
            await self.cluster.call(self.cluster.coordinator.join())
        except ReplicaIdInUse as exc:
            self.log.error("daemon.cannot_start", reason=str(exc))
            await self.cluster.close()
            self.cluster = None
            return False
        return True

    async def _leave_cluster(self) -> None:
        if self.cluster is None:
            return
        try:
            await self.cluster.stop()
            await self.cluster.call(self.cluster.coordinator.leave())
        except Exception as exc:  # the leases lapse after their TTL anyway
            self.log.warning("replica.leave_failed", error=str(exc))
        await self.cluster.close()

    def _polled_recipes(self) -> list[str]:
        """What this daemon polls (and leases): each table feed and each recipe that polls
        on its own; recipes whose events are pushed are not polled."""
        assert self.engine is not None
        recipes = self.engine.recipes
        return [name for name in self.engine.pollables()
                if name not in recipes or recipes[name].recipe.trigger.type not in PUSHED_TRIGGERS]

    async def _cluster_tick(self) -> None:
        """Heartbeat and rebalance once; a recipe whose lease we just took is polled at once."""
        assert self.cluster is not None
        try:
            result = await self.cluster.call(
                self.cluster.coordinator.tick(self._polled_recipes()))
        except Exception as exc:  # the store is unreachable: leases lapse, polls stop
            self.log.error("cluster.tick_failed", error=f"{exc.__class__.__name__}: {exc}")
            return
        self._poll_now(result.acquired)

    async def _start_cluster_loops(self) -> None:
        """Heartbeat (renewing every lease) and rebalance run as loops of their own, not as
        scheduler jobs: a slow acquisition never delays a renewal, and a renewal is never
        skipped as a missed run."""
        assert self.cluster is not None
        await self.cluster.start(lambda: self._leased, self._poll_now)

    async def _stop_cluster_loops(self) -> None:
        if self.cluster is not None:
            await self.cluster.stop()

    async def _poll(self, name: str) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._polls.add(task)
        try:
            await self._poll_leased(name)
        except asyncio.CancelledError:  # stopped past the grace period: one line, no traceback
            self.log.warning("poll.cancelled", recipe=name)
        except Exception as exc:  # one structured line, not the scheduler's traceback
            log_exception("poll.crashed", exc, recipe=name)
        finally:
            self._polls.discard(task)  # type: ignore[arg-type]
            self.health.poll_ended(name)

    async def _finish_polls(self) -> None:
        """Let polls in flight commit before the store closes (within the grace period)."""
        if self._polls:
            await asyncio.wait(set(self._polls), timeout=self.settings.grace_s)

    async def _poll_leased(self, name: str) -> None:
        """Poll ``name`` only while this replica holds its lease, under the lease's epoch;
        a failed poll re-checks the lease and drops the recipe if it was taken over."""
        assert self.engine is not None and self.cluster is not None
        running = self.engine.recipes.get(name)
        epoch = self.cluster.coordinator.epoch_for(name)
        if epoch is None or (running is None and name not in self.engine.feeds):
            return
        summaries = await self.engine.poll(name, expected_epoch=epoch)
        for recipe, summary in summaries.items():
            if summary.skipped is None:
                await self.health.poll_finished(self.engine, recipe, summary.error)
        if not any(summary.error for summary in summaries.values()):
            return
        try:
            if not await self.cluster.call(self.cluster.coordinator.confirm(name)):
                self.log.warning("poll.lease_lost", recipe=name, epoch=epoch)
        except Exception as exc:  # the store is unreachable: the next tick decides
            self.log.warning("cluster.confirm_failed", recipe=name, error=str(exc))

    async def _requested_backfills(self) -> None:
        """Backfills an operator queued from a shell without the connections' secrets."""
        assert self.engine is not None and self.cluster is not None
        coordinator = self.cluster.coordinator
        try:
            engine = self.engine
            await run_requested_backfills(
                engine, self.registry,
                lambda name: coordinator.epoch_for(engine.pollable_of(name)) is not None,
                self.log)
        except Exception as exc:  # the store is down: the next check tries again
            self.log.warning("recipe.backfill_check_failed", error=str(exc))

    # -- connections and their tokens -----------------------------------------------------

    async def _start_tokens(self, store: Store) -> TokenManager | None:
        manager = token_manager_for(self.connections, store, self.settings.state_url)
        if manager is None:
            return None
        manager.subscribe(self._on_connection_state)
        await manager.start()
        return manager

    def _on_connection_state(self, name: str, state: ConnectionStatus, reason: str | None) -> None:
        if self.engine is None:
            return
        if state is ConnectionStatus.OK:
            resumed = self.engine.resume_connection(name)
            if resumed:
                self.log.info("recipes.resumed", connection=name, recipes=resumed)
                self._poll_now(resumed)
            return
        paused = self.engine.pause_connection(name, f"connection {name} is {state}: {reason}")
        if paused:
            self.log.warning("recipes.paused", connection=name, recipes=paused, reason=reason)

    def _poll_now(self, names: list[str]) -> None:
        if self.scheduler is None or self.engine is None:
            return
        for name in dict.fromkeys(self.engine.pollable_of(name) for name in names):
            job = self.scheduler.get_job(name)
            if job is not None:
                job.modify(next_run_time=datetime.now(UTC))

    def _schedule_token_upkeep(self) -> None:
        assert self.scheduler is not None
        if self.tokens is None:
            return
        interval_s = self.tokens.settings.keep_alive_interval_s
        self.scheduler.add_job(self.tokens.keep_alive, "interval", seconds=interval_s,
                               id="tokens:keep-alive", coalesce=True, max_instances=1)
        # A connection already broken at start (stored state) is tried at once: fixed
        # while the daemon was down (new secret, `connections login`) resumes right away.
        # (next_run_time=None would add the job paused: pass it only when due now.)
        first = {"next_run_time": datetime.now(UTC)} if self.tokens.needing_a_person() else {}
        self.scheduler.add_job(self.tokens.recheck, "interval",
                               seconds=self.settings.token_recheck_s,
                               id="tokens:recheck", coalesce=True, max_instances=1, **first)

    # -- configuration -----------------------------------------------------------------

    def _load_connections(self) -> bool:
        path = self.settings.connections
        if path is None:
            return True
        try:
            self.connections = load_connections(path)
        except ConfigError as exc:
            for problem in exc.problems:
                self.log.error("config.problem", problem=str(problem))
            self.log.error("daemon.cannot_start", reason=f"{path} has problems")
            return False
        REDACTOR.add(secret_values(self.connections))
        return True

    def _connection_types(self) -> dict[str, str] | None:
        if self.connections is None:
            return {}
        return {name: conn.type for name, conn in self.connections.connections.items()}

    async def _load_recipes(self) -> LoadedRecipes | None:
        """The recipe files, read off the event loop; None when reading timed out."""
        self._files_seen = self._snapshot()
        try:
            loaded = await load_recipes_off_loop(self.settings.recipes, self.registry,
                                                 self._connection_types())
        except LoadTimedOut as exc:
            self.log.error("recipes.load_failed", reason=str(exc))
            return None
        for problem in loaded.problems:
            level = self.log.error if problem.is_error else self.log.warning
            level("recipe.problem", recipe=self._recipe_of(problem.file, loaded),
                  file=problem.file, problem=str(problem))
        return loaded

    def _recipe_of(self, file: str, loaded: LoadedRecipes) -> str | None:
        """Which recipe a file is: as loaded now, as last loaded, or as it says."""
        for recipe in loaded.recipes.values():
            if recipe.file == file:
                return recipe.name
        for name, known in self._file_of.items():
            if known == file:
                return name
        return declared_name(file)

    def _apply(self, loaded: LoadedRecipes, *, start: bool) -> None:
        assert self.engine is not None
        added = []
        for recipe in loaded.recipes.values():
            if not recipe.enabled:
                self.log.info("recipe.disabled", recipe=recipe.name)
                continue
            self.engine.add(recipe, start_worker=start)
            self._file_of[recipe.name] = recipe.file
            added.append(recipe.name)
            self.log.info(
                "recipe.loaded", recipe=recipe.name, file=recipe.file, trigger=recipe.trigger.type
            )
        self._pause_for_broken_connections(added)
        self._leased = tuple(self._polled_recipes())  # one snapshot: read by another thread

    def _pause_for_broken_connections(self, added: list[str]) -> None:
        """Recipes just loaded whose connection already needs a person (e.g. stored as
        invalid before a restart) are paused exactly as when it broke while running."""
        assert self.engine is not None
        if self.tokens is None:
            return
        for name, status, reason in self.tokens.needing_a_person():
            paused = self.engine.pause_connection(name, f"connection {name} is {status}: {reason}")
            new = [recipe for recipe in paused if recipe in added]
            if new:
                self.log.warning("recipes.paused", connection=name, recipes=new, reason=reason)

    def _schedule_polls(self) -> None:
        """One scheduler job per pollable (a feed at its members' shortest interval, or a
        recipe polling on its own); jobs of pollables that went away are removed."""
        assert self.scheduler is not None and self.engine is not None
        wanted = set(self._polled_recipes())
        intervals = self.engine.pollables()
        for job in self.scheduler.get_jobs():
            if job.id not in wanted and job.id in self._poll_jobs:
                job.remove()
                self._poll_jobs.discard(job.id)
        for name in wanted:
            job = self.scheduler.get_job(name)
            if job is not None and job.trigger.interval.total_seconds() == intervals[name]:
                continue
            self.scheduler.add_job(
                self._poll, "interval", args=[name], seconds=intervals[name], id=name,
                replace_existing=True, coalesce=True, max_instances=1,
                next_run_time=datetime.now(UTC), misfire_grace_time=None)
            self._poll_jobs.add(name)

    async def reload(self) -> None:
        """Start new recipes, restart changed ones, stop removed ones; keep the last good
        version of a recipe whose file is now broken."""
        assert self.engine is not None and self.scheduler is not None
        self.systemd.reloading()
        changed_connections = await self._reload_connections()
        loaded = await self._load_recipes()
        if loaded is None:
            self.log.warning("recipes.kept_last_good", recipes=sorted(self.engine.recipes))
            return
        broken = set(loaded.broken_files)
        current = self.engine.recipes
        feeds_before = dict(self.engine.feeds)
        for name in list(current):
            new = loaded.recipes.get(name)
            if new is None and self._file_of.get(name) in broken:
                await self.health.keep_last_good(self.engine, name, self._file_of[name], loaded)
                continue
            if (
                new is None
                or not new.enabled
                or new.fingerprint != current[name].recipe.fingerprint
                or connections_used(current[name].recipe) & changed_connections
            ):
                await self.engine.remove(name, self.settings.grace_s)
                self.log.info("recipe.stopped", recipe=name)
        fresh = LoadedRecipes(
            recipes={n: r for n, r in loaded.recipes.items() if n not in self.engine.recipes}
        )
        self._apply(fresh, start=True)
        await self.engine.settle_feeds()
        self._schedule_polls()
        await unregister_gone(feeds_before, self.engine, self.log)
        await self._register_push(again=True)  # members changed: their columns may have
        await self.health.clear_kept(self.engine, list(loaded.recipes), files=self._file_of,
                                     fixed=True)
        if self.cluster is not None:
            self.cluster.rebalance_soon()  # take the leases of new recipes now
        self.log.info("daemon.reloaded", recipes=len(self.engine.recipes))
        self.systemd.ready(f"{len(self.engine.recipes)} recipes running")

    async def _reload_safely(self) -> None:
        """A reload problem of any kind leaves the running recipes as they were."""
        try:
            await self.reload()
        except Exception as exc:
            self.log.error("daemon.reload_failed", error=f"{exc.__class__.__name__}: {exc}",
                           kept="the recipes running before the reload")

    async def _reload_connections(self) -> set[str]:
        """Re-read the connections file; a broken file keeps the last good one. Returns the
        connections whose settings changed (their recipes restart, their tokens retry)."""
        assert self.engine is not None
        path = self.settings.connections
        if path is None:
            return set()
        try:
            connections = load_connections(path)
        except ConfigError as exc:
            for problem in exc.problems:
                self.log.error("config.problem", problem=str(problem))
            self.log.warning("connections.kept_last_good", file=str(path))
            return set()
        REDACTOR.add(secret_values(connections))
        self.connections = connections
        if self.tokens is not None:
            await self.tokens.reload(connections)
        else:
            self.tokens = await self._start_tokens(self.engine.store)
        changed = self.engine.pool.update(connections, self.tokens)
        if changed:
            self.log.info("connections.reloaded", changed=sorted(changed))
        return changed

    def _snapshot(self) -> dict[Path, float]:
        """Modification times of the recipe files and the connections file."""
        paths = recipe_files(self.settings.recipes)
        if self.settings.connections is not None:
            paths.append(self.settings.connections)
        seen: dict[Path, float] = {}
        for path in paths:
            try:
                seen[path] = path.stat().st_mtime
            except OSError:
                continue
        return seen

    async def _watch_files(self) -> None:
        while True:
            await asyncio.sleep(self.settings.reload_check_s)
            if self._snapshot() != self._files_seen:
                self.log.info("daemon.recipes_changed")
                self._reload.set()


def bind_failure(host: str, port: int, exc: OSError) -> str:
    """``cannot listen on host:port: address already in use`` (asyncio's own text repeats
    the address; the errno's words are enough)."""
    reason = os.strerror(exc.errno) if exc.errno else (exc.strerror or str(exc))
    return f"cannot listen on {host}:{port}: {reason.lower()}"


def cannot_listen(address: tuple[str, int], exc: OSError) -> str:
    """Why the listener did not start, and what to do about it."""
    return (f"{bind_failure(*address, exc)} (another process has it? set "
            "RECIPE_RUNNER_LISTEN=host:port, or off to run without the listener)")


def run_daemon(settings: Settings, registry: Registry | None = None) -> int:
    configure_logging(settings.log_format, settings.log_level)
    return asyncio.run(Daemon(settings, registry).run())
