"""``recipe-runner validate --online`` (a subprocess) against the emulator's Dataverse and F&O
metadata: valid recipes pass; misspelt tables, columns, keys, labels and an F&O date field
each give one positioned problem; an unreachable environment or a refused sign-in is one
problem per connection."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from emulator import RunningEmulator
from tests.tokens_support import (
    CLIENT_SECRET,
    connection,
    free_port,
    seed_tenant,
    state_url,
    write_connections,
)

GOOD = """\
name: good
trigger:
  type: dynamics365.new_or_updated_record
  connection: crm
  table: contacts
  select: [fullname, emailaddress1, _parentcustomerid_value]
actions:
  - id: task
    type: dynamics365.create_record
    connection: crm
    table: task
    fields:
      subject: "Call {{ trigger.record.fullname }}"
      prioritycode: high
      regardingobjectid: {table: contacts, id: "{{ trigger.record.contactid }}"}
  - type: dynamics365.upsert_record
    connection: crm
    table: accounts
    key: {accountnumber: "{{ trigger.record.contactid }}"}
    fields: {name: "{{ trigger.record.fullname }}", industrycode: Consulting}
  - type: dynamics365.search_records
    connection: crm
    table: "{{ 'leads' }}"
    where: {nonsense: 1}
"""

FO_GOOD = """\
name: fo-good
trigger:
  type: dynamics_fo.new_or_updated_record
  connection: fo
  entity: SalesOrderHeadersV2
  date_field: modifiedDateTime1
  select: [SalesOrderNumber, SalesOrderName]
actions:
  - type: dynamics_fo.update_record
    connection: fo
    entity: CustomersV3
    key: {CustomerAccount: "{{ trigger.record.OrderingCustomerAccountNumber }}"}
    fields: {NameAlias: "{{ trigger.record.SalesOrderName }}"}
"""

MISSPELT = """\
name: misspelt
trigger:
  type: dynamics365.new_or_updated_record
  connection: crm
  table: contcts
actions:
  - type: dynamics365.create_record
    connection: crm
    table: tasks
    fields:
      subjct: "Call {{ trigger.record.fullname }}"
      prioritycode: Hihg
      regardingobjectid: {table: products, id: "{{ trigger.record.contactid }}"}
  - type: dynamics365.upsert_record
    connection: crm
    table: account
    key: {accountnumbr: "{{ trigger.record.contactid }}"}
    fields:
      primarycontactid: {table: leads, id: "{{ trigger.record.contactid }}"}
  - type: dynamics365.delete_record
    connection: crm
    table: accounts
    key: {name: "{{ trigger.record.fullname }}"}
  - type: dynamics365.search_records
    connection: crm
    table: contacts
    where: {emailadress1: x}
    select: [fullname, telephone]
"""

FO_DEFAULT_DATE = """\
name: fo-orders
trigger:
  type: dynamics_fo.new_or_updated_record
  connection: fo
  entity: SalesOrderHeadersV2
actions:
  - type: dynamics_fo.get_record
    connection: fo
    entity: CustomerV3
    key: {CustomerAccount: "{{ trigger.record.OrderingCustomerAccountNumber }}"}
"""

TASK = "(dynamics365.create_record)"
EXPECTED_MISSPELT = [
    "recipes/misspelt.yaml:5:10: trigger.table: unknown table 'contcts' (did you mean "
    "'contacts'?) (dynamics365.new_or_updated_record)",
    f"recipes/misspelt.yaml:11:7: actions[0].fields.subjct: table task has no column 'subjct' "
    f"(did you mean 'subject'?) {TASK}",
    f"recipes/misspelt.yaml:12:21: actions[0].fields.prioritycode: task.prioritycode has no "
    f"option labelled 'Hihg' (did you mean 'High'?) {TASK}",
    f"recipes/misspelt.yaml:13:34: actions[0].fields.regardingobjectid.table: unknown table "
    f"'products' {TASK}",
    "recipes/misspelt.yaml:17:11: actions[1].key.accountnumbr: table account has no column "
    "'accountnumbr' (did you mean 'accountnumber'?) (dynamics365.upsert_record)",
    "recipes/misspelt.yaml:19:33: actions[1].fields.primarycontactid.table: "
    "account.primarycontactid cannot point at a lead record; it accepts contact "
    "(dynamics365.upsert_record)",
    "recipes/misspelt.yaml:23:5: actions[2].key: table account has no alternate key on name; "
    "its alternate keys: accountnumber_key (accountnumber) (dynamics365.delete_record)",
    "recipes/misspelt.yaml:27:13: actions[3].where.emailadress1: table contact has no column "
    "'emailadress1' (did you mean 'emailaddress1'?) (dynamics365.search_records)",
    "recipes/misspelt.yaml:28:24: actions[3].select[1]: table contact has no column "
    "'telephone' (did you mean 'telephone1'?) (dynamics365.search_records)",
]
EXPECTED_FO = [
    "recipes/fo-orders.yaml:2:1: trigger.date_field: F&O entity SalesOrderHeadersV2 has no "
    "change-date field 'ModifiedDateTime'; its date fields are: RequestedShippingDate, "
    "OrderCreationDateTime, modifiedDateTime1 (dynamics_fo.new_or_updated_record)",
    "recipes/fo-orders.yaml:9:13: actions[0].entity: F&O has no public entity set "
    "'CustomerV3' (did you mean CustomersV3?) (dynamics_fo.get_record)",
]


async def setup(emulator: RunningEmulator, folder: Path, recipes: dict[str, str],
                **connections: dict[str, object]) -> list[str]:
    """A tenant, ``connections.yaml`` (``crm`` and ``fo`` on the emulator unless given) and
    recipe files in ``folder``; the ``validate`` arguments."""
    await seed_tenant(emulator)
    conns = {"crm": connection(emulator),
             "fo": connection(emulator, type="dynamics_fo", data_area="usmf"), **connections}
    write_connections(folder, conns)
    (folder / "recipes").mkdir()
    (folder / "state").mkdir()
    for name, text in recipes.items():
        (folder / "recipes" / f"{name}.yaml").write_text(text)
    return ["recipes", "--online", "--connections", "connections.yaml",
            "--state", state_url(folder)]


async def validate(folder: Path, *args: str) -> tuple[int, list[str]]:
    """``recipe-runner validate`` run in ``folder``: the exit code and its problem lines."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "runner.cli", "validate", *args, cwd=folder,
        env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)},
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    stdout, stderr = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, (stdout + stderr).decode().splitlines()


