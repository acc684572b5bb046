"""Tokens and metrics, the small things: a token shorter-lived than the renew-ahead margin is
renewed at a fraction of its lifetime (not on every call); a token another process stored
(``connections test``/``login``) is counted when the daemon takes it over and shown as the
last refresh; connector retries are counted, logged at debug, and a request that needed
many says so once; no ``*_created`` series."""

from __future__ import annotations

from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from structlog.testing import capture_logs

from emulator import RunningEmulator
from emulator.identity.testing import set_token_settings
from runner.ops.metrics import MANY_RETRIES, METRICS, Metrics
from tests.d365_support import d365_client, fault
from tests.ops_support import running_daemon, webhook_recipe, write_files
from tests.tokens_support import (
    connection,
    run_cli,
    seed_tenant,
    token_manager,
    token_requests,
    write_connections,
)


async def test_a_token_shorter_than_the_margin_is_renewed_at_a_fraction_of_its_life(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator)})
    await set_token_settings(emulator, access_token_lifetime_s=240)  # renew_ahead_s is 300
    async with token_manager(emulator, tmp_path, renew_ahead_s=300) as manager:
        tokens = manager.tokens("crm")
        first = await tokens.access_token()
        repeated = [await tokens.access_token() for _ in range(5)]
        emulator.state.clock.advance(170)  # 70 s left: more than a quarter of 240
        still = await tokens.access_token()
        emulator.state.clock.advance(20)  # 50 s left: less than a quarter
        renewed = await tokens.access_token()
    assert set(repeated) == {first} and still == first and renewed != first
    assert len(await token_requests(emulator)) == 2


async def test_a_token_stored_by_another_process_is_counted_and_shown(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator)})
    adoptions = METRICS.token_cache_adoptions.labels("crm")
    before = adoptions._value.get()
    async with token_manager(emulator, tmp_path) as manager:
        daemon_side = manager.tokens("crm")
        await daemon_side.access_token()
        refreshed_at = daemon_side.last_refresh_at
        emulator.state.clock.advance(60)
        async with token_manager(emulator, tmp_path) as cli:  # `connections test`'s tokens
            await cli.tokens("crm").on_unauthorized()
        with capture_logs() as logs:
            await daemon_side.on_unauthorized()  # re-reads the store first: adopts it
    assert adoptions._value.get() == before + 1
    assert [e["event"] for e in logs if e["event"] == "token.cache_adopted"] == [
        "token.cache_adopted"]
    assert daemon_side.last_refresh_at is not None and refreshed_at is not None
    assert daemon_side.last_refresh_at > refreshed_at


async def test_status_page_shows_a_refresh_made_by_the_cli_not_never(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_files(tmp_path, {"crm": connection(emulator)}, [webhook_recipe("inbound")])
    (tmp_path / "state").mkdir(exist_ok=True)
    assert (await run_cli(tmp_path, "test", "crm"))[0] == 0
    async with running_daemon(tmp_path) as ops:  # no recipe uses crm: the daemon never asks
        _, html, _ = await ops.get("/")
    row = html.split('<tr class="connection">', 1)[1].split("</tr>", 1)[0]
    refresh = row.split('data-label="Last refresh">', 1)[1].split("<", 1)[0]
    assert refresh.endswith(" ago"), row


async def test_connector_retries_are_counted_logged_and_many_warned_once(
    emulator: RunningEmulator,
) -> None:
    await fault(emulator, kind="status", status=503, count=MANY_RETRIES, method="GET",
                path="/api/data/*/WhoAmI")
    retries = METRICS.retries.labels("retry-test")
    before = retries._value.get()
    async with d365_client(emulator) as client:
        client.hooks = METRICS.connector_hooks("retry-test")
        with capture_logs() as logs:
            await client.get_json("WhoAmI")
    assert retries._value.get() == before + MANY_RETRIES
    events = [(e["event"], e["log_level"], e["attempt"]) for e in logs]
    assert events == [("request.retried", "debug", 1), ("request.retried", "debug", 2),
                      ("request.retried_many", "warning", 3)]
    assert all(e["status"] == 503 and e["connection"] == "retry-test" for e in logs)


def test_counters_export_no_created_series() -> None:
    metrics = Metrics()
    metrics.polls.labels("r", "ok").inc()
    metrics.step_duration.labels("r", "log").observe(0.1)
    names = {sample.name for family in text_string_to_metric_families(
        metrics.exposition().decode()) for sample in family.samples}
    assert "recipe_runner_polls_total" in names
    assert not [name for name in names if name.endswith("_created")]
