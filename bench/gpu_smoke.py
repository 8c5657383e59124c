"""GPU smoke test for a machine with an NVIDIA GPU and no Qt or Docker (only nvidia-ml-py, maybe torch).

Checks desktop.gpu against the real driver: the inventory, the cost of one sample (the dock's 2 ms
target), the CUDA check against the driver's CUDA version, a 5 s sampling run while a child process holds
1 GiB on one GPU (the sampler must see that pid with about that much memory, and its GPU share where the
GPU offers one), the values of `nvidia-smi`, and that the pid is gone from the samples once the child
exits. While the child holds its memory, the GPUs are also read as a remote host's are (nvidia-smi through
one shell command, bench/gpu_smoke_remote.py) and must agree with NVML. Then the kernel lines
(bench/gpu_smoke_kernels.py): a real kernel allocates on the GPU and must be named by its notebook file,
and shutting it down must free the memory; in a Local JupyterLab when jupyter_server and ipykernel are
installed, in a container with `--image` on Docker with the NVIDIA runtime; each is skipped with a line
saying why when its parts are missing. Exits 1 on any mismatch.
Run from the repository root: python bench/gpu_smoke.py [--gpu 0] [--seconds 5] [--mib 1024] [--image IMAGE]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.gpu_smoke_kernels import kernel_checks
from bench.gpu_smoke_remote import remote_reading_checks
from desktop.cuda_compat import cuda_warning, driver_cuda, image_cuda
from desktop.gpu import GpuMonitor, GpuSample, Inventory, Nvml, container_of

MiB = 1 << 20
CONTEXT_SLACK = 1536 * MiB  # a CUDA context (torch's included) costs a few hundred MiB on top of the buffer

# Allocating GPU memory: torch if present, else the CUDA runtime, else the driver API (always there with a
# driver). `allocate(size)` returns (what keeps it alive, how); the holder child and the kernel both use it.
ALLOC = r"""
import ctypes

def torch_alloc(size):
    import torch
    buf = torch.empty(size, dtype=torch.uint8, device="cuda:0")
    torch.cuda.synchronize()
    return buf

def cudart_alloc(size):
    for name in ("libcudart.so", "libcudart.so.12", "libcudart.so.11.0"):
        try:
            lib = ctypes.CDLL(name)
            break
        except OSError:
            continue
    else:
        raise OSError("libcudart not found")
    ptr = ctypes.c_void_p()
    rc = lib.cudaMalloc(ctypes.byref(ptr), ctypes.c_size_t(size))
    if rc != 0:
        raise RuntimeError(f"cudaMalloc returned {rc}")
    return ptr

def cuda_driver_alloc(size):
    lib = ctypes.CDLL("libcuda.so.1")
    dev, ctx, ptr = ctypes.c_int(), ctypes.c_void_p(), ctypes.c_uint64()
    for call, args in (("cuInit", (0,)), ("cuDeviceGet", (ctypes.byref(dev), 0)),
                       ("cuCtxCreate_v2", (ctypes.byref(ctx), 0, dev)),
                       ("cuMemAlloc_v2", (ctypes.byref(ptr), ctypes.c_size_t(size)))):
        rc = getattr(lib, call)(*args)
        if rc != 0:
            raise RuntimeError(f"{call} returned {rc}")
    return ptr

def allocate(size):
    errors = []
    for alloc in (torch_alloc, cudart_alloc, cuda_driver_alloc):
        try:
            return alloc(size), alloc.__name__
        except Exception as exc:
            errors.append(f"{alloc.__name__}: {exc}")
    raise RuntimeError("; ".join(errors))
"""

# The child that holds GPU memory: prints "OK <how>" or "FAIL <why>", then holds until its stdin closes.
HOLDER = (
    ALLOC
    + r"""
import sys
try:
    keep, how = allocate(int(sys.argv[1]))
except RuntimeError as exc:
    print("FAIL", exc, flush=True)
    sys.exit(3)
