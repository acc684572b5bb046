"""Change tracking over the real Web API: delta links, deletions, paging, token errors."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from emulator import RunningEmulator
from emulator.dataverse import apply_seed
from tests.dataverse_client import Api, dataverse_api, mint_token

TRACK = {"Prefer": "odata.track-changes"}
TOKEN = re.compile(r"^\d+!\d{2}/\d{2}/\d{4} \d{2}:\d{2}:\d{2}$")


async def read_all(api: Api, url: str, headers: dict[str, str] | None = None
                   ) -> tuple[list[dict[str, Any]], str, int]:
    """Every entry of a tracked read, following nextLinks; the deltaLink; the page count."""
    entries: list[dict[str, Any]] = []
    pages = 0
    while True:
        reply = await api.get(url, headers=headers)
        assert reply.status == 200, reply.text
        pages += 1
        body = reply.json
        entries += body["value"]
        if "@odata.nextLink" not in body:
            return entries, body["@odata.deltaLink"], pages
        assert "@odata.deltaLink" not in body
        url = body["@odata.nextLink"]
        assert 'istracking="True"' in unquote(url)


def delta_token(link: str) -> str:
    return parse_qs(urlsplit(link).query)["$deltatoken"][0]


def deleted_ids(entries: list[dict[str, Any]]) -> list[str]:
    return [e["id"] for e in entries if str(e.get("@odata.context", "")).endswith(
        "/$deletedEntity")]


async def test_track_changes_returns_rows_and_a_delta_link_with_a_version_and_time_token(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        account_id = await api.create("accounts", {"name": "Tracked", "telephone1": "555"})
        reply = await api.get("accounts?$select=name,telephone1", headers=TRACK)
    assert reply.status == 200
    assert reply.headers["Preference-Applied"] == "odata.track-changes"
    body = reply.json
    assert body["@odata.context"].endswith("/$metadata#accounts(name,telephone1)")
    assert [r["accountid"] for r in body["value"]] == [account_id]
    link = body["@odata.deltaLink"]
    assert link.startswith(f"{emulator.base_url}/api/data/v9.2/accounts?$select=name,telephone1"
                           "&$deltatoken=")
    assert re.search(r"\$deltatoken=\d+%21\d\d%2f\d\d%2f\d{4}%20\d\d%3a\d\d%3a\d\d$", link)
    assert TOKEN.match(delta_token(link))


async def test_delta_after_create_update_delete_returns_each_changed_row_once_then_deletions(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        kept = await api.create("accounts", {"name": "Untouched"})
        updated = await api.create("accounts", {"name": "Before"})
        deleted = await api.create("accounts", {"name": "Doomed"})
        _, link, _ = await read_all(api, "accounts?$select=name", TRACK)
        created = await api.create("accounts", {"name": "New"})
        for name in ("After", "After again"):
            assert (await api.patch(f"accounts({updated})", {"name": name})).status == 204
        assert (await api.delete(f"accounts({deleted})")).status == 204
        short_lived = await api.create("accounts", {"name": "Gone soon"})
        assert (await api.delete(f"accounts({short_lived})")).status == 204
        delta = await api.get(link)
        empty, _, _ = await read_all(api, delta.json["@odata.deltaLink"])
    assert delta.status == 200
    body = delta.json
    assert body["@odata.context"].endswith("/$metadata#accounts(name)/$delta")
    rows = [e for e in body["value"] if "accountid" in e]
    assert [r["accountid"] for r in rows] == [created, updated]
    assert rows[1]["name"] == "After again"
    assert kept not in {r["accountid"] for r in rows}
    assert deleted_ids(body["value"]) == [deleted, short_lived]
    assert body["value"][-1] == {
        "@odata.context": f"{emulator.base_url}/api/data/v9.2/$metadata#accounts/$deletedEntity",
        "id": short_lived, "reason": "deleted"}
    assert empty == []


async def test_delta_paging_across_more_than_5000_changes_misses_and_repeats_nothing(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        before = await api.control_insert("contact", [{"lastname": f"Old {i}"}
                                                      for i in range(40)])
        _, link, _ = await read_all(api, "contacts?$select=lastname", TRACK)
        inserted = await api.control_insert("contact", [{"lastname": f"C {i}"}
                                                        for i in range(5200)])
        for contact_id in before[:30]:
            assert (await api.delete(f"contacts({contact_id})")).status == 204
        entries, next_link, pages = await read_all(api, link)
    row_ids = [e["contactid"] for e in entries if "contactid" in e]
    assert pages == 2
    assert len(row_ids) == len(set(row_ids)) == 5200
    assert set(row_ids) == set(inserted)
    assert deleted_ids(entries) == before[:30]
    assert TOKEN.match(delta_token(next_link))


async def test_initial_read_pages_with_maxpagesize_and_writes_between_pages_wait_for_delta(
        emulator: RunningEmulator) -> None:
    headers = {"Prefer": "odata.track-changes,odata.maxpagesize=4"}
    async with dataverse_api(emulator) as api:
        ids = await api.control_insert("account", [{"name": f"A{i}"} for i in range(10)])
        first = await api.get("accounts?$select=name", headers=headers)
        assert first.headers["Preference-Applied"] == "odata.track-changes,odata.maxpagesize=4"
        late = await api.create("accounts", {"name": "Late"})
        rest, link, pages = await read_all(api, first.json["@odata.nextLink"], headers)
        delta, _, _ = await read_all(api, link)
    seen = [r["accountid"] for r in first.json["value"] + rest]
    assert pages == 2 and len(first.json["value"]) == 4
    assert seen == ids
    assert [r["accountid"] for r in delta] == [late]


async def test_table_without_change_tracking_answers_the_dataverse_error(
        emulator: RunningEmulator) -> None:
    apply_seed(emulator.state, {"tables": [
        {"logical_name": "new_untracked", "change_tracking": False}]})
    async with dataverse_api(emulator) as api:
        reply = await api.get("new_untrackeds?$select=new_name", headers=TRACK)
        plain = await api.get("new_untrackeds?$select=new_name")
    assert reply.status == 400
    assert reply.error_code == "0x80072491"
    assert reply.json["error"]["message"] == (
        "Entity new_untracked isn't enabled for change tracking.")
    assert plain.status == 200


async def test_malformed_unknown_or_expired_delta_tokens_are_refused(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        _, link, _ = await read_all(api, "accounts?$select=name", TRACK)
        malformed = await api.get("accounts?$select=name&$deltatoken=yesterday")
        unknown = await api.get("accounts?$select=name&$deltatoken=99999%2101%2f01%2f2024"
                                "%2000%3a00%3a00")
        emulator.state.clock.advance(8 * 86400)
        api.token = mint_token(emulator)
        expired = await api.get(link)
    for reply in (malformed, unknown, expired):
        assert reply.status == 400, reply.text
        assert set(reply.json["error"]) == {"code", "message"}
    assert "expired" in expired.json["error"]["message"]


async def test_filter_orderby_expand_and_top_are_refused_with_track_changes(
        emulator: RunningEmulator) -> None:
    async with dataverse_api(emulator) as api:
        replies = [await api.get(f"accounts?$select=name&{option}", headers=TRACK)
                   for option in ("$filter=name eq 'a'", "$orderby=name", "$top=3",
                                  "$expand=primarycontactid($select=fullname)")]
    for reply, option in zip(replies, ("$filter", "$orderby", "$top", "$expand"), strict=True):
        assert reply.status == 400
        assert reply.json["error"]["message"] == (
            f'The "{option}" query parameter isn\'t supported when Change Tracking is enabled.')


async def test_small_delta_pages_walk_rows_then_deletions_without_gaps(
        emulator: RunningEmulator) -> None:
    headers = {"Prefer": "odata.maxpagesize=3"}
    async with dataverse_api(emulator) as api:
        doomed = await api.control_insert("account", [{"name": f"D{i}"} for i in range(7)])
        _, link, _ = await read_all(api, "accounts?$select=name", TRACK)
        created = await api.control_insert("account", [{"name": "N1"}, {"name": "N2"}])
        for account_id in doomed:
            assert (await api.delete(f"accounts({account_id})")).status == 204
        entries, _, pages = await read_all(api, link, headers)
    assert pages == 3
    assert [e["accountid"] for e in entries if "accountid" in e] == created
    assert deleted_ids(entries) == doomed
