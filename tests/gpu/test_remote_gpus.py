"""A remote host's GPUs through nvidia-smi: recorded `--format=csv,noheader,nounits` output behind a fake
runner (no GPU, no SSH), then the real script under the real sh with a stand-in nvidia-smi on its PATH."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.core.errors import EngineUnavailable
from desktop.gpu import GpuInfo, GpuProcess, GpuSample, Inventory, container_of
from desktop.remote_gpus import (
    APP_FIELDS,
    COMMAND,
    GPU_FIELDS,
    MARK,
    SCRIPT,
    TIMEOUT_S,
    CommandResult,
    RemoteGpuReport,
    read_remote_gpus,
)
from tests.conftest import arun
from tests.gpu.test_attribution import CGROUP_FORMATS, A, B

MiB = 1 << 20
U0 = "GPU-8f6c1d5e-2a3b-4c5d-9e8f-0a1b2c3d4e5f"
U1 = "GPU-3b2a1c0d-9e8f-4a5b-8c7d-6e5f4a3b2c1d"

# --query-gpu=index,uuid,driver_version,memory.total,memory.used,utilization.gpu,temperature.gpu,power.draw,name
TWO_H100 = (
    f"0, {U0}, 550.54.15, 81559, 1234, 17, 34, 71.43, NVIDIA H100 80GB HBM3\n"
    f"1, {U1}, 550.54.15, 81559, 4, 0, 29, 68.92, NVIDIA H100 80GB HBM3\n"
)
# --query-compute-apps=gpu_uuid,pid,used_memory
APPS = f"{U0}, 4242, 20480\n{U0}, 1701, 612\n{U1}, 5151, 1024\n{U1}, 4242, 512\n"
MISMATCH = "Failed to initialize NVML: Driver/library version mismatch\nNVML library version: 535.154\n"
NO_DRIVER = (
    "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. "
    "Make sure that the latest NVIDIA driver is installed and running.\n"
)


def joined(cgroup: str) -> str:
    """A /proc/<pid>/cgroup file as the script prints it: its lines on one line (`paste -s -d ' '`)."""
    return " ".join(cgroup.splitlines())


def answer(
    gpus: str,
    apps: str = "",
    cgroups: dict[int, str] | None = None,
    gpu_status: int = 0,
    app_status: int = 0,
    banner: str = "",
) -> CommandResult:
    """The script's stdout for these nvidia-smi outputs and cgroup files (the real-sh tests below check
    that the script prints this shape)."""
    lines = [
        f"{MARK} gpus {gpu_status}",
        gpus.rstrip("\n"),
        f"{MARK} apps {app_status}",
        apps.rstrip("\n"),
        f"{MARK} cgroups",
        *(f"{pid} {joined(text)}" for pid, text in (cgroups or {}).items()),
    ]
    return CommandResult(0, banner + "\n".join(lines) + "\n", "")


class Runner:
    """The fake at the SSH boundary: answers every command with one recorded result."""

    def __init__(self, result: CommandResult | Exception) -> None:
        self.result = result
        self.calls: list[tuple[str, float]] = []

    async def __call__(self, command: str, timeout: float) -> CommandResult:
        self.calls.append((command, timeout))
        if isinstance(self.result, Exception):
            raise self.result
        return self.result


def read(result: CommandResult | Exception) -> RemoteGpuReport:
    runner = Runner(result)
    report = arun(read_remote_gpus(runner))
    assert runner.calls == [(COMMAND, TIMEOUT_S)]  # one round trip
    return report


def test_two_gpus_with_their_processes_and_containers() -> None:
    cgroups = {
        4242: CGROUP_FORMATS["v2 systemd"],  # on both GPUs
        1701: "0::/user.slice/user-1000.slice/session-2.scope\n",  # the host's own
        5151: f"12:pids:/docker/{B}\n11:memory:/docker/{B}\n1:name=systemd:/docker/{B}\n",  # cgroup v1
    }
    report = read(answer(TWO_H100, APPS, cgroups))
    assert report.problem is None
    assert report.inventory == Inventory(
        gpus=(
            GpuInfo(0, U0, "NVIDIA H100 80GB HBM3", 81559 * MiB),
            GpuInfo(1, U1, "NVIDIA H100 80GB HBM3", 81559 * MiB),
        ),
        driver_version="550.54.15",
    )
    first, second = report.samples
    assert first == GpuSample(
        0,
        U0,
        first.at,
        81559 * MiB,
        1234 * MiB,
        17,
        34,
        71.43,
        processes=(GpuProcess(4242, 20480 * MiB), GpuProcess(1701, 612 * MiB)),
    )
    assert (second.memory_used, second.utilization, second.temperature, second.power) == (4 * MiB, 0, 29, 68.92)
    assert second.processes == (GpuProcess(5151, 1024 * MiB), GpuProcess(4242, 512 * MiB))
    assert report.users_by_container == {A: {U0: 20480 * MiB, U1: 512 * MiB}, B: {U1: 1024 * MiB}}
    assert report.containers == {4242: A, 5151: B}


@pytest.mark.parametrize("fmt", CGROUP_FORMATS)
def test_every_cgroup_format_gpu_py_knows(fmt: str) -> None:
    report = read(answer(TWO_H100, f"{U1}, 77, 300\n", {77: CGROUP_FORMATS[fmt]}))
    assert report.containers == {77: A}
    assert report.users_by_container == {A: {U1: 300 * MiB}}


def test_fields_a_gpu_does_not_offer_are_none() -> None:
    gpus = (
        # unified memory (GB10-like): no memory figures; a vGPU without utilisation or power
        "0, GPU-0aa1b2c3-d4e5-46f7-8899-aabbccddeeff, 580.95.05, [N/A], [N/A], 0, 43, 4.80, NVIDIA GB10\n"
        "1, GPU-1bb1b2c3-d4e5-46f7-8899-aabbccddeeff, [N/A], 16384, 1024, [Not Supported], [N/A], [N/A], "
        "GRID A100-16C\n"
    )
    apps = "GPU-0aa1b2c3-d4e5-46f7-8899-aabbccddeeff, 900, [N/A]\n"
    report = read(answer(gpus, apps, {900: f"0::/docker/{A}\n"}))
    assert report.problem is None and report.inventory.reason is None
    assert [g.memory_total for g in report.inventory.gpus] == [0, 16384 * MiB]
    assert [g.name for g in report.inventory.gpus] == ["NVIDIA GB10", "GRID A100-16C"]
    assert report.inventory.driver_version == "580.95.05"
    unified, grid = report.samples
    assert (unified.memory_used, unified.utilization, unified.temperature, unified.power) == (None, 0, 43, 4.8)
    assert (grid.memory_used, grid.utilization, grid.temperature, grid.power) == (1024 * MiB, None, None, None)
    assert unified.processes == (GpuProcess(900, None),)
    assert report.users_by_container == {A: {"GPU-0aa1b2c3-d4e5-46f7-8899-aabbccddeeff": 0}}  # unknown counts 0


def test_a_name_with_a_comma_and_spaces_around_fields() -> None:
    report = read(answer(f" 0 ,  {U0} , 550.54.15 , 81559 , 1 , 2 , 3 , 4.5 , Board, rev 2 \n"))
    (gpu,) = report.inventory.gpus
    assert (gpu.index, gpu.uuid, gpu.name, gpu.memory_total) == (0, U0, "Board, rev 2", 81559 * MiB)


def test_no_processes() -> None:
    report = read(answer(TWO_H100))
    assert [s.processes for s in report.samples] == [(), ()]
    assert report.users_by_container == {} and report.containers == {}
    assert report.problem is None


def test_no_nvidia_smi_is_a_host_without_gpus() -> None:
    report = read(CommandResult(127, "", ""))
    assert report.problem is None
    assert report.inventory.gpus == () and report.samples == ()
    assert report.inventory.reason == "no nvidia-smi on the host (no NVIDIA driver)"


def test_no_devices_is_a_host_without_gpus() -> None:
    report = read(answer("No devices were found\n", "No devices were found\n", gpu_status=6, app_status=6))
    assert (report.problem, report.inventory) == (None, Inventory(reason="no NVIDIA GPU found"))


@pytest.mark.parametrize(
    ("output", "status", "line"),
    [
        (MISMATCH, 18, "Failed to initialize NVML: Driver/library version mismatch"),
        (NO_DRIVER, 9, NO_DRIVER.strip()),
    ],
)
def test_failing_nvidia_smi_gives_its_line(output: str, status: int, line: str) -> None:
    report = read(answer(output, output, gpu_status=status, app_status=status))
    assert report.problem == line
    assert report.inventory == Inventory(reason=line)
    assert report.samples == ()


def test_a_lost_gpu_is_a_reason_beside_the_others() -> None:
    lost = "Unable to determine the device handle for GPU0000:3B:00.0: Unknown Error"
    report = read(answer(f"{TWO_H100.splitlines()[0]}\n{lost}\n", f"{U0}, 4242, 100\n", gpu_status=15))
    assert report.problem is None
    assert [g.uuid for g in report.inventory.gpus] == [U0]
    assert report.inventory.reason == lost
    assert report.samples[0].processes == (GpuProcess(4242, 100 * MiB),)


def test_a_process_list_nvidia_smi_cannot_give_leaves_the_gpus() -> None:
    report = read(answer(TWO_H100, "Failed to run the query: Not Supported\n", app_status=3))
    assert len(report.samples) == 2 and report.problem is None
    assert all(s.processes == () for s in report.samples)


def test_process_lines_that_are_no_process_are_dropped() -> None:
    apps = f"{U0}, [N/A], 5\nGPU-00000000-0000-0000-0000-000000000000, 11, 5\n{U0}, 12\n{U0}, 13, 7\n"
    report = read(answer(TWO_H100, apps))
    assert report.samples[0].processes == (GpuProcess(13, 7 * MiB),)


def test_a_login_banner_before_the_answer_is_skipped() -> None:
    report = read(answer(TWO_H100, banner=f"Welcome to gpu-box\n{MARK.lower()} not ours\n"))
    assert len(report.inventory.gpus) == 2 and report.problem is None


def test_an_answer_that_is_not_the_script_s() -> None:
    report = read(CommandResult(2, "", "sh: 1: Syntax error: end of file unexpected\n"))
    assert report.problem == "the GPU query failed: sh: 1: Syntax error: end of file unexpected"
    assert report.inventory.gpus == ()


def test_a_connection_failure_is_the_report_s_problem() -> None:
    report = read(EngineUnavailable("gpu-box unreachable: Connection refused"))
    assert report.problem == "gpu-box unreachable: Connection refused"
    assert report.inventory.gpus == ()


# --- the real script, under the real sh -------------------------------------------------------------


def test_the_command_line_is_valid_posix_sh() -> None:
    for text in (SCRIPT, COMMAND):
        subprocess.run(["sh", "-n", "-c", text], check=True, timeout=30)
    # one line without `\` or `!`: the login shell that starts sh may be csh or fish
    assert not set("\n\\!") & set(COMMAND)


@pytest.fixture
def host(tmp_path: Path) -> Path:
    """A PATH of the tools the script needs, without nvidia-smi (tests add their stand-in)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for tool in ("sh", "awk", "sort", "paste", "cat"):
        found = shutil.which(tool)
        assert found, f"{tool} is needed on this machine"
        (bin_dir / tool).symlink_to(found)
    return bin_dir