print("OK", how, flush=True)
sys.stdin.read()
"""
)


class Report:
    def __init__(self) -> None:
        self.failures: list[str] = []

    def check(self, ok: bool, what: str) -> bool:
        print(f"{'PASS' if ok else 'FAIL'}  {what}", flush=True)
        if not ok:
            self.failures.append(what)
        return ok


def start_holder(uuid: str, size: int, timeout: float = 180.0) -> tuple[subprocess.Popen[str], str]:
    """The child sees only the target GPU (by UUID), so CUDA's device order cannot pick another one."""
    env = {**os.environ, "CUDA_VISIBLE_DEVICES": uuid}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(size)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
    )
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    assert proc.stdout is not None
    line = proc.stdout.readline().strip() or f"FAIL the holder exited with {proc.wait()} (or took over {timeout:.0f} s)"
    timer.cancel()
    return proc, line


async def watch(monitor: GpuMonitor, seconds: float) -> list[tuple[GpuSample, ...]]:
    seen: list[tuple[GpuSample, ...]] = []
    task = asyncio.create_task(monitor.run(seen.append))
    await asyncio.sleep(seconds)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return seen


def nvidia_smi() -> list[list[str]] | str:
    exe = shutil.which("nvidia-smi")
    if exe is None:
        return "nvidia-smi is not on PATH"
    query = "--query-gpu=index,uuid,memory.used,memory.total,utilization.gpu"
    out = subprocess.run([exe, query, "--format=csv,noheader,nounits"], capture_output=True, text=True, timeout=60)
    if out.returncode != 0:
        return f"nvidia-smi failed: {out.stderr.strip() or out.stdout.strip()}"
    return [[field.strip() for field in line.split(",")] for line in out.stdout.strip().splitlines()]


