"""Server-driven paging: 10,000 rows a page, ``@odata.nextLink`` carrying ``$skip``."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from emulator import RunningEmulator
from tests.fo_support import FoApi, customer, fo_api


async def _seed(api: FoApi, count: int, company: str = "usmf") -> None:
    await api.insert("CustomersV3", [
        customer(f"C{i:06d}", company, ModifiedDateTime="2024-03-01T12:00:00Z")
        for i in range(count)])


async def _follow(api: FoApi, first: str, **kwargs: object) -> list[dict[str, object]]:
    bodies = []
    reply = await api.get(first, **kwargs)  # type: ignore[arg-type]
    while True:
        assert reply.status == 200, reply.text
        bodies.append(reply.json)
        link = reply.json.get("@odata.nextLink")
        if link is None:
            return bodies
        reply = await api.get(link, **kwargs)  # type: ignore[arg-type]


async def test_pages_over_25000_rows_by_skip_miss_and_repeat_nothing(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _seed(api, 25_000)
        await _seed(api, 10, "demf")  # another company: never in a default-company read
        bodies = await _follow(api, "CustomersV3?$select=CustomerAccount"
                                    "&$filter=ModifiedDateTime ge 2024-03-01T00:00:00Z")
    seen = [row["CustomerAccount"] for body in bodies for row in body["value"]]  # type: ignore
    assert [len(body["value"]) for body in bodies] == [10_000, 10_000, 5_000]  # type: ignore
    assert len(seen) == len(set(seen)) == 25_000
    assert set(seen) == {f"C{i:06d}" for i in range(25_000)}
    links = [str(body["@odata.nextLink"]) for body in bodies[:-1]]
    assert [parse_qs(urlsplit(link).query)["$skip"] for link in links] == [["10000"], ["20000"]]
    assert all("$skip=" in link and "$filter=" in link for link in links)


async def test_top_larger_than_a_page_is_spread_over_next_links(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _seed(api, 12_500)
        bodies = await _follow(api, "CustomersV3?$select=CustomerAccount&$top=12000")
    assert [len(body["value"]) for body in bodies] == [10_000, 2_000]  # type: ignore[arg-type]
    query = parse_qs(urlsplit(str(bodies[0]["@odata.nextLink"])).query)
    assert query["$top"] == ["2000"] and query["$skip"] == ["10000"]


async def test_maxpagesize_preference_is_honoured_up_to_the_cap(
        emulator: RunningEmulator) -> None:
    async with fo_api(emulator) as api:
        await _seed(api, 5)
        prefer = {"Prefer": "odata.maxpagesize=2"}
        bodies = await _follow(api, "CustomersV3?$select=CustomerAccount", headers=prefer)
        first = await api.get("CustomersV3", headers=prefer)
    assert [len(body["value"]) for body in bodies] == [2, 2, 1]  # type: ignore[arg-type]
    assert first.headers["Preference-Applied"] == "odata.maxpagesize=2"
