"""Escaping: a value from a record can never change a query's structure."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.dynamics365 import odata
from emulator import RunningEmulator
from tests.d365_support import d365_client, insert_rows

HOSTILE = ["O'Bryan", "x' or lastname ne 'y", "a&$top=1", "50% + more", "#frag", "q?$filter=1",
           "''", "back\\slash", "ünï'cødé"]


async def test_quoted_values_match_only_themselves_in_a_filter(emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "contact", [{"lastname": v} for v in HOSTILE])
    async with d365_client(emulator) as client:
        for value in HOSTILE:
            body = await client.get_json("contacts", {
                "$select": "lastname", "$filter": odata.compare("lastname", "eq", value)})
            assert [r["lastname"] for r in body["value"]] == [value]


async def test_alternate_key_values_are_encoded_into_the_key_segment(
        emulator: RunningEmulator) -> None:
    async with emulator.client_session() as http:
        await insert_rows(http, emulator, "account", [
            {"name": "tricky", "accountnumber": "A'1/?#&"},
            {"name": "plain", "accountnumber": "A"}])
    async with d365_client(emulator) as client:
        key = odata.alternate_key({"accountnumber": "A'1/?#&"})
        body = await client.get_json(f"accounts{key}", {"$select": "name"})
    assert body["name"] == "tricky"


def test_string_literal_doubles_quotes() -> None:
    assert odata.string_literal("O'Bryan") == "'O''Bryan'"
    assert odata.compare("lastname", "eq", "O'Bryan") == "lastname eq 'O''Bryan'"


@given(st.text())
def test_string_literal_is_one_token_whatever_the_text(text: str) -> None:
    quoted = odata.string_literal(text)
    inner = quoted[1:-1]
    assert quoted[0] == quoted[-1] == "'"
    assert inner.replace("''", "") .count("'") == 0  # no lone quote can end the literal


def test_guids_are_validated_and_normalised() -> None:
    assert odata.key_segment("{5A4F2C1E-0000-4000-8000-00000000ABCD}") == \
        "(5a4f2c1e-0000-4000-8000-00000000abcd)"
    for bad in ["1 or 1 eq 1", "5a4f2c1e-0000-4000-8000", "x)/contacts(", ""]:
        with pytest.raises(ValueError, match="not a GUID"):
            odata.key_segment(bad)


def test_names_and_segments_cannot_smuggle_paths_or_options() -> None:
    for bad in ["contacts?$top=1", "../accounts", "a b", "contacts/x", "", "x;y"]:
        with pytest.raises(ValueError):
            odata.path_segment(bad)
    for bad in ["name eq 'x'", "a,b", "x)", "1abc"]:
        with pytest.raises(ValueError):
            odata.identifier(bad)
    with pytest.raises(ValueError):
        odata.compare("name", "eq 'x' or name", "y")


def test_literals_for_numbers_booleans_nulls_and_datetimes() -> None:
    assert odata.literal(None) == "null" and odata.literal(True) == "true"
    assert odata.literal(12) == "12" and odata.literal(1.5) == "1.5"
    assert odata.datetime_literal("2024-01-02T03:04:05.678+02:00") == "2024-01-02T01:04:05Z"
    with pytest.raises(ValueError):
        odata.literal(float("nan"))
