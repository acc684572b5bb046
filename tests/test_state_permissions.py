"""The state store holds record data and token caches: a new SQLite store (its file, its
write-ahead log, its folder) and the token key file are this user's only, whatever the
umask, as they would be under the systemd unit's ``UMask=0077``."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from runner.store import NewEvent, Store
from runner.tokens import key_file_for, load_fernet


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    old = os.umask(0o022)  # a shell's usual umask: files 0644, folders 0755
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_new_state_files_are_0600_and_new_folders_0700(
    tmp_path: Path, permissive_umask: None
) -> None:
    url = f"sqlite:///{tmp_path / 'deploy' / 'state' / 'recipe-runner.db'}"
    async with await Store.open(url) as store:
        await store.commit_poll("r", [NewEvent("k", {"record": {}})], {}, 0)
        files = sorted((tmp_path / "deploy" / "state").iterdir())
        assert {f.name for f in files} >= {"recipe-runner.db", "recipe-runner.db-wal"}
        assert {f.name: mode(f) for f in files} == dict.fromkeys((f.name for f in files),
                                                                  0o600)
    assert load_fernet(key_file_for(url)) is not None
    assert mode(key_file_for(url)) == 0o600
    assert mode(tmp_path / "deploy" / "state") == 0o700
    assert mode(tmp_path / "deploy") == 0o700


async def test_an_existing_folder_keeps_its_mode(tmp_path: Path, permissive_umask: None) -> None:
    (tmp_path / "shared").mkdir(mode=0o755)
    async with await Store.open(f"sqlite:///{tmp_path / 'shared' / 'x.db'}"):
        pass
    assert mode(tmp_path / "shared") == 0o755
    assert mode(tmp_path / "shared" / "x.db") == 0o600
