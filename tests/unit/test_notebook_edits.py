"""Edit, duplicate, rename and the stable address against the fake engine: round trips, refusals that
change nothing, and secrets that follow their notebook (kept in the fallback file, never in the specs)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from desktop.core.errors import InvalidSpec, LabdockError, NotebookExists
from desktop.core.models import Mount, NotebookSpec, NotebookState
from desktop.manager import NotebookManager
from desktop.secrets import SecretStore, env_key, token_key
from desktop.store import Paths
from tests.conftest import arun
from tests.unit.fake_engine import FakeEngine

S = NotebookState
SECRET = "hf_unit_secret_value"


def make(tmp_path: Path) -> tuple[NotebookManager, FakeEngine, SecretStore]:
    engine = FakeEngine()
    paths = Paths(tmp_path / "config", tmp_path / "data")
    store = SecretStore(paths, choice="file")
    return NotebookManager(engine, paths, container_uid=1000, secret_store=store), engine, store


def spec(name: str = "nb", **fields: object) -> NotebookSpec:
    return NotebookSpec(name=name, image="img", **fields)  # type: ignore[arg-type]


def test_secrets_reach_the_server_and_stay_out_of_the_specs(tmp_path: Path) -> None:
    manager, engine, store = make(tmp_path)

    async def scenario() -> None:
        with pytest.raises(InvalidSpec, match="the secret HF_TOKEN needs a value"):
            await manager.create(spec(secret_names=("HF_TOKEN",)))
        assert manager.list() == [] and not store.file.exists()
        notebook = await manager.create(spec(secret_names=("HF_TOKEN",)), secrets={"HF_TOKEN": SECRET})
        assert notebook.state is S.READY and engine.servers["nb"].secret_env == {"HF_TOKEN": SECRET}
        await manager.close()

    arun(scenario())
    assert store.get(env_key("nb", "HF_TOKEN")) == SECRET
    assert oct(store.file.stat().st_mode & 0o777) == "0o600"
    assert "fallback secret store" in store.file.read_text() and store.notice() is not None
    assert SECRET not in (tmp_path / "config" / "notebooks.json").read_text()


def test_edit_round_trip_and_refusals(tmp_path: Path) -> None:
    manager, engine, store = make(tmp_path)
    data = tmp_path / "datasets"
    data.mkdir()

    async def scenario() -> None:
        await manager.create(spec(secret_names=("A",)), secrets={"A": "first-value"})
        changed = spec(env=(("PLAIN", "1"),), secret_names=("B",), mounts=(Mount(data, "/data"),), shm_bytes=2**30)
        with pytest.raises(LabdockError, match="stop 'nb' first"):
            await manager.edit("nb", changed, secrets={"B": "second-value"})
        await manager.stop("nb")
        before = (tmp_path / "config" / "notebooks.json").read_text()
        with pytest.raises(InvalidSpec, match="the secret B needs a value"):
            await manager.edit("nb", changed)
        with pytest.raises(InvalidSpec, match="does not exist"):
            await manager.edit("nb", dataclasses.replace(changed, mounts=(Mount(tmp_path / "gone", "/d"),)))
        with pytest.raises(InvalidSpec, match="rename"):
            await manager.edit("nb", dataclasses.replace(changed, name="other"))
        assert (tmp_path / "config" / "notebooks.json").read_text() == before  # refused: nothing changed
        edited = await manager.edit("nb", changed, secrets={"B": "second-value"})
        assert edited.spec.env == (("PLAIN", "1"),) and edited.spec.mounts == (Mount(data, "/data"),)
        assert edited.spec.work_dir == manager.paths.default_work_dir("nb")  # kept
        started = await manager.start("nb")
        assert started.state is S.READY and engine.servers["nb"].secret_env == {"B": "second-value"}
        await manager.close()

    arun(scenario())
    assert store.get(env_key("nb", "A")) is None  # dropped with its variable
    reloaded = NotebookManager(FakeEngine(), manager.paths, secret_store=store)
    arun(reloaded.restore())
    assert reloaded.get("nb").spec.secret_names == ("B",)


def test_duplicate_and_rename(tmp_path: Path) -> None:
    manager, engine, store = make(tmp_path)

    async def scenario() -> None:
        await manager.create(spec("src", secret_names=("K",), stable_address=True), secrets={"K": "kv"})
        source_port = manager.get("src").spec.stable_port
        copy = await manager.duplicate("src", "copy")
        assert copy.state is S.STOPPED and copy.spec.work_dir == manager.paths.default_work_dir("copy")
        assert copy.spec.work_dir.is_dir() and copy.spec.stable_port not in (None, source_port)
        shared = await manager.duplicate("src", "shared", same_work_dir=True)
        assert shared.spec.work_dir == manager.get("src").spec.work_dir
        with pytest.raises(NotebookExists):
            await manager.duplicate("src", "copy")
        with pytest.raises(LabdockError, match="stop 'src' first"):
            await manager.rename("src", "renamed")
        await manager.stop("src")
        old_work = manager.get("src").spec.work_dir
        assert old_work is not None
        (old_work / "kept.txt").write_text("kept")
        with pytest.raises(NotebookExists):
            await manager.rename("src", "copy")
        renamed = await manager.rename("src", "renamed")
        assert [n.name for n in sorted(manager.list(), key=lambda n: n.name)] == ["copy", "renamed", "shared"]
        assert renamed.spec.work_dir == manager.paths.default_work_dir("renamed") and not old_work.exists()
        assert (renamed.spec.work_dir / "kept.txt").read_text() == "kept"
        assert renamed.spec.stable_port == source_port  # the address follows the notebook
        started = await manager.start("renamed")
        assert engine.servers["renamed"].secret_env == {"K": "kv"}
        assert started.token == store.get(token_key("renamed"))
        await manager.close()

    arun(scenario())
    assert store.get(env_key("src", "K")) is None and store.get(token_key("src")) is None
    assert store.get(env_key("copy", "K")) == "kv" and store.get(token_key("copy")) is None


def test_stable_address_keeps_port_and_token(tmp_path: Path) -> None:
    manager, _engine, store = make(tmp_path)

    async def scenario() -> None:
        first = await manager.create(spec(stable_address=True))
        port, token = first.spec.stable_port, first.token
        assert port is not None and token == store.get(token_key("nb"))
        await manager.stop("nb")
        again = await manager.start("nb")
        assert (again.spec.stable_port, again.token) == (port, token)
        await manager.stop("nb")
        off = await manager.edit("nb", dataclasses.replace(again.spec, stable_address=False))
        assert off.spec.stable_port is None and store.get(token_key("nb")) is None
        plain = await manager.start("nb")
        assert plain.token != token
        await manager.remove("nb")
        await manager.close()

    arun(scenario())
