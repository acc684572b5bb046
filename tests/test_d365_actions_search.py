"""search_records and fetchxml_query against the emulator."""

from __future__ import annotations

from emulator import RunningEmulator
from tests.d365_actions_support import run
from tests.d365_support import d365_client, insert_rows, request_log


async def _contacts(emulator: RunningEmulator, count: int) -> list[str]:
    async with emulator.client_session() as http:
        return await insert_rows(http, emulator, "contact", [
            {"lastname": f"L{i:03}", "gendercode": 1 + i % 2, "jobtitle": "Dev" if i % 3 else None}
            for i in range(count)])


async def test_search_with_where_filter_select_orderby_top_and_formatted_values(
        emulator: RunningEmulator) -> None:
    await _contacts(emulator, 30)
    async with d365_client(emulator) as client:
        found = await run(client, "search_records", table="contacts", where={"gendercode": 2},
                          filter="jobtitle ne null", select=["lastname", "gendercode"],
                          orderby="lastname desc", top=4)
        rest = await run(client, "search_records", table="contacts",
                         next_link=found["next_link"])
    assert found["count"] == 4 and found["next_link"]
    assert [r["lastname"] for r in found["rows"]] == ["L029", "L025", "L023", "L019"]
    assert found["rows"][0]["gendercode@label"] == "Female"
    assert "jobtitle" not in found["rows"][0]
    assert [r["lastname"] for r in rest["rows"]][:2] == ["L017", "L013"]


async def test_search_where_value_with_quotes_cannot_change_the_filter(
        emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact", [{"lastname": "O'Bryan"},
                                                      {"lastname": "x"}])
    async with d365_client(emulator) as client:
        exact = await run(client, "search_records", table="contacts",
                          where={"lastname": "O'Bryan"})
        injected = await run(client, "search_records", table="contacts",
                             where={"lastname": "x' or lastname ne 'x"})
    assert [r["lastname"] for r in exact["rows"]] == ["O'Bryan"]
    assert injected["rows"] == []


async def test_search_all_pages_follows_next_links_up_to_the_limit(
        emulator: RunningEmulator) -> None:
    await _contacts(emulator, 120)
    async with d365_client(emulator) as client:
        everything = await run(client, "search_records", table="contacts", all_pages=True,
                               select=["lastname"], limit=1000)
        limited = await run(client, "search_records", table="contacts", all_pages=True,
                            select=["lastname"], limit=50)
    assert everything["count"] == 120 and everything["next_link"] is None
    assert len({r["contactid"] for r in everything["rows"]}) == 120
    assert limited["count"] == 50 and limited["next_link"] is not None


async def test_fetchxml_query_pages_across_three_pages_with_the_cookie(
        emulator: RunningEmulator) -> None:
    await _contacts(emulator, 25)
    fetch = ('<fetch><entity name="contact"><attribute name="lastname"/>'
             '<attribute name="gendercode"/><order attribute="lastname" descending="true"/>'
             '</entity></fetch>')
    seen: list[str] = []
    async with d365_client(emulator) as client:
        page = await run(client, "fetchxml_query", table="contacts", fetch_xml=fetch, count=10)
        pages = [page]
        while page["more_records"]:
            page = await run(client, "fetchxml_query", table="contacts", fetch_xml=fetch,
                             count=10, page=page["page"] + 1, paging_cookie=page["paging_cookie"])
            pages.append(page)
        walked = await run(client, "fetchxml_query", table="contacts", fetch_xml=fetch,
                           count=7, all_pages=True)
    for p in pages:
        seen += [r["lastname"] for r in p["rows"]]
    assert [p["count"] for p in pages] == [10, 10, 5]
    assert seen == [f"L{i:03}" for i in reversed(range(25))]
    assert pages[0]["paging_cookie"].startswith('<cookie page="1"><lastname last="L015"')
    assert pages[-1]["paging_cookie"] is None and pages[0]["rows"][0]["gendercode@label"]
    assert [r["lastname"] for r in walked["rows"]] == seen and walked["page"] == 4
    log = await request_log(emulator, "/api/data/v9.2/contacts*")
    assert any("paging-cookie" in entry["query"] for entry in log)
