"""Warm start's pure rules: what matches a spare, which spares are wanted, the binding record."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.models import ALL_GPUS, Mount, NetworkMode, NotebookSpec
from desktop.engines.bindings import Binding, Bindings
from desktop.engines.container_spec import DockerSettings
from desktop.engines.docker_engine import DockerEngine
from desktop.settings import Settings
from desktop.spares import Spares, match_key, mem_available
from desktop.store import Paths

BASE = NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST)


def test_only_name_folder_limits_and_labdock_own_settings_may_differ() -> None:
    same = NotebookSpec(
        "two", "img:1", network_mode=NetworkMode.HOST, work_dir=Path("/w/two"), cpus=2, memory_bytes=2**30
    )
    assert match_key(same) == match_key(BASE)
    for other in (
        NotebookSpec("one", "img:2", network_mode=NetworkMode.HOST),
        NotebookSpec("one", "img:1"),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, gpus=ALL_GPUS),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, env=(("A", "1"),)),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, secret_names=("KEY",)),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, mounts=(Mount(Path("/d"), "/d"),)),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, shm_bytes=2**30),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, extra_args=("--x",)),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, stable_address=True),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, profile="plain"),
        NotebookSpec("one", "img:1", network_mode=NetworkMode.HOST, run_as_root=True),
    ):
        assert match_key(other) != match_key(BASE), other


def pool(tmp_path: Path, free: int | None, gpus: bool = False) -> Spares:
    paths = Paths(tmp_path / "config", tmp_path / "data")
    engine = DockerEngine(DockerSettings(install_id="x", bindings_dir=tmp_path / "b"))
    return Spares(engine, paths, container_uid=1000, has_gpus=lambda: gpus, free_memory=lambda: free)


def test_wanted_follows_preferences_and_memory(tmp_path: Path) -> None:
    settings = Settings(default_image="cpu:1", default_gpu_image="gpu:1", network_mode="host")
    assert [s.image for s in pool(tmp_path, None).wanted(settings)] == ["cpu:1"]
    assert [s.image for s in pool(tmp_path, 8 * 1024**3, gpus=True).wanted(settings)] == ["cpu:1", "gpu:1"]
    assert pool(tmp_path, 1024**3).wanted(settings) == []  # below the 2048 MiB default
    assert pool(tmp_path, None).wanted(Settings(keep_spare=False)) == []
    assert pool(tmp_path, None).wanted(Settings(default_engine="local")) == []


def test_bindings_round_trip_and_refuse_a_path_for_an_id(tmp_path: Path) -> None:
    bindings = Bindings(tmp_path / "b")
    ident = "ab" * 32
    assert bindings.read(ident) is None
    bindings.write(ident, Binding(BASE, tmp_path / "spare"))
    assert bindings.read(ident) == Binding(BASE, tmp_path / "spare")
    assert bindings.ids() == [ident]
    (tmp_path / "b" / f"{'cd' * 32}.json").write_text("{not json")
    assert bindings.read("cd" * 32) is None
    bindings.forget(ident)
    assert bindings.read(ident) is None
    assert bindings.read("../../etc/passwd") is None
    with pytest.raises(ValueError):
        bindings.write("../../etc/passwd", Binding(BASE, tmp_path))


def test_mem_available_reads_proc_meminfo() -> None:
    free = mem_available()
    assert free is None or free > 0