def stand_in_nvidia_smi(bin_dir: Path, gpus: str, apps: str, status: int = 0) -> None:
    """Prints recorded output for exactly the two queries of the script; anything else is an error."""
    (bin_dir / "gpus.csv").write_text(gpus)
    (bin_dir / "apps.csv").write_text(apps)
    gpu_query = f"--query-gpu={','.join(GPU_FIELDS)} --format=csv,noheader,nounits"
    app_query = f"--query-compute-apps={','.join(APP_FIELDS)} --format=csv,noheader,nounits"
    script = bin_dir / "nvidia-smi"
    script.write_text(
        "#!/bin/sh\n"
        'case "$*" in\n'
        f'  "{gpu_query}") cat "{bin_dir}/gpus.csv" ;;\n'
        f'  "{app_query}") cat "{bin_dir}/apps.csv" ;;\n'
        '  *) echo "unexpected: $*"; exit 2 ;;\n'
        "esac\n"
        f"exit {status}\n"
    )
    script.chmod(0o755)


class LocalShell:
    """A RemoteCommand that runs the line through this machine's sh, as sshd runs it through a login shell."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.results: list[CommandResult] = []

    async def __call__(self, command: str, timeout: float) -> CommandResult:
        proc = await asyncio.create_subprocess_exec(
            str(self.bin_dir / "sh"),
            "-c",
            command,
            env={"PATH": str(self.bin_dir)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out, err = await asyncio.wait_for(proc.communicate(), timeout)
        result = CommandResult(proc.returncode if proc.returncode is not None else -1, out.decode(), err.decode())
        self.results.append(result)
        return result


def test_the_real_script_reads_gpus_processes_and_this_process_cgroup(host: Path) -> None:
    me, gone = os.getpid(), 4_194_305  # above the kernel's largest pid_max: never a process
    stand_in_nvidia_smi(host, TWO_H100, f"{U0}, {me}, 100\n{U1}, {gone}, 200\n{U1}, {me}, 300\n{U1}, [N/A], 1\n")
    shell = LocalShell(host)
    report = arun(read_remote_gpus(shell))
    (result,) = shell.results
    assert result.stderr == "" and result.exit_status == 0
    cgroup_line = f"{me} {joined(Path(f'/proc/{me}/cgroup').read_text())}"
    assert result.stdout.splitlines()[-2:] == [cgroup_line, f"{gone} "]  # each pid once, in numeric order
    expected = answer(TWO_H100, f"{U0}, {me}, 100\n{U1}, {gone}, 200\n{U1}, {me}, 300\n{U1}, [N/A], 1\n")
    assert result.stdout.splitlines()[:-2] == expected.stdout.splitlines()
    assert [s.processes for s in report.samples] == [
        (GpuProcess(me, 100 * MiB),),
        (GpuProcess(gone, 200 * MiB), GpuProcess(me, 300 * MiB)),
    ]
    mine = container_of(me)  # this test's own container, when it runs in one
    assert report.containers == ({me: mine} if mine else {})


def test_the_real_script_without_nvidia_smi(host: Path) -> None:
    shell = LocalShell(host)
    report = arun(read_remote_gpus(shell))
    assert shell.results[0].exit_status == 127
    assert report.problem is None and report.inventory.gpus == ()


def test_the_real_script_with_a_failing_nvidia_smi(host: Path) -> None:
    stand_in_nvidia_smi(host, MISMATCH, MISMATCH, status=18)
    report = arun(read_remote_gpus(LocalShell(host)))
    assert report.problem == "Failed to initialize NVML: Driver/library version mismatch"


def test_import_stays_light() -> None:
    banned = ("PySide6", "qasync", "docker")
    code = (
        "import sys, desktop.remote_gpus; "
        f"bad = [m for m in sys.modules if m.split('.')[0] in {banned!r}]; assert not bad, bad"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
