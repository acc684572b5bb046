"""Item 14 of issue 17 and item 0b of issue 15: record values can never rewrite a query.

Every ``{{ }}`` value in a ``filter`` becomes an OData literal and every value in a
``fetch_xml`` is XML-escaped, rendered exactly as the engine renders a step
(``render_params`` with the action's params model), on every action and trigger that takes
a filter, Dataverse and F&O, against the emulator. A hostile value finds only the record that
really has it."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from connectors.base import StepContext
from connectors.catalog import default_registry
from emulator import RunningEmulator
from runner.recipes import load_recipes
from runner.templates import render_params
from tests.d365_support import d365_client, insert_rows, iso, poll_once
from tests.fo_connector_support import fo_client
from tests.fo_connector_support import poll_once as fo_poll_once
from tests.fo_support import customer, fo_api

HOSTILE = [
    "x' or lastname ne 'zz",
    "') or (1 eq 1",
    "O'Bryan",
    "a'b''c'",
    "x') or contains(lastname,'",
    "%27 or 1 eq 1",
    "x&$top=1&$filter=true",
    "x#frag",
    "Zoë \u202e'evil",
    "x\nor lastname ne null",
]
XML_HOSTILE = ['"/><condition attribute="lastname" operator="ne',
               "x' or '1'='1", "<![CDATA[x]]>", "&amp; &lt;", "a\"b'c<d>e&f"]


async def engine_step(key: str, client: Any, params: dict[str, Any],
                      record: dict[str, Any]) -> dict[str, Any]:
    """Render ``params`` for ``record`` and run the action, as the engine does."""
    spec = default_registry().actions[key]
    rendered = await render_params(params, {"trigger": {"record": record}}, "test", spec.params)
    return await spec.run(spec.params.model_validate(rendered),
                          StepContext(recipe="test", connection=client))


async def test_dataverse_search_filter_values_are_literals(emulator: RunningEmulator) -> None:
    names = [*HOSTILE, "zz", "Smith"]
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact", [{"lastname": n} for n in names])
    params = {"table": "contacts", "select": ["lastname"],
              "filter": "lastname eq {{ trigger.record.lastname }}"}
    async with d365_client(emulator) as client:
        for name in HOSTILE:
            found = await engine_step("dynamics365.search_records", client, params,
                                      {"lastname": name})
            assert [r["lastname"] for r in found["rows"]] == [name], name


async def test_dataverse_filter_numbers_guids_and_dates_are_typed_literals(
        emulator: RunningEmulator) -> None:
    now = time.time()
    async with emulator.client_session() as http:
        ids = await insert_rows(http, emulator, "contact", [
            {"lastname": "old", "createdon": iso(now - 7200)},
            {"lastname": "new", "createdon": iso(now - 60)}])
    async with d365_client(emulator) as client:
        by_id = await engine_step("dynamics365.search_records", client, {
            "table": "contacts", "filter": "contactid eq {{ trigger.record.id }}"},
            {"id": ids[1].upper()})
        by_date = await engine_step("dynamics365.search_records", client, {
            "table": "contacts", "filter": "createdon gt {{ trigger.record.since }}"},
            {"since": iso(now - 3600)})
        by_number = await engine_step("dynamics365.search_records", client, {
            "table": "contacts", "filter": "(lastname eq 'new' and 1 eq {{ trigger.record.n }})"},
            {"n": 1})
    assert [r["lastname"] for r in by_id["rows"]] == ["new"]
    assert [r["lastname"] for r in by_date["rows"]] == ["new"]
    assert [r["lastname"] for r in by_number["rows"]] == ["new"]


async def test_fetch_xml_values_are_xml_escaped(emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact",
                          [{"lastname": n} for n in [*XML_HOSTILE, "zz"]])
    fetch = ('<fetch><entity name="contact"><attribute name="lastname"/><filter>'
             '<condition attribute="lastname" operator="eq" '
             'value="{{ trigger.record.lastname }}"/></filter></entity></fetch>')
    async with d365_client(emulator) as client:
        for name in XML_HOSTILE:
            found = await engine_step("dynamics365.fetchxml_query", client,
                                      {"table": "contacts", "fetch_xml": fetch},
                                      {"lastname": name})
            assert [r["lastname"] for r in found["rows"]] == [name], name


async def test_fo_search_filter_values_are_literals_and_wildcards_refused(
        emulator: RunningEmulator) -> None:
    accounts = ["x' or CustomerAccount ne 'zz", "O'Brien", "') or (1 eq 1", "US-001"]
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [customer(a) for a in [*accounts, "zz"]])
    params = {"entity": "CustomersV3", "select": ["CustomerAccount"],
              "filter": "CustomerAccount eq {{ trigger.record.account }}"}
    async with fo_client(emulator, data_area="usmf") as client:
        for account in accounts:
            found = await engine_step("dynamics_fo.search_records", client, params,
                                      {"account": account})
            assert [r["CustomerAccount"] for r in found["records"]] == [account], account
        with pytest.raises(Exception, match="F&O reads as a wildcard"):
            await engine_step("dynamics_fo.search_records", client, params, {"account": "*"})


async def test_dataverse_trigger_delivers_hostile_records_once_each(
        emulator: RunningEmulator) -> None:
    now = time.time()
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact", [
            {"lastname": name, "modifiedon": iso(now - 120), "createdon": iso(now - 120)}
            for name in HOSTILE])
    spec = default_registry().triggers["dynamics365.new_or_updated_record"]
    params = {"table": "contacts", "since": "beginning", "page_size": 3,
              "filter": "lastname ne null", "select": ["lastname"]}
    async with d365_client(emulator) as client:
        events, cursor = await poll_once(spec, client, params, None)
        again, _ = await poll_once(spec, client, params, cursor)
    assert sorted(e.record["lastname"] for e in events) == sorted(HOSTILE)
    assert again == []


async def test_fo_trigger_keyset_filters_carry_hostile_keys_as_literals(
        emulator: RunningEmulator) -> None:
    second = iso(time.time() - 60)  # one second: the keyset filter compares the keys
    accounts = ["A'1", "A*", "B' or CustomerAccount ne '", "C')", "D%27", "E&$top=1", "F"]
    async with fo_api(emulator) as api:
        await api.insert("CustomersV3", [customer(a, ModifiedDateTime=second,
                                                  CreatedDateTime=second) for a in accounts])
    params = {"entity": "CustomersV3", "since": "beginning", "page_size": 2,
              "filter": "CustomerGroupId eq '10'"}
    async with fo_client(emulator) as client:
        events, cursor = await fo_poll_once("new_or_updated_record", client, params, None)
        again, _ = await fo_poll_once("new_or_updated_record", client, params, cursor)
    assert [e.record["CustomerAccount"] for e in events] == sorted(accounts)
    assert again == []


def test_validate_flags_a_template_inside_quotes_and_templates_in_trigger_filters(
        tmp_path: Path) -> None:
    (tmp_path / "quoted.yaml").write_text("""\
