"""Exclusive GPUs: the rules on records, the manager's refusal before anything exists, and for real: a Local
notebook reserving GPU 0 makes a second launch (window or `labdock new`) fail with the holder's name."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from desktop.core.models import NetworkMode, Notebook, NotebookSpec, NotebookState
from desktop.gpu import GpuInfo, GpuSample, Inventory
from desktop.manager import NotebookManager
from desktop.reservations import GpuReserved, availability, check_launch, gpu_ids
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import TEST_PREFIX, Engine, arun
from tests.gpu.fake_cli import cli_process, run_cli
from tests.gpu.fake_nvml import FakeNvml, make_gpus
from tests.unit.fake_engine import FakeEngine

S = NotebookState
INV = Inventory(
    gpus=(GpuInfo(0, "GPU-a", "H100", 80 << 30), GpuInfo(1, "GPU-b", "H100", 80 << 30)), cuda_version="12.4"
)


def nb(name: str, gpus: tuple[str, ...], exclusive: bool = False, state: NotebookState = S.READY) -> Notebook:
    return Notebook(NotebookSpec(name, "img", gpus=gpus, exclusive_gpus=exclusive), state=state)


def spec(name: str, gpus: tuple[str, ...], exclusive: bool = False) -> NotebookSpec:
    return NotebookSpec(name, "img", gpus=gpus, exclusive_gpus=exclusive)


@pytest.mark.parametrize("inventory", [INV, None], ids=["by uuid", "no NVML"])
def test_rules(inventory: Inventory | None) -> None:
    holders = [nb("vision-2", ("0",), exclusive=True), nb("nlp", ("1",)), nb("old", ("0",), True, S.STOPPED)]
    with pytest.raises(GpuReserved, match=r"^GPU 0 is reserved by 'vision-2' \(exclusive\): stop 'vision-2'"):
        check_launch(spec("new", ("all",)), holders, inventory)
    with pytest.raises(GpuReserved, match=r"^GPU 1 is in use by 'nlp': an exclusive notebook needs its GPUs"):
        check_launch(spec("new", ("1",), exclusive=True), holders, inventory)
    assert check_launch(spec("new", ("1",)), holders, inventory) == "GPU 1 is also used by 'nlp'"
    assert check_launch(spec("new", ()), holders, inventory) is None  # CPU only
    assert check_launch(spec("vision-2", ("0",)), holders, inventory) is None  # its own restart
    assert check_launch(spec("new", ("0",)), holders[1:], inventory) is None  # a stopped holder holds nothing


def test_the_same_gpu_by_index_uuid_or_all_is_the_same() -> None:
    assert gpu_ids(spec("a", ("GPU-b",)), INV) == gpu_ids(spec("b", ("1",)), INV) == {"GPU-b"}
    assert gpu_ids(spec("c", ("all",)), INV) == {"GPU-a", "GPU-b"}
    assert gpu_ids(spec("d", ("0,7",)), INV) == {"GPU-a"}  # a GPU that is gone holds nothing
    with pytest.raises(GpuReserved, match=r"^GPUs 0, 1 are in use by 'a'"):
        check_launch(spec("x", ("all",), exclusive=True), [nb("a", ("GPU-a", "1"))], INV)


def test_availability_for_the_dialog() -> None:
    samples = [
        GpuSample(0, "GPU-a", 0.0, 80 << 30, memory_used=30 << 30),
        GpuSample(1, "GPU-b", 0.0, 80 << 30, lost=True),
    ]
    rows = availability(
        INV, samples, [nb("z", ("0",)), nb("a", ("all",), exclusive=True), nb("s", ("1",), False, S.STOPPED)]
    )
    assert [(r.index, r.memory_free, r.holders, r.reserved_by) for r in rows] == [
        (0, 50 << 30, ("a", "z"), "a"),
        (1, None, ("a",), "a"),
    ]


def fake_manager(tmp_path: Path) -> tuple[NotebookManager, FakeEngine]:
    engine = FakeEngine()
    paths = Paths(tmp_path / "config", tmp_path / "data")
    return NotebookManager(engine, paths, container_uid=1000, gpu_inventory=lambda: INV), engine  # type: ignore[arg-type]


def test_manager_refuses_before_anything_exists_and_start_checks_again(tmp_path: Path) -> None:
    manager, engine = fake_manager(tmp_path)
    said: list[tuple[str, str]] = []
    manager.subscribe_warnings(lambda name, warning: said.append((name, warning)))

    async def go() -> None:
        assert (await manager.create(spec("holder", ("0",), exclusive=True))).state is S.READY
        with pytest.raises(GpuReserved, match="'holder'"):
            await manager.create(spec("second", ("GPU-a",)))
        assert [n.name for n in manager.list()] == ["holder"] and set(engine.servers) == {"holder"}
        assert not (tmp_path / "data").joinpath("work", "second").exists()
        assert (await manager.create(spec("other", ("1",)))).state is S.READY
        assert (await manager.create(spec("sharer", ("1",)))).state is S.READY
        assert said == [("sharer", "GPU 1 is also used by 'other'")]
        await manager.stop("holder")
        assert (await manager.create(spec("taker", ("0",), exclusive=True))).state is S.READY
        with pytest.raises(GpuReserved, match=r"^GPU 0 is reserved by 'taker'"):
            await manager.start("holder")
        assert manager.get("holder").state is S.STOPPED
        await manager.close()

    arun(go(), timeout=60)


@pytest.mark.docker
def test_exclusive_gpu_refuses_a_second_launch_for_real(
    fake_nvml: FakeNvml, labdock_home: Path, images: Any, docker_engine: Engine
) -> None:
    fake_nvml.gpus = make_gpus(2)
    services = build_services(Paths.default())
    manager = services.manager

    async def launch() -> None:
        holder = NotebookSpec("vision-2", images.plain, gpus=("0",), engine="local", exclusive_gpus=True)
        sharer = NotebookSpec("shared-1", images.plain, gpus=("1",), engine="local")
        for made in [await manager.create(holder), await manager.create(sharer)]:
            assert made.state is S.READY, made.error
        second = NotebookSpec("second", images.plain, gpus=(fake_nvml.gpus[0].uuid,), network_mode=NetworkMode.HOST)
        with pytest.raises(GpuReserved, match=r"^GPU 0 is reserved by 'vision-2' \(exclusive\)"):
            await manager.create(second)
        assert sorted(n.name for n in manager.list()) == ["shared-1", "vision-2"]
        assert await manager.launch_warnings(NotebookSpec("third", images.plain, gpus=("1",))) == (
            "GPU 1 is also used by 'shared-1'",
        )

    async def stop() -> None:
        await manager.stop_all()
        await manager.close()

    try:
        arun(launch(), timeout=120)
        refused = run_cli(fake_nvml, "new", "third", "--gpu", "all", "--image", images.plain)
        assert refused.returncode == 1
        assert refused.stderr.splitlines() == [
            "labdock: GPU 0 is reserved by 'vision-2' (exclusive): stop 'vision-2' or pick another GPU"
        ]
        greedy = run_cli(fake_nvml, "new", "greedy", "--gpu", "1", "--exclusive", "--engine", "local")
        assert greedy.returncode == 1 and greedy.stderr.startswith("labdock: GPU 1 is in use by 'shared-1'")
        assert len(greedy.stderr.splitlines()) == 1
    finally:
        arun(stop(), timeout=60)
    remembered = json.loads((labdock_home / "config" / "notebooks.json").read_text())
    assert not {"second", "third", "greedy"} & set(json.dumps(remembered).split('"'))
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)]
    assert not any((labdock_home / "data" / "work" / name).exists() for name in ("second", "third", "greedy"))


@pytest.mark.docker
def test_two_processes_launching_at_once_never_break_a_reservation(
    fake_nvml: FakeNvml, labdock_home: Path, docker_engine: Engine
) -> None:
    """`labdock new --exclusive` and a sharer of the same GPU, in two OS processes started together: each
    round exactly one launches; the other is refused with the holder's name (either may win the race)."""
    fake_nvml.gpus = make_gpus(2)
    winners: list[str] = []
    try:
        for round_ in range(3):
            reserve = cli_process(
                fake_nvml, "new", f"reserve-{round_}", "--gpu", "0", "--exclusive", "--engine", "local"
            )
            share = cli_process(fake_nvml, "new", f"share-{round_}", "--gpu", "0", "--engine", "local")
            done = {
                name: (*proc.communicate(timeout=120), proc.returncode)
                for name, proc in ((f"reserve-{round_}", reserve), (f"share-{round_}", share))
            }
            launched = [name for name, (_, _, rc) in done.items() if rc == 0]
            assert len(launched) == 1, done
            winners.extend(launched)
            loser = next(name for name in done if name not in launched)
            lines = done[loser][1].splitlines()
            assert len(lines) == 1 and re.match(
                rf"^labdock: GPU 0 is (reserved by|in use by) '{launched[0]}'", lines[0]
            ), done
            assert run_cli(fake_nvml, "stop", launched[0]).returncode == 0
    finally:
        run_cli(fake_nvml, "stop", "--all")
    listed = run_cli(fake_nvml, "ls").stdout
    assert all(name in listed for name in winners)
