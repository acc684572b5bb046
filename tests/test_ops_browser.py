"""The status page in a real browser: headless Chromium loads it while the daemon runs on
the emulator, and sees the recipe row and the failed job's error. A phone-sized screenshot
is kept as ``test-artifacts/status-page.png``.

Needs Debian's ``chromium`` (``apt-get install -y chromium``); skipped when it is absent.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from emulator import RunningEmulator
from tests.ops_support import GHOST, MISSING_ID, running_daemon, seeded_files, visible_text
from tests.tokens_support import CLIENT_SECRET

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
pytestmark = pytest.mark.skipif(not CHROMIUM.exists(),
                                reason="needs /usr/bin/chromium (apt-get install -y chromium)")


async def chromium(profile: Path, *args: str, timeout_s: float = 60.0) -> str:
    """Run headless Chromium without blocking the loop (the daemon under test shares it)."""
    process = await asyncio.create_subprocess_exec(
        str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", f"--user-data-dir={profile}", *args,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    try:
        stdout, stderr = await asyncio.wait_for(process.communicate(), timeout_s)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode == 0, stderr.decode()[-2000:]
    return stdout.decode()


async def test_a_person_sees_the_recipe_and_the_failed_jobs_error_in_chromium(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    recipe = "browser-contacts"
    await seeded_files(emulator, tmp_path, recipe, "crm", ["Lovelace", "Hopper", GHOST])
    ARTIFACTS.mkdir(exist_ok=True)
    screenshot = ARTIFACTS / "status-page.png"
    screenshot.unlink(missing_ok=True)
    async with running_daemon(tmp_path) as ops:
        await ops.jobs_finished(3)
        url = ops.base_url + "/"
        dom = await chromium(tmp_path / "profile", "--dump-dom", url)
        await chromium(tmp_path / "profile", f"--screenshot={screenshot}",
                       "--window-size=390,844", "--hide-scrollbars", url)
        link = re.search(r'href="(/jobs/[^"]+)"', dom)
        assert link is not None
        detail = await chromium(tmp_path / "profile", "--dump-dom", ops.base_url + link.group(1))

    seen = visible_text(dom)
    assert re.search(rf"{recipe} dynamics365.new_or_updated_record running .* 0 1", seen), seen
    assert "dynamics365.request failed" in seen and MISSING_ID in seen
    assert "Status: failed" in visible_text(detail)
    assert CLIENT_SECRET not in dom + detail
    assert screenshot.stat().st_size > 5_000  # a rendered page, not an empty image