name: quoted
trigger: {type: http.webhook, auth: token, secret_env: X}
actions:
  - type: dynamics365.search_records
    connection: crm
    table: contacts
    filter: "lastname eq '{{ trigger.record.body.name }}' and statecode eq 0"
  - type: dynamics_fo.search_records
    connection: fo
    entity: CustomersV3
    filter: "CustomerAccount eq {{ trigger.record.body.account }}"
""")
    (tmp_path / "trigger.yaml").write_text("""\
name: trigger
trigger:
  type: dynamics365.new_record
  connection: crm
  table: contacts
  filter: "lastname eq {{ vars.name }}"
actions: [{type: log, message: x}]
""")
    loaded = load_recipes([tmp_path], default_registry(),
                          {"crm": "dynamics365", "fo": "dynamics_fo"})
    problems = [str(p).replace(str(tmp_path) + "/", "") for p in loaded.problems]
    assert problems == [
        "quoted.yaml:7:13: actions[0].filter: {{ trigger.record.body.name }} is inside "
        "quotes; a filter's {{ }} values are quoted and escaped already: remove the quotes "
        "around it (dynamics365.search_records)",
        "trigger.yaml:6:11: trigger.filter: trigger params are not templates (there is no "
        "record yet): this would be sent as written (dynamics365.new_record)",
    ]


def test_validate_warns_about_an_auth_none_webhook(tmp_path: Path) -> None:
    (tmp_path / "open.yaml").write_text(
        "name: open\ntrigger: {type: http.webhook, auth: none}\nactions: [{type: log, "
        "message: x}]\n")
    loaded = load_recipes([tmp_path], default_registry(), {})
    assert [str(p).replace(str(tmp_path) + "/", "") for p in loaded.problems] == [
        "open.yaml:2:37: warning: trigger.auth: auth: none lets anyone who can reach the "
        "listener start this recipe; use auth: token or hmac_sha256 with secret_env "
        "(http.webhook)"]
    assert "open" in loaded.recipes  # a warning: the recipe still runs