def compare_with_smi(report: Report, nvml: Nvml) -> None:
    before = {s.index: s for s in nvml.sample()}
    rows = nvidia_smi()
    after = {s.index: s for s in nvml.sample()}
    if isinstance(rows, str):
        report.check(False, rows)
        return
    report.check(len(rows) == len(before), f"nvidia-smi lists {len(rows)} GPUs, NVML {len(before)}")
    for index_s, uuid, used_s, total_s, util_s in rows:
        index = int(index_s)
        ours = [s for s in (before.get(index), after.get(index)) if s is not None and not s.lost]
        if not report.check(bool(ours), f"GPU {index}: sampled and not lost"):
            continue
        report.check(ours[0].uuid == uuid, f"GPU {index}: uuid {ours[0].uuid} == {uuid}")
        total = ours[0].memory_total // MiB
        report.check(abs(total - int(total_s)) <= 1, f"GPU {index}: memory.total {total} MiB ~ {total_s} MiB")
        used = [(s.memory_used or 0) // MiB for s in ours]
        close = any(abs(u - int(used_s)) <= 64 for u in used)
        report.check(close, f"GPU {index}: memory.used {used} MiB ~ {used_s} MiB (within 64 MiB)")
        if util_s.isdigit():
            utils = [s.utilization for s in ours]
            near = any(u is not None and abs(u - int(util_s)) <= 20 for u in utils)
            report.check(near, f"GPU {index}: utilization {utils} % ~ {util_s} % (within 20 points)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--gpu", type=int, default=0, help="index of the GPU to hold memory on")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long to sample")
    parser.add_argument("--mib", type=int, default=1024, help="how much GPU memory the child holds")
    parser.add_argument("--image", help="a CUDA JupyterLab image: also check the kernel lines in a container")
    args = parser.parse_args()
    report = Report()
    nvml = Nvml()
    inventory = nvml.inventory()
    print(f"driver {inventory.driver_version}, CUDA {inventory.cuda_version}, note: {inventory.reason}")
    for gpu in inventory.gpus:
        print(f"  GPU {gpu.index}: {gpu.name}, {gpu.memory_total / MiB:.0f} MiB, {gpu.uuid}")
    if not report.check(bool(inventory.gpus), f"NVML sees a GPU ({inventory.reason or 'yes'})"):
        return 1
    target = next((gpu for gpu in inventory.gpus if gpu.index == args.gpu), None)
    if not report.check(target is not None, f"GPU {args.gpu} exists"):
        return 1
    assert target is not None
    check_sample_cost(report, nvml)
    check_cuda(report, inventory)
    size = args.mib * MiB
    holder, status = start_holder(target.uuid, size)
    print(f"holder pid {holder.pid}: {status}", flush=True)
    try:
        if report.check(status.startswith("OK"), f"a CUDA process could allocate {args.mib} MiB ({status})"):
            check_holder_seen(report, nvml, holder.pid, target.uuid, size, args.seconds)
            remote_reading_checks(report, nvml, holder.pid)
        compare_with_smi(report, nvml)
    finally:
        if holder.stdin is not None:
            holder.stdin.close()
        try:
            holder.wait(timeout=60)
        except subprocess.TimeoutExpired:
            holder.kill()
            holder.wait()
    if status.startswith("OK"):
        check_holder_gone(report, nvml, holder.pid)
    kernel_checks(report, nvml, target.uuid, ALLOC, size, CONTEXT_SLACK, args.image)
    nvml.close()
    print("gpu smoke:", "pass" if not report.failures else f"{len(report.failures)} failure(s)")
    return 1 if report.failures else 0


def check_sample_cost(report: Report, nvml: Nvml, runs: int = 200) -> None:
    nvml.sample()
    started = time.perf_counter()
    for _ in range(runs):
        nvml.sample()
    each = (time.perf_counter() - started) / runs * 1000
    report.check(each < 2.0, f"one sample of every GPU takes {each:.3f} ms (the dock's target: 2 ms)")


def check_cuda(report: Report, inventory: Inventory) -> None:
    """The driver's CUDA version reads, an image newer than it is warned about and one that fits is not."""
    have = driver_cuda(inventory.cuda_version)
    if not report.check(have is not None, f"the driver says which CUDA it supports ({inventory.cuda_version})"):
        return
    assert have is not None
    newer = image_cuda({"NVIDIA_REQUIRE_CUDA": f"cuda>={have[0]}.{have[1] + 1}"}, {}, "newer")
    fits = image_cuda({"CUDA_VERSION": f"{have[0]}.{have[1]}.0"}, {}, "fits")
    warning = cuda_warning(newer, inventory.cuda_version)
    report.check(warning is not None, f"an image for CUDA {have[0]}.{have[1] + 1} is warned about: {warning}")
    report.check(cuda_warning(fits, inventory.cuda_version) is None, f"an image for CUDA {have[0]}.{have[1]} is not")


def check_holder_seen(report: Report, nvml: Nvml, pid: int, uuid: str, size: int, seconds: float) -> None:
    monitor = GpuMonitor(nvml, interval=1.0)
    started = time.monotonic()
    rounds = asyncio.run(watch(monitor, seconds))
    elapsed = time.monotonic() - started
    report.check(len(rounds) >= int(seconds) - 1, f"{len(rounds)} samples in {elapsed:.1f} s at 1 Hz")
    report.check(not any(s.lost for r in rounds for s in r), "no GPU reported lost")
    history = [sample for samples in rounds for sample in samples if sample.uuid == uuid]
    seen = [p for s in history for p in s.processes if p.pid == pid]
    others = sorted({(p.pid, p.memory) for s in history for p in s.processes if p.pid != pid})
    hint = "" if seen else f"; NVML listed {others} (another pid namespace?)"
    if report.check(bool(seen), f"sampler saw pid {pid} on {uuid}{hint}"):
        memory = max(p.memory or 0 for p in seen)
        ok = size <= memory <= size + CONTEXT_SLACK
        report.check(ok, f"pid {pid} holds {memory / MiB:.0f} MiB (expected {size / MiB:.0f} + context)")
        shares = sorted({p.utilization for p in seen}, key=lambda u: -1 if u is None else u)
        print(f"pid {pid} GPU share per sample: {shares} (None: this GPU offers no per-process figures)")
    print(f"pid {pid} container (from /proc cgroup): {container_of(pid)}")


def check_holder_gone(report: Report, nvml: Nvml, pid: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        present = any(p.pid == pid for s in nvml.sample() for p in s.processes)
        if not present or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    report.check(not present, f"pid {pid} gone from the samples after it exited")


if __name__ == "__main__":
    sys.exit(main())
