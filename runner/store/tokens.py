"""Encrypted MSAL token caches (compare-and-set by version) and connection states."""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from runner.store._sql import insert_for
from runner.store.errors import TokenCacheConflict
from runner.store.records import ConnectionState, ConnectionStatus, TokenCache
from runner.store.schema import connection_states, token_caches


async def load_token_cache(conn: AsyncConnection, connection: str) -> TokenCache | None:
    """The connection's encrypted cache and its version, or ``None`` if never saved."""
    row = (
        await conn.execute(select(token_caches).where(token_caches.c.connection == connection))
    ).first()
    if row is None:
        return None
    return TokenCache(
        ciphertext=bytes(row.ciphertext), version=row.version, updated_at=row.updated_at
    )


async def save_token_cache(
    conn: AsyncConnection, connection: str, ciphertext: bytes, expected_version: int, now_s: float
) -> int:
    """Store ``ciphertext`` if the cache is still at ``expected_version`` (0: none saved yet)
    and return the new version; raises ``TokenCacheConflict`` otherwise."""
    new_version = expected_version + 1
    values = {"ciphertext": ciphertext, "version": new_version, "updated_at": now_s}
    if expected_version == 0:
        stmt = (
            insert_for(conn, token_caches)
            .values(connection=connection, **values)
            .on_conflict_do_nothing(index_elements=[token_caches.c.connection])
        )
    else:
        stmt = (
            update(token_caches)
            .where(
                token_caches.c.connection == connection,
                token_caches.c.version == expected_version,
            )
            .values(**values)
        )
    if (await conn.execute(stmt.returning(token_caches.c.version))).first() is None:
        raise TokenCacheConflict(connection, expected_version)
    return new_version


async def get_connection_state(conn: AsyncConnection, connection: str) -> ConnectionState | None:
    """The last recorded state of the connection, or ``None`` if none was recorded."""
    row = (
        await conn.execute(
            select(connection_states).where(connection_states.c.connection == connection)
        )
    ).first()
    return None if row is None else _state_from_row(row._asdict())


async def list_connection_states(conn: AsyncConnection) -> list[ConnectionState]:
    rows = await conn.execute(select(connection_states).order_by(connection_states.c.connection))
    return [_state_from_row(row._asdict()) for row in rows]


async def set_connection_state(
    conn: AsyncConnection,
    connection: str,
    state: ConnectionStatus,
    reason: str | None,
    now_s: float,
) -> None:
    """Record the connection's state (``reason``: why, e.g. an AADSTS code; never a secret)."""
    stmt = insert_for(conn, connection_states).values(
        connection=connection, state=state.value, reason=reason, updated_at=now_s
    )
    await conn.execute(
        stmt.on_conflict_do_update(
            index_elements=[connection_states.c.connection],
            set_={"state": state.value, "reason": reason, "updated_at": now_s},
        )
    )


def _state_from_row(values: dict[str, object]) -> ConnectionState:
    values["state"] = ConnectionStatus(values["state"])
    return ConnectionState(**values)  # type: ignore[arg-type]
