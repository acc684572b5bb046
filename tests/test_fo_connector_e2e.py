"""The sample recipe ``recipes/fo-customer-to-account.yaml`` run by ``recipe-runner run`` as a
subprocess against the emulator: each new F&O customer of the connection's company becomes or
updates exactly one Dataverse account (matched by account number); a rerun adds nothing."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import yaml

from emulator import RunningEmulator
from tests.d365_support import control, insert_rows, iso
from tests.daemon_support import prepare, run_daemon
from tests.fo_support import customer, fo_api
from tests.tokens_support import CLIENT_SECRET

RECIPE = Path(__file__).parent.parent / "recipes" / "fo-customer-to-account.yaml"


def sample_recipe() -> dict[str, Any]:
    recipe: dict[str, Any] = yaml.safe_load(RECIPE.read_text())
    recipe["trigger"]["since"] = "beginning"  # the sample starts from now; the test has history
    return recipe


async def accounts(emulator: RunningEmulator) -> dict[str, dict[str, Any]]:
    rows = (await control(emulator, "GET", "/_emulator/dataverse/tables/account/rows"))["rows"]
    return {r["accountnumber"]: r for r in rows}


async def test_new_fo_customers_upsert_accounts_once_and_a_rerun_adds_nothing(
        emulator: RunningEmulator, tmp_path: Path) -> None:
    args = await prepare(emulator, tmp_path, {"fo-customer-to-account": sample_recipe()},
                         fo={"data_area": "usmf"})
    created = iso(time.time() - 120)
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "account", [{"name": "Old name",
                                                       "accountnumber": "US-002"}])
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [
            customer(f"US-00{i}", OrganizationName=f"Org {i}", AddressCity="Seattle",
                     PrimaryContactEmail=f"o'neil{i}@contoso.test", CreatedDateTime=created,
                     ModifiedDateTime=created) for i in range(1, 4)]
            + [customer("DE-001", "demf", CreatedDateTime=created)])

    first = await run_daemon(*args, "--burst", timeout_s=30)
    assert first.returncode == 0, first.stderr
    synced = await accounts(emulator)
    assert sorted(synced) == ["US-001", "US-002", "US-003"]  # not demf's customer
    assert synced["US-002"]["name"] == "Org 2" and synced["US-003"]["address1_city"] == "Seattle"
    assert synced["US-001"]["emailaddress1"] == "o'neil1@contoso.test"
    finished = [e for e in first.events() if e["event"] == "job.finished"]
    assert len(finished) == 3 and {e["outcome"] for e in finished} == {"succeeded"}
    assert CLIENT_SECRET not in first.stdout + first.stderr

    second = await run_daemon(*args, "--burst", timeout_s=30)
    assert second.returncode == 0, second.stderr
    assert len(await accounts(emulator)) == 3
    assert not [e for e in second.events() if e["event"] == "job.finished"]
