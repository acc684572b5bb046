"""The emulator's FetchXML queries on the wire: filters, omitted nulls, the paging cookie."""

from __future__ import annotations

from urllib.parse import quote, unquote
from xml.etree import ElementTree

from emulator import RunningEmulator
from tests.dataverse_client import dataverse_api

COOKIE_PREFER = {"Prefer": 'odata.include-annotations="*"'}


def fetch(page: int, count: int, cookie: str | None = None) -> str:
    paging = f' paging-cookie="{_attr(cookie)}"' if cookie else ""
    return (f'<fetch page="{page}" count="{count}"{paging}><entity name="contact">'
            '<attribute name="lastname"/><attribute name="jobtitle"/>'
            '<order attribute="lastname"/><filter type="and">'
            '<condition attribute="lastname" operator="like" value="L%"/></filter>'
            "</entity></fetch>")


def _attr(text: str) -> str:
    return text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")


async def test_fetchxml_pages_with_the_double_encoded_cookie_until_morerecords_is_absent(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.control_insert("contact", [{"lastname": f"L{i:02}", "jobtitle": None}
                                             for i in range(7)] + [{"lastname": "Other"}])
        first = await api.get(f"contacts?fetchXml={quote(fetch(1, 3))}", headers=COOKIE_PREFER)
        annotation = first.json["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]
        inner_twice = ElementTree.fromstring(annotation).attrib["pagingcookie"]
        cookie = unquote(unquote(inner_twice))
        second = await api.get(f"contacts?fetchXml={quote(fetch(2, 3, cookie))}",
                               headers=COOKIE_PREFER)
        cookie = unquote(unquote(ElementTree.fromstring(
            second.json["@Microsoft.Dynamics.CRM.fetchxmlpagingcookie"]).attrib["pagingcookie"]))
        third = await api.get(f"contacts?fetchXml={quote(fetch(3, 3, cookie))}",
                              headers=COOKIE_PREFER)
    assert first.status == 200, first.text
    assert inner_twice.startswith("%253ccookie%2520page%253d%25221%2522")
    assert cookie.startswith('<cookie page="2"><lastname last="L05"')
    names = [r["lastname"] for page in (first, second, third) for r in page.json["value"]]
    assert names == [f"L{i:02}" for i in range(7)]
    assert first.json["@Microsoft.Dynamics.CRM.morerecords"] is True
    assert "@Microsoft.Dynamics.CRM.morerecords" not in third.json
    assert "jobtitle" not in first.json["value"][0]  # nulls are omitted in FetchXML results


async def test_fetchxml_page_without_cookie_skips_and_bad_entity_is_400(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.control_insert("contact", [{"lastname": f"L{i}"} for i in range(5)])
        page2 = await api.get(f"contacts?fetchXml={quote(fetch(2, 2))}")
        wrong = await api.get("accounts?fetchXml=" + quote(fetch(1, 2)))
    assert [r["lastname"] for r in page2.json["value"]] == ["L2", "L3"]
    assert "@Microsoft.Dynamics.CRM.fetchxmlpagingcookie" not in page2.json  # not asked for
    assert wrong.status == 400 and "does not match" in wrong.json["error"]["message"]


def _aggregate(body: str) -> str:
    return quote(f'<fetch aggregate="true"><entity name="account">{body}</entity></fetch>')


async def test_fetchxml_aggregates_count_sum_and_group_by_with_labels(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.control_insert("account", [
            {"name": "a", "industrycode": 7, "revenue": 100, "numberofemployees": 5},
            {"name": "b", "industrycode": 7, "revenue": 50, "numberofemployees": 15},
            {"name": "c", "industrycode": 1, "revenue": 10, "numberofemployees": None},
            {"name": "d", "industrycode": 1, "revenue": 5, "numberofemployees": 3}])
        totals = await api.get("accounts?fetchXml=" + _aggregate(
            '<attribute name="accountid" alias="rows" aggregate="count"/>'
            '<attribute name="numberofemployees" alias="staffed" aggregate="countcolumn"/>'
            '<attribute name="revenue" alias="total" aggregate="sum"/>'
            '<attribute name="numberofemployees" alias="most" aggregate="max"/>'))
        grouped = await api.get("accounts?fetchXml=" + _aggregate(
            '<attribute name="industrycode" alias="industry" groupby="true"/>'
            '<attribute name="revenue" alias="total" aggregate="sum"/>'
            '<order alias="total" descending="true"/>'), headers=COOKIE_PREFER)
        filtered = await api.get("accounts?fetchXml=" + _aggregate(
            '<attribute name="accountid" alias="n" aggregate="count"/>'
            '<filter><condition attribute="revenue" operator="gt" value="20"/></filter>'))
        no_alias = await api.get("accounts?fetchXml=" + _aggregate(
            '<attribute name="revenue" aggregate="sum"/>'))
    assert totals.json["value"] == [{"rows": 4, "staffed": 3, "total": 165.0, "most": 15}]
    assert grouped.json["value"] == [
        {"industry@OData.Community.Display.V1.FormattedValue": "Consulting", "industry": 7,
         "total": 150.0},
        {"industry@OData.Community.Display.V1.FormattedValue": "Accounting", "industry": 1,
         "total": 15.0}]
    assert filtered.json["value"] == [{"n": 2}]
    assert no_alias.status == 400


async def test_fetchxml_aggregate_over_50000_rows_is_the_record_limit_error(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.control_insert("task", [{"subject": "t"}] * 50_001)
        reply = await api.get("tasks?fetchXml=" + quote(
            '<fetch aggregate="true"><entity name="task">'
            '<attribute name="activityid" alias="n" aggregate="count"/></entity></fetch>'))
    assert (reply.status, reply.error_code) == (400, "0x8004e023")
    assert "AggregateQueryRecordLimit" in reply.json["error"]["message"]


async def test_fetchxml_link_entity_is_refused_not_ignored(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await api.control_insert("contact", [{"lastname": "x"}])
        reply = await api.get("contacts?fetchXml=" + quote(
            '<fetch><entity name="contact"><attribute name="lastname"/>'
            '<link-entity name="account" from="accountid" to="parentcustomerid">'
            '<attribute name="name"/></link-entity></entity></fetch>'))
    assert reply.status == 400 and "link-entity" in reply.json["error"]["message"]
