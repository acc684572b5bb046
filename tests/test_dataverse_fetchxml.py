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
