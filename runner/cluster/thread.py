"""Where the coordinator runs: on an event loop of its own, in a thread of its own
(PostgreSQL), or on the daemon's loop (SQLite: a single replica, the store's engine).

The daemon's loop runs hundreds of workers: its callbacks run tens of milliseconds late,
sometimes most of a second, and a heartbeat or a takeover is several round trips to the
database, each waiting for a loop turn. On its own loop (with its own connection pool) the
coordinator waits for neither; the GIL hands it the interpreter within milliseconds.

Everything the coordinator does with the database runs on its loop (``call``): its
engine's connections belong to that loop. ``coordinator.epoch_for`` and ``owned`` are
plain reads of a dict and may be called from any thread.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Collection, Coroutine
from typing import Any, TypeVar

from runner.cluster.coordinator import Coordinator

T = TypeVar("T")

# A loop stuck in the store (unreachable, locked) must not hold up a shutdown: its leases
# lapse after their TTL anyway.
STOP_TIMEOUT_S = 2.0


class CoordinatorLoop:
    """Runs ``coordinator`` on the caller's event loop."""

    def __init__(self, coordinator: Coordinator) -> None:
        self.coordinator = coordinator
        self._loops: asyncio.Task[None] | None = None  # on the coordinator's loop

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` on the coordinator's loop; cancelling the caller cancels it."""
        return await coro

    async def start(self, recipes: Callable[[], Collection[str]],
                    on_acquired: Callable[[list[str]], None]) -> None:
        """Start the heartbeat and rebalance loops. ``recipes`` is called on the
        coordinator's loop (return an immutable snapshot); ``on_acquired`` on the caller's."""
        caller = asyncio.get_running_loop()

        def acquired(names: list[str]) -> None:
            caller.call_soon_threadsafe(on_acquired, names)

        async def start() -> None:
            self._loops = asyncio.create_task(self.coordinator.run(recipes, acquired),
                                              name="cluster")

        await self.call(start())

    def rebalance_soon(self) -> None:
        self.coordinator.rebalance_soon()

    async def stop(self) -> None:
        """Stop the loops once their round is done; cancel them after ``STOP_TIMEOUT_S``."""

        async def stop() -> None:
            task, self._loops = self._loops, None
            if task is None:
                return
            self.coordinator.stop_soon()
            await asyncio.wait({task}, timeout=STOP_TIMEOUT_S)
            task.cancel()  # still in the store: give up on it (no-op when done)

        await self.call(stop())

    async def close(self) -> None:
        """Stop the loops (the engine is the store's: it closes with the store)."""
        await self.stop()


class CoordinatorThread(CoordinatorLoop):
    """Runs ``coordinator`` (with an engine of its own) on its own loop in its own thread."""

    def __init__(self, coordinator: Coordinator) -> None:
        super().__init__(coordinator)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True,
                                        name=f"cluster-{coordinator.replica_id}")
        self._thread.start()

    async def call(self, coro: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(coro, self._loop))

    def rebalance_soon(self) -> None:
        self._loop.call_soon_threadsafe(self.coordinator.rebalance_soon)

    async def close(self) -> None:
        """Stop the loops, close the coordinator's engine, end the thread."""
        await self.stop()
        await asyncio.wait({asyncio.ensure_future(self.call(self.coordinator.engine.dispose()))},
                           timeout=STOP_TIMEOUT_S)
        self._loop.call_soon_threadsafe(self._loop.stop)
        await asyncio.to_thread(self._thread.join)
        self._loop.close()
