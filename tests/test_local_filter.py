"""A recipe's ``filter`` evaluated on fetched rows picks exactly the rows the service's own
``$filter`` returns: random accounts and random filters, asked of the emulator over HTTPS and
of :class:`~connectors.odata.local_filter.LocalFilter`; and what is not evaluated locally
says why."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connectors.odata.local_filter import LocalFilter, NotLocal
from emulator import RunningEmulator
from tests.d365_support import d365_client, insert_rows

NAMES = ["Contoso", "contoso", "Fabrikam", "Ann's", "Litware", "ADATUM"]
ROWS: list[dict[str, Any]] = [
    {"name": name, "revenue": revenue, "numberofemployees": employees,
     "creditonhold": hold, "industrycode": industry, "address1_city": city}
    for name, revenue, employees, hold, industry, city in [
        ("Contoso", 1000.5, 10, True, 7, "Seattle"),
        ("contoso east", None, 250, False, 1, None),
        ("Fabrikam", 5_000_000, None, None, None, "Berlin"),
        ("Ann's", 0, 0, False, 3, "berlin"),
        ("Litware", 20, 3, True, 7, "Paris"),
        (None, 99.99, 42, None, 2, "SEATTLE"),
    ]]

comparators = st.sampled_from(["eq", "ne", "gt", "ge", "lt", "le"])
numbers = st.sampled_from(["0", "20", "99.99", "250", "1000000", "null"])
texts = st.sampled_from(["'contoso'", "'Fabrikam'", "'berlin'", "'Ann''s'", "'zz'", "null"])


@st.composite
def comparisons(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["number", "text", "flag", "option", "function"]))
    if kind == "number":
        column = draw(st.sampled_from(["revenue", "numberofemployees"]))
        value = draw(numbers)
        op = draw(comparators) if value != "null" else draw(st.sampled_from(["eq", "ne"]))
        return f"{column} {op} {value}"
    if kind == "text":
        column = draw(st.sampled_from(["name", "address1_city"]))
        value = draw(texts)
        op = draw(comparators) if value != "null" else draw(st.sampled_from(["eq", "ne"]))
        return f"{column} {op} {value}"
    if kind == "flag":
        return f"creditonhold {draw(st.sampled_from(['eq', 'ne']))} " \
               f"{draw(st.sampled_from(['true', 'false', 'null']))}"
    if kind == "option":
        return f"industrycode {draw(comparators)} {draw(st.sampled_from(['1', '3', '7']))}"
    function = draw(st.sampled_from(["contains", "startswith", "endswith"]))
    part = draw(st.sampled_from(["'con'", "'SO'", "'in'", "'s'"]))
    return f"{function}({draw(st.sampled_from(['name', 'address1_city']))},{part})"


filters = st.recursive(
    comparisons(),
    lambda inner: st.one_of(
        st.tuples(inner, st.sampled_from(["and", "or"]), inner).map(
            lambda t: f"({t[0]}) {t[1]} ({t[2]})"),
        inner.map(lambda f: f"not ({f})")),
    max_leaves=4)


@pytest.fixture
async def accounts(emulator: RunningEmulator) -> list[dict[str, Any]]:
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "account", ROWS)
    async with d365_client(emulator) as client:
        body = await client.get_json("accounts", {"$select": ",".join(ROWS[0])})
    return list(body["value"])


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=filters)
async def test_local_rows_are_the_rows_the_service_returns(
        emulator: RunningEmulator, accounts: list[dict[str, Any]], text: str) -> None:
    async with d365_client(emulator) as client:
        body = await client.get_json("accounts", {"$select": "accountid", "$filter": text})
    served = {row["accountid"] for row in body["value"]}
    local = LocalFilter(text)
    assert {row["accountid"] for row in accounts if local(row)} == served, text


@pytest.mark.parametrize(("text", "reason"), [
    ("Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)",
     "the function Microsoft.Dynamics.CRM.LastXDays is evaluated by the service only"),
    ("primarycontactid/fullname eq 'Ann'",
     "a related column (x/y) is evaluated by the service only"),
    ("revenue add 5 gt 10", "arithmetic is evaluated by the service only"),
    ("revenue gt null", "only eq and ne compare with null"),
])
def test_what_needs_the_service_says_why(text: str, reason: str) -> None:
    with pytest.raises(NotLocal) as refused:
        LocalFilter(text)
    assert str(refused.value) == reason


def test_the_columns_a_filter_reads_are_known() -> None:
    assert LocalFilter("statecode eq 0 and (contains(fullname,'a') or revenue gt 5)").columns \
        == {"statecode", "fullname", "revenue"}
