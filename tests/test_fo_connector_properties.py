"""Hypothesis: over random histories of inserts (many rows sharing a second, late commits
with an older change date, rows stamped ahead of the service clock), updates and deletes
interleaved with polls at random page sizes, some cut short by a crash, the F&O
``new_or_updated_record`` trigger delivers every (key, change date) that existed at the start
of a completed poll, nothing that never existed at a poll, and nothing twice.

Deletes and updates while the trigger pages matter here: F&O pages by ``$skip``, and the
trigger's client-side keyset paging is what keeps them from hiding rows."""

from __future__ import annotations

import itertools
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.dynamics_fo import FoClient
from emulator import RunningEmulator
from emulator.fo import fo_environment
from emulator.fo.entities import entity_from_seed
from tests.d365_support import iso
from tests.fo_connector_support import fo_client, poll_once
from tests.fo_support import fo_api

_entities = itertools.count()

insert = st.tuples(st.just("insert"), st.integers(1, 6), st.integers(-110, 20))
update = st.tuples(st.just("update"), st.integers(0, 50), st.just(0))
delete = st.tuples(st.just("delete"), st.integers(0, 50), st.just(0))
poll = st.tuples(st.just("poll"), st.integers(1, 7), st.integers(0, 3))  # page size, crash after
history = st.lists(st.one_of(insert, insert, update, delete, poll), min_size=3, max_size=14)


def _new_entity(emulator: RunningEmulator) -> str:
    """A fresh entity per example, so rows of earlier examples never interfere."""
    name = f"PropertyRows{next(_entities)}"
    env = fo_environment(emulator.state)
    env.add_entity(entity_from_seed({
        "name": name, "key": ["LineId"], "fields": {
            "LineId": "string", "N": "int", "Created": "datetime", "Changed": "datetime"},
        "change_date_field": "Changed", "created_date_field": "Created"}, env.catalog.enums))
    return name


async def _versions(emulator: RunningEmulator, entity: str) -> set[str]:
    async with fo_api(emulator) as api:
        rows = await api.rows(entity)
    return {f"{r['dataAreaId']}|{r['LineId']}@{r['Changed'][:19]}" for r in rows}


async def _apply(op: tuple[str, int, int], client: FoClient, emulator: RunningEmulator,
                 entity: str, ids: list[str], serial: itertools.count[int]) -> None:
    kind, a, b = op
    if kind == "insert":  # ``a`` rows sharing one second, ``b`` s from now (late or ahead)
        stamp = iso(time.time() + b)
        new = [f"R{next(serial):04d}" for _ in range(a)]
        async with fo_api(emulator) as api:
            await api.insert(entity, [{"LineId": i, "Changed": stamp, "Created": stamp}
                                      for i in new])
        ids += new
    elif ids and kind == "update":
        row = ids[a % len(ids)]
        await client.request("PATCH", f"{entity}(dataAreaId='usmf',LineId='{row}')",
                             json_body={"N": a})
    elif ids and kind == "delete":
        row = ids.pop(a % len(ids))
        await client.request("DELETE", f"{entity}(dataAreaId='usmf',LineId='{row}')")


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=history)
async def test_every_version_that_existed_at_a_poll_is_delivered_exactly_once(
        emulator: RunningEmulator, ops: list[tuple[str, int, int]]) -> None:
    entity = _new_entity(emulator)
    params: dict[str, Any] = {"entity": entity, "since": "beginning", "lookback": "5m",
                              "date_field": "Changed"}
    ids: list[str] = []
    serial = itertools.count()
    delivered: list[str] = []
    must: set[str] = set()  # existed at the start of a poll that completed
    may: set[str] = set()  # existed at the start of any poll
    cursor: dict[str, Any] | None = None
    async with fo_client(emulator) as client:
        for op in [*ops, ("poll", 5, 0)]:  # a final, complete poll
            if op[0] != "poll":
                await _apply(op, client, emulator, entity, ids, serial)
                continue
            existing = await _versions(emulator, entity)
            crash_after = op[2] or None
            events, cursor = await poll_once("new_or_updated_record", client,
                                             {**params, "page_size": op[1]}, cursor,
                                             crash_after)
            delivered += [e.key for e in events]
            may |= existing
            if crash_after is None:
                must |= existing
    assert len(delivered) == len(set(delivered)), "a version was delivered twice"
    assert must <= set(delivered), f"missed: {sorted(must - set(delivered))}"
    assert set(delivered) <= may, "delivered a version that no poll could see"
