"""GPU processes -> notebook -> kernel -> notebook file, on a fake /proc and a stand-in server API: labels, idle
times, the caches, servers that do not answer, the kernel actions and the `labdock gpu` text."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from desktop.core.errors import LabdockError
from desktop.gpu import GpuInfo, GpuProcess, GpuSample, Inventory
from desktop.gpu_table import gpu_groups, render
from desktop.jupyter_api import KernelGone, Server, interrupt_kernel, kernels
from desktop.kernel_actions import KernelAction, act, idle_kernels, shut_down_idle
from desktop.kernels import GpuLine, KernelAttribution, KernelInfo, LineKind, idle_text
from tests.conftest import arun
from tests.gpu.jupyter_stub import StubServer, kernel_argv, write_proc

A = "a" * 64  # the container of notebook "vision-2"
K1, K2, K3 = "11111111-aaaa-4bbb-8ccc-000000000001", "22222222-aaaa-4bbb-8ccc-000000000002", "33333333-0000"
GiB = 1 << 30
LAST = "2026-01-01T10:00:00.000000Z"
LAST_EPOCH = 1767261600.0


def fake_proc(root: Path) -> None:
    """vision-2 (container A): a kernel, a grandchild of another kernel, a terminal job. A Local server
    (pid 500) with a kernel. A process of another container, and one on the host."""
    docker = f"0::/system.slice/docker-{A}.scope\n"
    write_proc(root, 100, 90, ["tini", "-g", "--", "jupyter", "lab"], docker)
    write_proc(root, 101, 100, kernel_argv(K1), docker)
    write_proc(root, 102, 100, kernel_argv(K2), docker)
    write_proc(root, 103, 102, ["/bin/sh", "-c", "python train.py"], docker)
    write_proc(root, 104, 103, ["python", "train.py", "--epochs", "90"], docker)
    write_proc(root, 105, 100, ["python", "job.py"], docker)
    write_proc(root, 500, 1, ["python", "-m", "jupyterlab"])
    write_proc(root, 501, 500, kernel_argv(K3))
    write_proc(root, 600, 1, ["python", "other.py"], f"0::/docker/{'c' * 64}\n")
    write_proc(root, 700, 1, ["/usr/lib/xorg/Xorg", ":0"])


def samples() -> tuple[GpuSample, ...]:
    def procs(*items: tuple[int, int]) -> tuple[GpuProcess, ...]:
        return tuple(GpuProcess(pid, mem, 10 if pid == 101 else None) for pid, mem in items)

    return (
        GpuSample(0, "GPU-0", 0.0, 80 * GiB, 40 * GiB, processes=procs((101, 20 * GiB), (104, 8 * GiB), (105, GiB))),
        GpuSample(
            1, "GPU-1", 0.0, 80 * GiB, 9 * GiB, processes=procs((501, 4 * GiB), (600, GiB), (700, 100), (999, 5))
        ),
    )


@pytest.fixture
def proc(tmp_path: Path) -> Path:
    fake_proc(tmp_path)
    return tmp_path


async def two_servers() -> tuple[StubServer, StubServer]:
    docker, local = await StubServer().start(), await StubServer(token="other").start()
    docker.add_kernel(K1, last=LAST, path="train.ipynb")
    docker.add_kernel(K2, state="busy", last=LAST, path="runs/fit.ipynb")
    local.add_kernel(K3, last=LAST)
    return docker, local


def test_lines_name_notebook_file_and_activity(proc: Path) -> None:
    async def go() -> tuple[GpuLine, ...]:
        docker, local = await two_servers()
        servers = [docker.as_server("vision-2", A[:12]), local.as_server("scratch", "local:500")]
        try:
            return await KernelAttribution(proc).lines(samples(), servers)
        finally:
            await docker.close()
            await local.close()

    lines = {line.pid: line for line in arun(go(), timeout=30)}
    now = LAST_EPOCH + 2 * 3600 + 10 * 60
    assert lines[101].label == "vision-2 / train.ipynb" and lines[101].activity(now) == "idle 2 h 10 min"
    assert lines[101].utilization == 10 and lines[101].kernel == KernelInfo(
        K1, "python3", "idle", LAST_EPOCH, 1, "train.ipynb"
    )
    assert lines[104].label == "vision-2 / runs/fit.ipynb (python train.py --epochs 90)"
    assert lines[104].kernel_pid == 102 and lines[104].activity(now) == "busy" and lines[104].idle_seconds(now) is None
    assert lines[105].kind is LineKind.PROCESS and lines[105].label == "vision-2: python job.py (not a kernel)"
    assert lines[501].label == f"scratch / kernel {K3[:8]} (no notebook file)" and lines[501].gpu_index == 1
    assert lines[600].label == f"other: python other.py in container {'c' * 12}"
    assert lines[700].label == "other: Xorg :0" and lines[999].label == "other: pid 999"
    assert {lines[p].activity(now) for p in (105, 600, 700, 999)} == {"-"}

    text = render(gpu_groups(Inventory(gpus=(GpuInfo(0, "GPU-0", "H100", 80 * GiB),)), samples(), lines.values()), now)
    assert text.splitlines()[0] == "GPU 0: H100, 40.0 GiB of 80.0 GiB used"
    rows = [row.strip().split("  ")[0] for row in text.splitlines()[2:5]]
    assert rows == [
        "vision-2 / train.ipynb",
        "vision-2 / runs/fit.ipynb (python train.py --epochs 90)",
        "vision-2: python job.py (not a kernel)",
    ]
    assert "GPU 1: GPU, 9.0 GiB of 80.0 GiB used" in text and "t0ken" not in text


def test_server_answers_are_kept_for_a_while(proc: Path) -> None:
    async def go() -> None:
        docker, local = await two_servers()
        servers = [docker.as_server("vision-2", A), local.as_server("scratch", "local:500")]
        attribution = KernelAttribution(proc, api_ttl=60, api_retry=60)
        await attribution.lines(samples(), servers)
        await attribution.lines(samples(), servers)
        assert len(docker.requests) == 2  # api/kernels and api/sessions, once
        attribution.forget("vision-2")
        await attribution.lines(samples(), servers)
        assert len(docker.requests) == 4 and len(local.requests) == 2
        await docker.close()
        await local.close()

    arun(go(), timeout=30)


def test_a_server_that_failed_is_not_asked_every_round(proc: Path) -> None:
    async def go() -> None:
        stub = await StubServer(status=500).start()
        attribution = KernelAttribution(proc, api_ttl=60, api_retry=0)
        for _ in range(3):
            await attribution.lines(samples()[:1], [stub.as_server("vision-2", A)])
        assert len(stub.requests) == 2  # one try (kernels and sessions), then it waits the full api_ttl
        stub.status = None
        stub.add_kernel(K1, path="train.ipynb")
        attribution.forget()
        lines = await attribution.lines(samples()[:1], [stub.as_server("vision-2", A)])
        assert lines[0].label == "vision-2 / train.ipynb"
        await stub.close()

    arun(go(), timeout=30)


def test_a_reused_pid_is_read_again(proc: Path) -> None:
    attribution = KernelAttribution(proc)
    sample = (GpuSample(0, "GPU-0", 0.0, GiB, processes=(GpuProcess(700, 1),)),)
    assert arun(attribution.lines(sample, []))[0].label == "other: Xorg :0"
    write_proc(proc, 700, 1, ["python", "new.py"], start=2000)
    assert arun(attribution.lines(sample, []))[0].label == "other: python new.py"


@pytest.mark.parametrize("trouble", ["down", 403, 500])
def test_a_server_that_does_not_answer_leaves_the_line(proc: Path, trouble: str | int) -> None:
    async def go() -> GpuLine:
        stub = await StubServer().start()
        stub.status = trouble if isinstance(trouble, int) else None
        server = stub.as_server("vision-2", A)
        await stub.close() if trouble == "down" else None
        try:
            lines = await KernelAttribution(proc).lines(samples()[:1], [server])
        finally:
            await stub.close()
        return lines[0]

    line = arun(go(), timeout=30)
    assert line.kind is LineKind.KERNEL and line.kernel is None and line.activity() == "unknown"
    assert line.label == f"vision-2 / kernel {K1[:8]} (no notebook file)"


def test_api_refuses_other_hosts_and_reads_chunked_answers() -> None:
    with pytest.raises(LabdockError, match="is not served on this machine"):
        arun(kernels(Server("far", A, "http://192.0.2.1:8888/", "t")))

    async def go() -> None:
        stub = await StubServer(chunked=True).start()
        stub.add_kernel(K1)
        assert [k["id"] for k in await kernels(stub.as_server("nb", A))] == [K1]
        with pytest.raises(LabdockError, match="refused its token"):
            await kernels(Server("nb", A, f"http://127.0.0.1:{stub.port}/", "wrong"))
        await stub.close()

    arun(go(), timeout=30)


def test_actions_through_the_server() -> None:
    async def go() -> None:
        stub = await StubServer().start()
        stub.add_kernel(K1, path="train.ipynb")
        server = stub.as_server("nb", A)
        await act(server, K1, KernelAction.INTERRUPT)
        await act(server, K1, KernelAction.SHUT_DOWN)
        await act(server, K1, KernelAction.SHUT_DOWN)  # already gone: what was asked for is so
        with pytest.raises(KernelGone, match=f"kernel {K1[:8]} of 'nb' has already ended"):
            await interrupt_kernel(server, K1)
        assert stub.requests == [
            f"POST /api/kernels/{K1}/interrupt",
            f"DELETE /api/kernels/{K1}",
            f"DELETE /api/kernels/{K1}",
            f"POST /api/kernels/{K1}/interrupt",
        ]
        await stub.close()

    arun(go(), timeout=30)


def line(pid: int, notebook: str, kernel_id: str, state: str, last: float, memory: int, gpu: str = "GPU-0") -> GpuLine:
    info = KernelInfo(kernel_id, "python3", state, last)
    return GpuLine(gpu, 0, pid, memory, None, LineKind.KERNEL, notebook, kernel_id, info)


def test_idle_kernels_past_a_threshold() -> None:
    now = 10_000.0
    lines = [
        line(1, "a", "k1", "idle", now - 7200, GiB),
        line(2, "a", "k1", "idle", now - 7200, 3 * GiB, gpu="GPU-1"),  # the same kernel on another GPU
        line(3, "b", "k2", "idle", now - 60, GiB),
        line(4, "c", "k3", "busy", now - 9000, GiB),
        GpuLine("GPU-0", 0, 5, GiB, None, LineKind.PROCESS, "a", command="python job.py"),
    ]
    assert [x.pid for x in idle_kernels(lines, 3600, now)] == [2]
    assert [x.pid for x in idle_kernels(lines, 3600, now, gpu_uuid="GPU-0")] == [1]
    assert [x.pid for x in idle_kernels(lines, 0, now)] == [2, 3]

    async def go() -> None:
        stub = await StubServer().start()
        stub.add_kernel("k1")
        freed = await shut_down_idle(lines, {"a": stub.as_server("a", A)}, 0, now=now)
        assert [x.pid for x in freed.shut_down] == [2]
        assert [(x.pid, why) for x, why in freed.failed] == [(3, "'b' is not running")]
        assert stub.kernels == []
        await stub.close()

    arun(go(), timeout=30)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(5, "idle 5 s"), (59.9, "idle 59 s"), (60, "idle 1 min"), (3599, "idle 59 min"), (7800, "idle 2 h 10 min"),
     (7200, "idle 2 h"), (86400 * 3 + 3600 * 4, "idle 3 d 4 h"), (86400, "idle 1 d")],
)  # fmt: skip
def test_idle_text(seconds: float, text: str) -> None:
    assert idle_text(seconds) == text


def test_empty_and_lost_gpus_in_the_table() -> None:
    inventory = Inventory(gpus=(GpuInfo(0, "GPU-0", "A100", GiB), GpuInfo(1, "GPU-1", "A100", GiB)))
    sampled = (GpuSample(1, "GPU-1", 0.0, GiB, lost=True), GpuSample(0, "GPU-0", 0.0, GiB, GiB // 2, utilization=7))
    assert render(gpu_groups(inventory, sampled, ())).splitlines() == [
        "GPU 0: A100, 512.0 MiB of 1.0 GiB used, 7 % busy",
        "  no GPU processes",
        "GPU 1: A100, lost (it no longer answers)",
        "  no GPU processes",
    ]


def test_lines_of_no_gpu_cost_nothing() -> None:
    assert arun(KernelAttribution(Path("/nonexistent")).lines((), [])) == ()
    assert asyncio.iscoroutinefunction(KernelAttribution.lines)
