"""GPU memory down to the kernel, against real servers and real kernels: two notebooks in containers and one
Local server, each with real kernels whose host pids (found through /proc) the fake driver reports as GPU
processes. The lines name notebook, file, memory and idle time; Interrupt and Shut down act on the real
kernels; `labdock gpu` shows the same table and `--free` shuts down idle kernels."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import pytest

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.gpu_table import gpu_groups, render
from desktop.jupyter_api import Server, get_json, kernels
from desktop.kernel_actions import KernelAction
from desktop.kernels import GpuLine, LineKind
from desktop.manager import NotebookManager
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import Engine, arun
from tests.gpu.fake_cli import run_cli
from tests.gpu.fake_nvml import FakeNvml, GiB, make_gpus
from tests.gpu.kernel_support import host_pids, kernel_pid, kernel_states, send_code, start_kernel, start_session, until

pytestmark = pytest.mark.docker
MiB = 1 << 20


def by_pid(lines: tuple[GpuLine, ...]) -> dict[int, GpuLine]:
    return {line.pid: line for line in lines}


async def listed(manager: NotebookManager, name: str) -> set[str]:
    nb = manager.get(name)
    assert nb.url and nb.token and nb.container_id
    return {str(k["id"]) for k in await kernels(Server(name, nb.container_id, nb.url, nb.token))}


def test_kernels_named_interrupted_and_shut_down(
    fake_nvml: FakeNvml, labdock_home: Path, images: Any, docker_engine: Engine
) -> None:
    fake_nvml.gpus = make_gpus(2)
    fake_nvml.live_only = True  # as a real driver: a process that ended is not listed
    services = build_services(Paths.default())
    manager = services.manager
    pids: dict[str, int] = {}
    kernel_ids: dict[str, str] = {}

    async def launch() -> None:
        specs = [
            NotebookSpec("vision-2", images.plain, network_mode=NetworkMode.HOST),
            NotebookSpec("nlp", images.stacks, network_mode=NetworkMode.HOST),
            NotebookSpec("scratch", images.plain, engine="local"),
        ]
        made = await asyncio.gather(*(manager.create(spec) for spec in specs))
        assert [nb.state for nb in made] == [NotebookState.READY] * 3, [nb.error for nb in made]
        a, b, local = made
        assert a.url and a.token and b.url and b.token and local.url and local.token
        kernel_ids["train"], kernel_ids["eval"], kernel_ids["local"], kernel_ids["bare"] = await asyncio.gather(
            start_session(a.url, a.token, "train.ipynb"),
            start_session(b.url, b.token, "experiments/eval.ipynb"),
            start_session(local.url, local.token, "local.ipynb"),
            start_kernel(local.url, local.token),
        )
        servers = {"train": a, "eval": b, "local": local, "bare": local}
        for key, kid in kernel_ids.items():
            pids[key] = kernel_pid(kid)
            nb = servers[key]
            assert nb.url and nb.token
            await send_code(nb.url, nb.token, kid, "x = 1")  # as JupyterLab does when it opens the notebook
            await until(lambda nb=nb, kid=kid: _state(nb.url, nb.token, kid, "idle"))  # type: ignore[misc]
        container = docker_engine.client.containers.get(a.container_id)
        container.exec_run(["sleep", "300"], detach=True)  # a terminal's job in the notebook: not a kernel
        await until(lambda: host_pids(["sleep", "300"], container.id))
        pids["job"] = host_pids(["sleep", "300"], container.id)[0]

    async def lines() -> tuple[GpuLine, ...]:
        return await manager.kernels.lines(await asyncio.to_thread(services.nvml.sample))

    async def scenario() -> None:
        await launch()
        fake_nvml.gpus[0].processes = [(pids["train"], 20 * GiB), (pids["eval"], 3 * GiB), (pids["job"], 1 * GiB)]
        fake_nvml.gpus[0].process_util = {pids["train"]: 35}
        fake_nvml.gpus[1].processes = [(pids["local"], 2 * GiB), (pids["bare"], 512 * MiB), (os.getpid(), 100 * MiB)]
        a = manager.get("vision-2")
        assert a.url and a.token
        before = await server_activity(a.url, a.token)
        seen = by_pid(await lines())
        assert await server_activity(a.url, a.token) == before  # watching is not activity (idle stop relies on it)
        train, eval_, local, bare = (seen[pids[k]] for k in ("train", "eval", "local", "bare"))
        assert train.label == "vision-2 / train.ipynb" and train.memory == 20 * GiB and train.utilization == 35
        assert eval_.label == "nlp / experiments/eval.ipynb" and eval_.gpu_index == 0
        assert local.label == "scratch / local.ipynb" and local.gpu_index == 1
        assert bare.label.startswith(f"scratch / kernel {kernel_ids['bare'][:8]}") and bare.kind is LineKind.KERNEL
        for line in (train, eval_, local, bare):
            assert line.kernel is not None and line.kernel.execution_state == "idle", line
            idle = line.idle_seconds()
            assert idle is not None and 0 <= idle < 300 and line.activity().startswith("idle ")
        job = seen[pids["job"]]
        assert job.kind is LineKind.PROCESS and job.label == "vision-2: sleep 300 (not a kernel)"
        assert seen[os.getpid()].kind is LineKind.OTHER and seen[os.getpid()].notebook is None
        table = render(gpu_groups(services.nvml.inventory(), services.nvml.sample(), tuple(seen.values())))
        row = next(line for line in table.splitlines() if "vision-2 / train.ipynb" in line).split()
        assert row[3:8] == ["20.0", "GiB", "35", "%", "idle"], table

        # Interrupt: a busy kernel goes back to idle, and stays.
        await send_code(a.url, a.token, kernel_ids["train"], "import time\ntime.sleep(120)")
        assert (await kernel_states(a.url, a.token))[kernel_ids["train"]] == "busy"
        await manager.kernels.act("vision-2", kernel_ids["train"], KernelAction.INTERRUPT)
        await until(lambda: _state(a.url, a.token, kernel_ids["train"], "idle"))  # type: ignore[arg-type]

        # Shut down: the server no longer lists it, the process ends and its line goes.
        await manager.kernels.act("nlp", kernel_ids["eval"], KernelAction.SHUT_DOWN)
        assert kernel_ids["eval"] not in await listed(manager, "nlp")
        await until(lambda: not Path(f"/proc/{pids['eval']}").exists())
        after = by_pid(await lines())
        assert pids["eval"] not in after and pids["train"] in after and pids["local"] in after

    async def stop_local() -> None:
        await manager.stop("scratch")
        await manager.close()

    try:
        arun(scenario(), timeout=180)
    finally:
        arun(stop_local(), timeout=60)
    cli_checks(fake_nvml, pids, kernel_ids)


async def server_activity(url: str, token: str) -> str:
    status = await get_json(Server("status", "-", url, token), "api/status")
    return str(status["last_activity"])


async def _state(url: str, token: str, kernel_id: str, wanted: str) -> bool:
    return (await kernel_states(url, token)).get(kernel_id) == wanted


def cli_checks(fake: FakeNvml, pids: dict[str, int], kernel_ids: dict[str, str]) -> None:
    """`labdock gpu` in a process of its own: the same lines; --free shuts down only what idled long enough.
    The Local server was stopped above, so its kernels are gone and only the containers' are left."""
    table = run_cli(fake, "gpu")
    assert table.returncode == 0, table.stderr
    assert "GPU 0: NVIDIA H100 80GB HBM3" in table.stdout
    assert "vision-2 / train.ipynb" in table.stdout and "vision-2: sleep 300 (not a kernel)" in table.stdout
    row = next(line for line in table.stdout.splitlines() if "vision-2 / train.ipynb" in line)
    assert "20.0 GiB" in row and "idle " in row and str(pids["train"]) in row
    assert "token" not in table.stdout

    kept = run_cli(fake, "gpu", "--free", "60")
    assert kept.returncode == 0 and "no kernel on any GPU has been idle for 60 min or more" in kept.stdout

    freed = run_cli(fake, "gpu", "--free", "0", "--gpu", "0")
    assert freed.returncode == 0, freed.stderr
    assert "shut down vision-2 / train.ipynb (idle " in freed.stdout and "freeing 20.0 GiB" in freed.stdout
    assert not Path(f"/proc/{pids['train']}").exists() or _zombie(pids["train"])
    after = run_cli(fake, "gpu")
    assert "vision-2 / train.ipynb" not in after.stdout and "vision-2: sleep 300" in after.stdout


def _zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] == "Z"
    except OSError:
        return True
