"""Server-driven paging: the 5,000 cap, the real paging-cookie shape, and keyset continuation."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, unquote, urlsplit

from emulator import RunningEmulator
from tests.dataverse_client import Api, dataverse_api, new_guid

SAME_SECOND = "2024-03-01T12:00:00Z"


async def _seed_same_second(api: Api, count: int) -> set[str]:
    rows = [{"lastname": f"L{i}", "emailaddress1": f"p{i}@same.test",
             "createdon": SAME_SECOND, "modifiedon": SAME_SECOND} for i in range(count)]
    return set(await api.control_insert("contact", rows))


async def _all_pages(api: Api, url: str, page_size: int, between_pages: object = None,
                     ) -> tuple[list[str], list[dict[str, object]]]:
    seen: list[str] = []
    bodies = []
    prefer = {"Prefer": f"odata.maxpagesize={page_size}"}
    reply = await api.get(url, headers=prefer)
    while True:
        assert reply.status == 200, reply.text
        body = reply.json
        bodies.append(body)
        seen.extend(r["contactid"] for r in body["value"])
        if "@odata.nextLink" not in body:
            return seen, bodies
        if between_pages is not None:
            await between_pages()  # type: ignore[operator]
        reply = await api.get(body["@odata.nextLink"], headers=prefer, raw_url=True)


async def test_pages_over_equal_modifiedon_with_concurrent_inserts_miss_and_repeat_nothing(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        original = await _seed_same_second(api, 12_000)
        counter = iter(range(10**6))

        async def insert_during_paging() -> None:
            # Same second as the rest, ids anywhere in the key space: before and after the cursor.
            await api.control_insert("contact", [
                {"lastname": "late", "contactid": new_guid(), "modifiedon": SAME_SECOND,
                 "emailaddress1": f"late{next(counter)}@same.test"} for _ in range(300)])

        url = ("contacts?$select=lastname&$orderby=modifiedon asc,contactid asc"
               "&$filter=modifiedon ge 2024-03-01T12:00:00Z")
        seen, bodies = await _all_pages(api, url, 5000, insert_during_paging)
    assert len(seen) == len(set(seen)), "a row was repeated"
    assert original <= set(seen), "a row that existed at the start was missed"
    assert all(len(b["value"]) <= 5000 for b in bodies)


async def test_default_order_pages_by_primary_key_with_concurrent_inserts(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        original = await _seed_same_second(api, 2_500)

        async def insert_one() -> None:
            await api.create("contacts", {"lastname": "new"})

        seen, bodies = await _all_pages(api, "contacts?$select=lastname", 1000, insert_one)
    assert len(seen) == len(set(seen))
    assert original <= set(seen)
    assert len(bodies) >= 3


async def test_next_link_carries_a_double_encoded_paging_cookie(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await _seed_same_second(api, 5)
        reply = await api.get("contacts?$select=fullname&$top=1",
                              headers={"Prefer": "odata.maxpagesize=2"})
    body = reply.json
    assert reply.headers["Preference-Applied"] == "odata.maxpagesize=2"
    assert len(body["value"]) == 2, "$top is ignored when maxpagesize is set"
    link = body["@odata.nextLink"]
    assert link.startswith(f"{emulator.base_url}/api/data/v9.2/contacts?$select=fullname")
    raw_token = urlsplit(link).query.split("$skiptoken=", 1)[1]
    assert raw_token.startswith("%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie"
                                "%2520page%253d%25221%2522%253e%253ccontactid%2520last%253d%2522"
                                "%257b")
    assert raw_token.endswith("%22%20istracking=%22False%22%20/%3E")
    outer = unquote(raw_token)
    inner = unquote(re.search(r'pagingcookie="([^"]*)"', outer).group(1))  # type: ignore[union-attr]
    match = re.fullmatch(r'<cookie page="1"><contactid last="\{([0-9A-F-]{36})\}" '
                         r'first="\{([0-9A-F-]{36})\}" /></cookie>', inner)
    assert match, inner
    assert match.group(1).lower() == body["value"][-1]["contactid"]
    assert match.group(2).lower() == body["value"][0]["contactid"]
    assert parse_qs(urlsplit(link).query)["$select"] == ["fullname"]


async def test_page_size_defaults_to_and_is_capped_at_5000(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        await _seed_same_second(api, 5_001)
        default = await api.get("contacts?$select=lastname")
        capped = await api.get("contacts?$select=lastname",
                               headers={"Prefer": "odata.maxpagesize=9000"})
        counted = await api.get("contacts?$select=lastname&$count=true", headers={
            "Prefer": 'odata.include-annotations="Microsoft.Dynamics.CRM.*"'})
    assert len(default.json["value"]) == 5000 and "@odata.nextLink" in default.json
    assert len(capped.json["value"]) == 5000
    assert counted.json["@odata.count"] == 5000
    assert counted.json["@Microsoft.Dynamics.CRM.totalrecordcount"] == 5000
    assert counted.json["@Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"] is True


async def test_descending_order_with_nulls_pages_completely(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        rows = [{"lastname": f"n{i}", "jobtitle": None if i % 3 == 0 else f"t{i % 7}"}
                for i in range(50)]
        ids = set(await api.control_insert("contact", rows))
        seen, _ = await _all_pages(api, "contacts?$select=jobtitle&$orderby=jobtitle desc", 7)
    assert len(seen) == len(set(seen)) == 50
    assert set(seen) == ids


async def test_tampered_skiptoken_is_400(emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        reply = await api.get("contacts?$skiptoken=%3Ccookie%20nonsense")
    assert reply.status == 400
    assert reply.error_code == "0x80060888"
