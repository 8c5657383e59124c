"""NVIDIA GPUs through NVML: inventory, live samples, GPU choices and which notebook uses which GPU.

Qt-free and docker-free on purpose: it must run on a bare GPU machine with only nvidia-ml-py (`pynvml`).
A machine without the library, driver or GPU gets an empty inventory with a one-line reason, never an
exception; a GPU that falls off the bus is reported in its sample (`lost=True`), never fatal.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import inspect
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from desktop.core.errors import InvalidSpec
from desktop.core.models import ALL_GPUS

OTHER = "other"
"""The user name for GPU processes that belong to no notebook (the desktop, another user's job...)."""


@dataclass(frozen=True)
class GpuInfo:
    index: int
    uuid: str
    name: str
    memory_total: int  # bytes


@dataclass(frozen=True)
class Inventory:
    """The GPUs NVML sees. `reason` says why there are none, or which ones could not be read."""

    gpus: tuple[GpuInfo, ...] = ()
    driver_version: str | None = None
    cuda_version: str | None = None  # e.g. "12.4": the newest CUDA the driver supports
    reason: str | None = None


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    memory: int | None  # bytes; None where NVML cannot tell (e.g. no permission)
    utilization: int | None = None  # its share of the GPU's time (SM %) since the last sample; None: not offered


@dataclass(frozen=True)
class GpuSample:
    """One GPU at one moment. Fields NVML cannot give on this GPU are None; a lost GPU has only its ids."""

    index: int
    uuid: str
    at: float  # time.monotonic()
    memory_total: int
    memory_used: int | None = None
    utilization: int | None = None  # percent of time a kernel ran
    temperature: int | None = None  # degrees C
    power: float | None = None  # watts
    processes: tuple[GpuProcess, ...] = ()
    lost: bool = False
    reason: str | None = None


def _text(value: str | bytes) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else value


def _load_pynvml() -> ModuleType:
    """Imported late so that a missing nvidia-ml-py is a reason in the inventory, not an import error."""
    import pynvml

    module: ModuleType = pynvml
    return module


class Nvml:
    """One NVML session: initialised once on first use, shut down by close() or at interpreter exit.

    Thread-safe, so samples can run in a worker thread (asyncio.to_thread) while the UI reads the inventory.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._nv: Any = None
        self._handles: list[tuple[GpuInfo, Any]] = []
        self._inventory: Inventory | None = None
        self._memory_version: int | None = None
        self._util_seen: dict[str, int] = {}  # per GPU: the newest per-process sample read, in µs

    def inventory(self) -> Inventory:
        with self._lock:
            if self._inventory is None:
                self._inventory = self._open()
            return self._inventory

    def _open(self) -> Inventory:
        try:
            nv = _load_pynvml()
        except ImportError:
            return Inventory(reason="nvidia-ml-py (pynvml) is not installed")
        try:
            nv.nvmlInit()
        except nv.NVMLError_LibraryNotFound:
            return Inventory(reason="the NVIDIA driver is not installed (libnvidia-ml.so.1 not found)")
        except nv.NVMLError_DriverNotLoaded:
            return Inventory(reason="the NVIDIA driver is not loaded")
        except nv.NVMLError as exc:
            return Inventory(reason=f"NVML could not start: {exc}")
        self._nv = nv
        atexit.register(self.close)
        try:
            return self._enumerate(nv)
        except nv.NVMLError as exc:
            return Inventory(reason=f"NVML could not list GPUs: {exc}")

    def _enumerate(self, nv: Any) -> Inventory:
        driver = _text(nv.nvmlSystemGetDriverVersion())
        try:
            cuda_int = int(nv.nvmlSystemGetCudaDriverVersion())
            cuda: str | None = f"{cuda_int // 1000}.{cuda_int % 1000 // 10}"
        except nv.NVMLError:
            cuda = None
        problems = []
        for index in range(int(nv.nvmlDeviceGetCount())):
            try:
                handle = nv.nvmlDeviceGetHandleByIndex(index)
                info = GpuInfo(
                    index=index,
                    uuid=_text(nv.nvmlDeviceGetUUID(handle)),
                    name=_text(nv.nvmlDeviceGetName(handle)),
                    memory_total=int(self._memory(nv, handle).total),
                )
            except nv.NVMLError as exc:
                problems.append(f"GPU {index}: {exc}")
                continue
            self._handles.append((info, handle))
        reason = "; ".join(problems) or (None if self._handles else "no NVIDIA GPU found")
        gpus = tuple(info for info, _ in self._handles)
        return Inventory(gpus=gpus, driver_version=driver, cuda_version=cuda, reason=reason)

    def _memory(self, nv: Any, handle: Any) -> Any:
        """Memory info as nvidia-smi shows it (v2: `used` excludes driver-reserved memory) where supported."""
        if self._memory_version is None:
            try:
                mem = nv.nvmlDeviceGetMemoryInfo(handle, version=nv.nvmlMemory_v2)
                self._memory_version = nv.nvmlMemory_v2
                return mem
            except (
                AttributeError,  # an nvidia-ml-py older than the v2 call
                nv.NVMLError_FunctionNotFound,
                nv.NVMLError_ArgumentVersionMismatch,
                nv.NVMLError_NotSupported,
            ):
                self._memory_version = 0
        if self._memory_version:
            return nv.nvmlDeviceGetMemoryInfo(handle, version=self._memory_version)
        return nv.nvmlDeviceGetMemoryInfo(handle)

    def sample(self) -> tuple[GpuSample, ...]:
        """Every GPU of the inventory now, in index order; empty when there is no GPU or after close()."""
        self.inventory()
        with self._lock:
            if self._nv is None:
                return ()
            now = time.monotonic()
            return tuple(self._sample_one(self._nv, info, handle, now) for info, handle in self._handles)

    def _sample_one(self, nv: Any, info: GpuInfo, handle: Any, now: float) -> GpuSample:
        def optional(call: Callable[..., Any], *args: Any) -> Any:
            """Values a GPU may not offer (consumer boards, vGPU, no permission) become None, not a loss."""
            try:
                return call(handle, *args)
            except (nv.NVMLError_NotSupported, nv.NVMLError_NoPermission, nv.NVMLError_NoData):
                return None

        try:
            mem = self._memory(nv, handle)
            util = optional(nv.nvmlDeviceGetUtilizationRates)
            temp = optional(nv.nvmlDeviceGetTemperature, nv.NVML_TEMPERATURE_GPU)
            power_mw = optional(nv.nvmlDeviceGetPowerUsage)
            procs = optional(nv.nvmlDeviceGetComputeRunningProcesses) or ()
        except nv.NVMLError as exc:
            return GpuSample(info.index, info.uuid, now, info.memory_total, lost=True, reason=str(exc))
        return GpuSample(
            index=info.index,
            uuid=info.uuid,
            at=now,
            memory_total=int(mem.total),
            memory_used=int(mem.used),
            utilization=None if util is None else int(util.gpu),
            temperature=None if temp is None else int(temp),
            power=None if power_mw is None else power_mw / 1000.0,
            processes=self._processes(nv, info.uuid, handle, procs),
        )

    def _processes(self, nv: Any, uuid: str, handle: Any, procs: Iterable[Any]) -> tuple[GpuProcess, ...]:
        shares = self._process_utilization(nv, uuid, handle) if procs else None
        return tuple(
            GpuProcess(
                int(p.pid), _bytes_or_none(p.usedGpuMemory), None if shares is None else shares.get(int(p.pid), 0)
            )
            for p in procs
        )

    def _process_utilization(self, nv: Any, uuid: str, handle: Any) -> dict[int, int] | None:
        """Mean SM utilisation per process over the samples the driver took since the last call; a process
        without samples was idle. None where the GPU does not offer it (an optional figure: never a loss)."""
        try:
            rows = nv.nvmlDeviceGetProcessUtilization(handle, self._util_seen.get(uuid, 0))
        except nv.NVMLError_NotFound:
            return {}  # no sample since the last call: nothing ran
        except (nv.NVMLError, AttributeError):  # unsupported, or an nvidia-ml-py without the call
            return None
        sums: dict[int, tuple[int, int]] = {}
        for row in rows:
            total, count = sums.get(int(row.pid), (0, 0))
            sums[int(row.pid)] = (total + min(max(int(row.smUtil), 0), 100), count + 1)
            self._util_seen[uuid] = max(self._util_seen.get(uuid, 0), int(row.timeStamp))
        return {pid: round(total / count) for pid, (total, count) in sums.items()}

    def close(self) -> None:
        """Shut NVML down once; safe to call twice, from atexit, or when it never started."""
        atexit.unregister(self.close)
        with self._lock:
            nv, self._nv = self._nv, None
            self._handles = []
            if nv is not None:
                with contextlib.suppress(nv.NVMLError):
                    nv.nvmlShutdown()


def _bytes_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


# --- the user's GPU choice ---------------------------------------------------------------------------


def resolve_gpus(choice: tuple[str, ...], inventory: Inventory) -> tuple[str, ...]:
    """The UUIDs a GPU choice means here: () CPU, ("all",) every GPU, else indices or UUIDs ("0,2" works).

    UUIDs are stable across reboots and driver reorderings, indices are not; so the engine gets UUIDs.
    Raises InvalidSpec naming the ids that do not exist on this machine.
    """
    items = [part.strip() for item in choice for part in item.split(",")]
    if not items:
        return ()
    if "" in items:
        raise InvalidSpec(f"empty GPU id in {','.join(choice)!r}; use GPU indices or UUIDs separated by commas")
    if not inventory.gpus:
        raise InvalidSpec(f"no GPU to give the notebook: {inventory.reason or 'no NVIDIA GPU found'}")
    if any(item.lower() == ALL_GPUS[0] for item in items):
        if len(items) > 1:
            raise InvalidSpec("'all' cannot be combined with specific GPUs")
        return tuple(gpu.uuid for gpu in inventory.gpus)
    by_index = {str(gpu.index): gpu.uuid for gpu in inventory.gpus}
    by_uuid = {gpu.uuid.lower(): gpu.uuid for gpu in inventory.gpus}
    found: list[str] = []
    missing: list[str] = []
    for item in items:
        uuid = by_index.get(item) or by_uuid.get(item.lower())
        if uuid is None:
            missing.append(item)
        elif uuid not in found:
            found.append(uuid)
    if missing:
        have = ", ".join(str(gpu.index) for gpu in inventory.gpus)
        raise InvalidSpec(f"no GPU {', '.join(missing)} on this machine (it has GPU {have}, or use 'all')")
    return tuple(found)


# --- which notebook uses which GPU -------------------------------------------------------------------

_CONTAINER_ID = re.compile(r"(?<![0-9a-f])[0-9a-f]{64}(?![0-9a-f])")


def container_of(pid: int, proc_root: Path = Path("/proc")) -> str | None:
    """The container a process runs in, from its cgroup path; None for a host process or a gone pid.

    Covers cgroup v1 (`4:memory:/docker/<id>`), v2 with systemd (`0::/system.slice/docker-<id>.scope`),
    v2 with cgroupfs (`0::/docker/<id>`) and containerd/CRI-O/kubepods slices: each ends in a 64-hex id.
    The first id wins, so docker-in-docker maps to the outer container, the one this host's engine knows.
    """
    try:
        text = (proc_root / str(pid) / "cgroup").read_text()
    except OSError:
        return None
    return container_in_cgroup(text)


def container_in_cgroup(text: str) -> str | None:
    """The container id in a process's cgroup text (container_of's rule), None for a host process.

    Pure, so a cgroup read elsewhere (a remote host's /proc, through desktop.remote_gpus) maps the same way.
    """
    match = _CONTAINER_ID.search(text)
    return match.group(0) if match else None


@dataclass(frozen=True)
class GpuUser:
    name: str  # notebook name, or OTHER
    memory: int  # bytes, unknown amounts counted as 0
    pids: tuple[int, ...]


@dataclass(frozen=True)
class GpuUsage:
    """Per notebook: GPU memory over all GPUs. Per GPU (by UUID): its users, biggest first."""

    per_notebook: dict[str, int] = field(default_factory=dict)
    per_gpu: dict[str, tuple[GpuUser, ...]] = field(default_factory=dict)


def attribute(
    samples: Iterable[GpuSample],
    notebooks: Mapping[str, str],
    proc_root: Path = Path("/proc"),
) -> GpuUsage:
    """Credit each GPU process to the notebook whose container runs it (container id -> notebook name).

    Short ids (12 hex) in `notebooks` match too. Processes in no known container count as OTHER.
    """
    owners: dict[int, str] = {}

    def owner(pid: int) -> str:
        if pid not in owners:
            cid = container_of(pid, proc_root)
            owners[pid] = _notebook_of(cid, notebooks) if cid else OTHER
        return owners[pid]

    per_notebook: dict[str, int] = {}
    per_gpu: dict[str, tuple[GpuUser, ...]] = {}
    for sample in samples:
        users: dict[str, tuple[int, list[int]]] = {}
        for proc in sample.processes:
            name = owner(proc.pid)
            memory, pids = users.get(name, (0, []))
            users[name] = (memory + (proc.memory or 0), [*pids, proc.pid])
            per_notebook[name] = per_notebook.get(name, 0) + (proc.memory or 0)
        ranked = sorted(users.items(), key=lambda kv: (kv[0] == OTHER, -kv[1][0], kv[0]))
        per_gpu[sample.uuid] = tuple(GpuUser(name, mem, tuple(pids)) for name, (mem, pids) in ranked)
    return GpuUsage(per_notebook, per_gpu)


def _notebook_of(container_id: str, notebooks: Mapping[str, str]) -> str:
    name = notebooks.get(container_id)
    if name is not None:
        return name
    for cid, nb in notebooks.items():
        if len(cid) >= 12 and container_id.startswith(cid):
            return nb
    return OTHER


# --- the live loop -----------------------------------------------------------------------------------

SampleCallback = Callable[[tuple[GpuSample, ...]], object]


class GpuMonitor:
    """Samples NVML off the event loop at a fixed rate and hands each round to a callback.

    NVML calls block for a few ms (more on a sick GPU), so each sample runs in asyncio.to_thread and the
    Qt/asyncio loop stays responsive. The callback may be sync or async. No samples are kept here: the GPU
    panel keeps the two figures per GPU its charts draw (300 full samples of 8 busy GPUs were ~3 MiB).
    """

    def __init__(self, nvml: Nvml | None = None, interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError("interval must be positive")
        self.nvml = nvml or Nvml()
        self.interval = interval

    async def inventory(self) -> Inventory:
        return await asyncio.to_thread(self.nvml.inventory)

    async def sample_once(self) -> tuple[GpuSample, ...]:
        return await asyncio.to_thread(self.nvml.sample)

    async def run(self, callback: SampleCallback) -> None:
        """Sample and call back until cancelled; with no GPU, call back once with () and return."""
        if not (await self.inventory()).gpus:
            await _call(callback, ())
            return
        loop = asyncio.get_running_loop()
        next_at = loop.time()
        while True:
            await _call(callback, await self.sample_once())
            next_at = max(next_at + self.interval, loop.time())
            await asyncio.sleep(next_at - loop.time())


async def _call(callback: SampleCallback, samples: tuple[GpuSample, ...]) -> None:
    result = callback(samples)
    if inspect.isawaitable(result):
        await result
