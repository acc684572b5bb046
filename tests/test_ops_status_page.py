"""The status page: a row per recipe, connections with their token, recent jobs with steps
and errors, a detail page linked from a failed job, and no secret anywhere."""

from __future__ import annotations

import re
from pathlib import Path

from emulator import RunningEmulator
from tests.ops_support import (
    GHOST,
    MISSING_ID,
    running_daemon,
    seed_contacts,
    seeded_files,
    visible_text,
)
from tests.tokens_support import CLIENT_SECRET, PASSWORD


async def test_status_page_shows_recipe_failed_job_error_and_no_secret(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    recipe = "status-contacts"
    await seeded_files(emulator, tmp_path, recipe, "crm", ["Lovelace", GHOST])
    async with running_daemon(tmp_path) as ops:
        await ops.jobs_finished(2)
        status, html, headers = await ops.get("/")
        failed_link = re.search(r'href="(/jobs/[^"]+)"', html)
        assert failed_link is not None
        detail_status, detail, _ = await ops.get(failed_link.group(1))
        missing_status, _, _ = await ops.get("/jobs/no-such-job")

    text = visible_text(html)
    assert status == 200 and headers["Content-Type"].startswith("text/html")
    assert headers["Cache-Control"] == "no-store"
    assert re.search(rf"{recipe} dynamics365.new_or_updated_record running \S+ s ago 0 s - 0 1",
                     text), text
    assert re.search(r"crm dynamics365 · client_credentials ok in \d+ min", text), text
    assert "dynamics365.request failed" in text and MISSING_ID in text
    assert "actions[1]: failed" in text and "actions[0]: succeeded" in text

    detail_text = visible_text(detail)
    assert detail_status == 200 and "Status: failed" in detail_text
    assert f"contacts({MISSING_ID})" in detail_text  # the failed step's input
    assert '"lastname": "Ghost"' in detail_text  # the trigger event
    assert missing_status == 404
    for page in (html, detail):
        assert CLIENT_SECRET not in page and PASSWORD not in page
    assert '"fullname": "*** Ghost"' in detail_text  # the secret in record data is masked


async def test_status_page_escapes_what_records_contain(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seeded_files(emulator, tmp_path, "status-escape", "crm", [])
    await seed_contacts(emulator, [GHOST], first_name="<script>alert(1)</script>")
    async with running_daemon(tmp_path) as ops:
        await ops.jobs_finished(1)
        _, home, _ = await ops.get("/")
        links = re.findall(r'href="(/jobs/[^"]+)"', home)
        assert len(links) == 1
        _, detail, _ = await ops.get(links[0])

    assert "&lt;script&gt;alert(1)&lt;/script&gt; Ghost" in detail
    assert "<script>" not in home + detail
