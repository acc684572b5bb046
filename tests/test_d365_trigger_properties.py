"""Hypothesis: over random histories of inserts, updates and deletes (many rows sharing a
second, late commits with older ``modifiedon``, rows stamped ahead of the service clock)
interleaved with polls at random page sizes, some cut short by a crash, the
``new_or_updated_record`` trigger delivers every (id, version) that existed at a completed
poll, delivers nothing that never existed at a poll, and never delivers anything twice."""

from __future__ import annotations

import itertools
import time
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.dynamics365 import DataverseClient
from connectors.dynamics365.triggers import NEW_OR_UPDATED_RECORD_SPEC
from emulator import RunningEmulator
from emulator.dataverse import environment_of
from emulator.dataverse.tables import table_from_seed
from tests.d365_support import control, d365_client, insert_rows, iso, poll_once

_tables = itertools.count()

insert = st.tuples(st.just("insert"), st.integers(1, 6), st.integers(-110, 20))
update = st.tuples(st.just("update"), st.integers(0, 50), st.just(0))
delete = st.tuples(st.just("delete"), st.integers(0, 50), st.just(0))
poll = st.tuples(st.just("poll"), st.integers(1, 7), st.integers(0, 3))  # page size, crash after
history = st.lists(st.one_of(insert, insert, update, delete, poll), min_size=3, max_size=14)


def _new_table(emulator: RunningEmulator) -> tuple[str, str, str]:
    logical = f"new_h{next(_tables)}"
    environment_of(emulator.state).add_table(table_from_seed(
        {"logical_name": logical, "attributes": [{"name": "new_n", "type": "integer"}]}))
    return logical, f"{logical}s", f"{logical}id"


async def _versions(emulator: RunningEmulator, logical: str, pk: str) -> set[str]:
    rows = (await control(emulator, "GET", f"/_emulator/dataverse/tables/{logical}/rows"))["rows"]
    return {f"{r[pk]}:{r['versionnumber']}" for r in rows}


async def _apply(op: tuple[str, int, int], client: DataverseClient, emulator: RunningEmulator,
                 table: tuple[str, str, str], ids: list[str]) -> None:
    kind, a, b = op
    logical, entity_set, _ = table
    if kind == "insert":  # ``a`` rows sharing one second, ``b`` s from now (late or ahead)
        stamp = iso(time.time() + b)
        async with emulator.client_session() as http:
            ids += await insert_rows(http, emulator, logical, [
                {"new_n": n, "modifiedon": stamp, "createdon": stamp} for n in range(a)])
    elif ids and kind == "update":
        await client.request("PATCH", f"{entity_set}({ids[a % len(ids)]})",
                             json_body={"new_n": a}, headers={"If-Match": "*"})
    elif ids and kind == "delete":
        await client.request("DELETE", f"{entity_set}({ids.pop(a % len(ids))})")


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(ops=history)
async def test_every_version_that_existed_at_a_poll_is_delivered_exactly_once(
        emulator: RunningEmulator, ops: list[tuple[str, int, int]]) -> None:
    table = _new_table(emulator)
    logical, entity_set, pk = table
    params: dict[str, Any] = {"table": entity_set, "since": "beginning", "lookback": "5m",
                              "primary_key": pk}
    ids: list[str] = []
    delivered: list[str] = []
    must: set[str] = set()  # existed at the start of a poll that completed
    may: set[str] = set()  # existed at the start of any poll
    cursor: dict[str, Any] | None = None
    async with d365_client(emulator) as client:
        for op in [*ops, ("poll", 5, 0)]:  # a final, complete poll
            if op[0] != "poll":
                await _apply(op, client, emulator, table, ids)
                continue
            existing = await _versions(emulator, logical, pk)
            crash_after = op[2] or None
            events, cursor = await poll_once(NEW_OR_UPDATED_RECORD_SPEC, client,
                                             {**params, "page_size": op[1]}, cursor, crash_after)
            delivered += [e.key for e in events]
            may |= existing
            if crash_after is None:
                must |= existing
    assert len(delivered) == len(set(delivered)), "a version was delivered twice"
    assert must <= set(delivered), f"missed: {sorted(must - set(delivered))}"
    assert set(delivered) <= may, "delivered a version that no poll could see"
