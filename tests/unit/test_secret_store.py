"""The secret store's two homes: a keyring backend (an in-memory one standing in for Secret Service) and
the 0600 fallback file; values kept by the file while no keyring answered move to the keyring when set."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
from keyring.backend import KeyringBackend
from keyring.errors import PasswordDeleteError

from desktop.core.errors import LabdockError
from desktop.secrets import FALLBACK_NOTE, SecretStore
from desktop.store import Paths


class MemoryKeyring(KeyringBackend):
    priority = 5  # type: ignore[assignment]

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self.values.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self.values[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        if self.values.pop((service, username), None) is None:
            raise PasswordDeleteError(username)


@pytest.fixture
def memory() -> Iterator[MemoryKeyring]:
    before = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    try:
        yield backend
    finally:
        keyring.set_keyring(before)


def paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "config", tmp_path / "data")


def test_the_fallback_file(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = SecretStore(paths(tmp_path), choice="file")
    assert store.get("a") is None and store.notice() is None and not store.file.exists()
    store.delete("a")  # nothing there: no error, no file
    assert not store.file.exists()
    store.set("a", "value-a")
    store.set("b", "value-b")
    assert store.get("a") == "value-a" and store.uses_file
    assert oct(store.file.stat().st_mode & 0o777) == "0o600"
    assert FALLBACK_NOTE in store.file.read_text() and str(store.file) in (store.notice() or "")
    assert sum("are kept in" in r.getMessage() for r in caplog.records) == 1  # the log says so, once
    store.delete("a", "b")
    assert store.get("a") is None and store.notice() is None


def test_the_keyring_and_moving_off_the_file(tmp_path: Path, memory: MemoryKeyring) -> None:
    SecretStore(paths(tmp_path), choice="file").set("old", "from-the-file")
    store = SecretStore(paths(tmp_path))
    assert not store.uses_file
    assert store.get("old") == "from-the-file"  # still readable
    store.set("old", "in-the-keyring")
    store.set("new", "also")
    assert store.get("old") == "in-the-keyring" and "from-the-file" not in store.file.read_text()
    assert store.notice() is None
    assert {key for _, key in memory.values} == {"old", "new"}
    assert {service for service, _ in memory.values} == {
        f"labdock:{(tmp_path / 'config' / 'install-id').read_text().strip()}"
    }
    store.delete("old", "missing")
    assert store.get("old") is None and store.get("new") == "also"


def test_keyring_trouble_is_one_line(tmp_path: Path, memory: MemoryKeyring, monkeypatch: pytest.MonkeyPatch) -> None:
    def locked(*args: object) -> None:
        raise RuntimeError("the collection is locked\nmore detail")

    monkeypatch.setattr(memory, "set_password", locked)
    with pytest.raises(LabdockError, match=r"^the system keyring refused: RuntimeError: the collection is locked$"):
        SecretStore(paths(tmp_path)).set("k", "never-shown")


def test_insisting_on_a_keyring_without_one(tmp_path: Path) -> None:
    from keyring.backends import fail

    before = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        with pytest.raises(LabdockError, match="no system keyring answers"):
            SecretStore(paths(tmp_path), choice="keyring").get("k")
        assert SecretStore(paths(tmp_path)).uses_file
    finally:
        keyring.set_keyring(before)