async def test_valid_recipes_pass_online_and_templates_are_not_checked(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args = await setup(emulator, tmp_path, {"good": GOOD, "fo-good": FO_GOOD})
    code, lines = await validate(tmp_path, *args)
    assert lines == ["2 recipe(s) valid, 0 with problems"]
    assert code == 0


async def test_misspelt_names_each_give_one_positioned_problem_with_a_suggestion(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args = await setup(emulator, tmp_path, {"misspelt": MISSPELT, "fo-orders": FO_DEFAULT_DATE,
                                            "good": GOOD})
    code, lines = await validate(tmp_path, *args)
    assert lines == [*EXPECTED_FO, *EXPECTED_MISSPELT, "1 recipe(s) valid, 2 with problems"]
    assert code == 1


async def test_offline_validate_does_not_contact_the_environment(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    args = await setup(emulator, tmp_path, {"misspelt": MISSPELT})
    code, lines = await validate(tmp_path, *[a for a in args if a != "--online"])
    assert (code, lines) == (0, ["1 recipe(s) valid, 0 with problems"])


async def test_unreachable_environment_and_refused_sign_in_are_one_problem_per_connection(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    host = f"localhost:{free_port()}"
    down = connection(emulator, type="dynamics_fo", environment=host)  # sign-in works
    refused = connection(emulator, client_secret="${file:wrong_secret.txt}")
    args = await setup(emulator, tmp_path, {"misspelt": MISSPELT, "fo-orders": FO_DEFAULT_DATE},
                       crm=refused, fo=down)
    (tmp_path / "wrong_secret.txt").write_text("not-the-secret\n")
    code, lines = await validate(tmp_path, *args)
    assert code == 1
    assert len(lines) == 3, lines
    crm, fo, summary = lines
    assert crm.startswith("connections.yaml:2:3: connections.crm: cannot check 5 recipe "
                          "step(s) online: ") and crm.endswith(" (dynamics365)")
    assert "AADSTS7000215" in crm
    assert fo == ("connections.yaml:11:3: connections.fo: cannot check 2 recipe step(s) online: "
                  f"cannot reach F&O at {host}: connection refused (nothing listens there) "
                  "(dynamics_fo)")
    assert summary == "2 recipe(s) valid, 0 with problems"  # as far as could be checked
    assert CLIENT_SECRET not in "\n".join(lines)


async def test_an_unknown_table_suggests_the_entity_set_name_a_trigger_accepts(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    close_to_logical = MISSPELT.split("actions:")[0].replace("contcts", "contactz")
    recipe = close_to_logical + "actions: [{type: log, message: hi}]\n"
    args = await setup(emulator, tmp_path, {"misspelt": recipe})
    code, lines = await validate(tmp_path, *args)
    assert lines[0] == ("recipes/misspelt.yaml:5:10: trigger.table: unknown table 'contactz' "
                        "(did you mean 'contacts'?) (dynamics365.new_or_updated_record)")
    assert code == 1


async def test_a_push_recipe_is_told_when_its_user_may_not_register_webhooks(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    from emulator.dataverse import apply_seed
    from tests.tokens_support import CLIENT_ID

    push = ("name: live\ntrigger:\n  type: dynamics365.new_or_updated_record\n"
            "  connection: crm\n  table: contacts\n  mode: hybrid\n"
            "actions: [{type: log, message: hi}]\n")
    args = await setup(emulator, tmp_path, {"live": push})
    apply_seed(emulator.state, {
        "security_roles": [{"name": "Contacts only", "privileges": {"contact": ["read"]}}],
        "application_users": [{"application_id": CLIENT_ID, "roles": ["Contacts only"]}]})
    code, lines = await validate(tmp_path, *args)
    assert code == 1
    assert lines[0].startswith(
        "recipes/live.yaml:6:9: trigger.mode: mode hybrid registers a webhook, but this "
        "connection's user may not read serviceendpoints: Dataverse answered 403 ")
    assert "prvReadServiceEndpoint" in lines[0]
