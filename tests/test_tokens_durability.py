"""Token caches at rest: encrypted, keyed by a private key file, and durable across kill -9."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
from pathlib import Path

import msal
import pytest
from cryptography.fernet import Fernet

from emulator import RunningEmulator
from emulator.identity.testing import set_token_settings
from runner.store import Store
from runner.tokens import KEY_ENV, CacheStore, SecretKeyError, key_file_for, load_fernet
from tests.tokens_support import (
    connection,
    seed_tenant,
    signed_in,
    state_url,
    token_manager,
    token_requests,
    write_connections,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The child: one forced renewal (under strict rotation the emulator retires the redeemed
# refresh token, so only the newest one works afterwards), then it
# says so and waits to be killed. Real time, real msal, the same store and key file.
CHILD = """
import asyncio, sys
from runner.connections import load_connections
from runner.store import Store
from runner.tokens import TokenManager, key_file_for, load_fernet

async def main(folder, url):
    async with await Store.open(url) as store:
        manager = TokenManager(load_connections(folder + "/connections.yaml"), store,
                               load_fernet(key_file_for(url)))
        await manager.start()
        await manager.tokens("crm").access_token(force_refresh=True)
        print("rotated", flush=True)
        await asyncio.sleep(600)

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


async def _until_rotated(stdout: asyncio.StreamReader) -> list[bytes]:
    lines = [(await stdout.readline()).strip()]
    while lines[-1] not in (b"rotated", b""):
        lines.append((await stdout.readline()).strip())
    return lines


async def _stored_refresh_tokens(folder: Path) -> set[str]:
    fernet = load_fernet(key_file_for(state_url(folder)), create=False)
    assert fernet is not None
    async with await Store.open(state_url(folder)) as store:
        stored = await CacheStore(store, fernet, "crm").load()
    assert stored is not None
    cache = msal.SerializableTokenCache()
    cache.deserialize(stored.text)
    return {e["secret"] for e in cache.search(msal.TokenCache.CredentialType.REFRESH_TOKEN)}


async def test_kill_9_right_after_rotation_loses_no_refresh_token(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await signed_in(emulator, tmp_path)
    await set_token_settings(emulator, refresh_token_strict_rotation=True)
    before = await _stored_refresh_tokens(tmp_path)

    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-c", CHILD, str(tmp_path), state_url(tmp_path),
        cwd=PROJECT_ROOT, env=env, stdout=asyncio.subprocess.PIPE,
    )
    assert child.stdout is not None
    lines = await asyncio.wait_for(_until_rotated(child.stdout), 30)
    child.send_signal(signal.SIGKILL)
    await child.wait()
    assert lines[-1] == b"rotated" and b"token.refreshed" in lines[0]
    after = await _stored_refresh_tokens(tmp_path)

    async with token_manager(emulator, tmp_path) as manager:
        assert await manager.tokens("crm").access_token(force_refresh=True)
    assert after and after != before
    assert [r["status"] for r in await token_requests(emulator)] == [200, 200, 200]


async def test_stored_cache_is_ciphertext_and_key_file_is_private(
    emulator: RunningEmulator, tmp_path: Path
) -> None:
    await seed_tenant(emulator)
    write_connections(tmp_path, {"crm": connection(emulator, "password")})
    async with token_manager(emulator, tmp_path) as manager:
        token = await manager.tokens("crm").access_token()
        row = await manager.store.load_token_cache("crm")
    refresh_tokens = await _stored_refresh_tokens(tmp_path)

    key_file = key_file_for(state_url(tmp_path))
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert row is not None and refresh_tokens
    for secret in (token, *refresh_tokens):
        assert secret.encode() not in row.ciphertext
    database = (tmp_path / "state" / "recipe-runner.db").read_bytes()
    assert all(secret.encode() not in database for secret in (token, *refresh_tokens))


def test_environment_key_wins_and_a_malformed_key_is_refused(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    fernet = load_fernet(tmp_path / "unused.key", {KEY_ENV: key.decode()})
    assert fernet is not None and Fernet(key).decrypt(fernet.encrypt(b"x")) == b"x"
    assert not (tmp_path / "unused.key").exists()
    with pytest.raises(SecretKeyError) as raised:
        load_fernet(tmp_path / "unused.key", {KEY_ENV: "not-a-key"})
    assert "not-a-key" not in str(raised.value)


def test_group_readable_key_file_is_made_private(tmp_path: Path) -> None:
    key_file = tmp_path / "recipe-runner.key"
    key_file.write_bytes(Fernet.generate_key())
    key_file.chmod(0o644)
    assert load_fernet(key_file, {}) is not None
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
