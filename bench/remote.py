"""Remote Docker hosts over SSH, against real hosts: launch overhead, the tunnel's latency, 5 hosts x 20.

The hosts are made by tests/support/remote_host.py (network namespaces of the run's own, each with sshd and
a private dockerd on a bridge); `run()` starts this module inside that runner (`--inside OUT`) with HOSTS
hosts and reads back the JSON it writes. Inside, a Labdock home knows the hosts as ldremote, ldremote2, ...
through the user's ~/.ssh/config (as tests/test_remote_hosts.py does).

- Launch overhead: Labdock's create() on host 1 (bridge mode there; services built once, its SSH link already
  up) to READY, against the floor: the same container config created, started and inspected through the
  docker SDK over the same SSH host (`ssh://ldremote`, paramiko), then a 10 ms loop on /api/status through an
  SSH port forward of its own (asyncssh, connected before timing). Runs are interleaved; a ratio per pair.
- Tunnel latency: GET api/status with the token (a fresh connection per call, as Labdock's own probes make
  it), through Labdock's tunnel, against the same loop run on the host itself (in its network namespace,
  against the port the container is published on there); both loops run in a process of their own.
- 5 hosts x 20 notebooks: real JupyterLab containers launched through Labdock in batches; then the wall time
  of manager.refresh() in a fresh process's services, of each host's CPU and memory reading (one SSH command
  for its 20 notebooks), and the window's event-loop stalls (bench/ui_probe.py
  `hosts`) while it adopts the 100 rows and then refreshes them every 3 s.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import asyncssh
import docker

from bench.common import Bench, Figure, median, percentile, standalone
from desktop.core.models import NotebookSpec, NotebookState
from desktop.engines import profiles
from desktop.engines.container_spec import CONTAINER_PORT, published_port
from desktop.engines.readiness import http_status
from desktop.engines.remote_engine import RemoteDockerEngine
from desktop.manager import NotebookManager
from desktop.remote_gpus import over_ssh
from desktop.rows import NotebookEvent
from desktop.services import build_services
from desktop.ui.remote_usage import HostUsage
from desktop.ui.resource_usage import UsageSampler
from tests.support import remote_host
from tests.support.images import PLAIN_IMAGE

ROOT = Path(__file__).resolve().parent.parent
HOSTS = 5
PER_HOST = 20
RUNS = 8  # launch pairs
BATCH = 10  # notebooks launched at once (two per host)
CALLS = 100  # REST calls per timing loop; each side's loop runs ROUNDS times, interleaved
ROUNDS = 3
REFRESHES = 20
USAGE_READS = 10
WATCH_S = 30
RUN_TIMEOUT_S = 1800
MEMORY_CAP = 0.8  # stop launching before the machine's RAM is this full
# sshd allows 10 sessions per connection by default (MaxSessions), and each Docker API connection Labdock
# keeps open to a host is one. The hosts here allow more, so that the figures can be measured while
# Labdock holds more than that ("Docker SSH sessions per host" says how many it held).
MAX_SESSIONS = 64

# The timing loop, run as its own process here (through the tunnel) and on the host (nsenter): the same
# client code both ways. The token comes by environment, never on a command line.
CALL_LOOP = """
import asyncio, json, os, sys, time
from desktop.engines.readiness import http_status

async def main(url, calls):
    token, times = os.environ["LABDOCK_BENCH_TOKEN"], []
    for _ in range(calls):
        began = time.perf_counter()
        status = await http_status(url, "api/status", token)
        times.append((time.perf_counter() - began) * 1000)
        if status != 200:
            raise SystemExit(f"GET api/status answered {status}")
    print(json.dumps(times))

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


# -- outside: run it all beside the hosts, read the figures back ------------------------------------


def run(bench: Bench) -> list[Figure]:
    missing = remote_host.missing()
    if missing is not None:
        return [Figure("remote suite", "not run", "runs", False, missing)]
    with tempfile.TemporaryDirectory(prefix="labdock-bench-remote-") as tmp:
        out = Path(tmp) / "figures.json"
        command = [sys.executable, "-m", "bench.remote", "--inside", str(out), "--image", bench.image]
        result = remote_host.run_with_remote_host(
            command, bench.url, ROOT, RUN_TIMEOUT_S, hosts=HOSTS, max_sessions=MAX_SESSIONS
        )
        if result.returncode != 0 or not out.exists():
            raise RuntimeError(f"the remote benchmark failed (exit {result.returncode}):\n{result.output[-4000:]}")
        data = json.loads(out.read_text())
    for line in result.output.splitlines():
        if line.startswith(("[bench.remote]", "[remote] ")) and ("ready in" in line or "torn down" in line):
            print(f"  {line}", flush=True)
    left = [Figure("remote: processes left behind", f"{len(result.leftovers)}", "0", False)] if result.leftovers else []
    return figures(data) + left


def figures(data: dict[str, Any]) -> list[Figure]:
    launch, latency, many, window = data["launch"], data["latency"], data["many"], data["window"]
    ratio, p95 = launch["ratio_median"], launch["ratio_p95"]
    added = latency["added_ms"]
    refresh, refresh_p95 = many["refresh_median_ms"], many["refresh_p95_ms"]
    table = f"{HOSTS} hosts x {PER_HOST} notebooks"
    return [
        Figure(
            "remote launch overhead",
            f"{ratio:.2f}x",
            "1.10x",
            ratio <= 1.10,
            f"{launch['runs']} interleaved runs on one SSH host, bridge mode there; floor median "
            f"{launch['floor_median_s']:.3f} s (docker SDK over ssh:// + own asyncssh forward), ours "
            f"{launch['ours_median_s']:.3f} s, median added {launch['added_median_ms']:+.0f} ms",
        ),
        Figure("remote launch overhead p95", f"{p95:.2f}x", "1.20x", p95 <= 1.20),
        Figure(
            "tunnel added latency",
            f"{added:+.1f} ms",
            "5 ms",
            added <= 5,
            f"GET api/status with the token, a new connection per call: through the tunnel median "
            f"{latency['tunnel_median_ms']:.2f} ms (p95 {latency['tunnel_p95_ms']:.2f}), on the host itself "
            f"{latency['host_median_ms']:.2f} ms (p95 {latency['host_p95_ms']:.2f}); {latency['calls']} calls each",
        ),
        Figure(
            f"{table}: refresh",
            f"{refresh:.0f} ms",
            "300 ms",
            refresh <= 300,
            f"manager.refresh() wall time, median of {many['refreshes']}; the first (connects, adopts "
            f"{many['notebooks']}, opens their tunnels) {many['first_refresh_ms']:.0f} ms",
        ),
        Figure(f"{table}: refresh p95", f"{refresh_p95:.0f} ms", "1000 ms", refresh_p95 <= 1000),
        Figure(
            f"{table}: window stalls p99",
            f"{window['p99']:.1f} ms",
            "16 ms",
            window["p99"] <= 16,
            f"{window['ticks']} ticks of a 5 ms timer over {window['watch_s']:.0f} s of 3 s refreshes "
            f"(in-window refresh median {window['refresh_median_ms']:.0f} ms)",
        ),
        Figure(
            f"{table}: window stall max",
            f"{window['max']:.1f} ms",
            "50 ms",
            window["max"] <= 50,
            f"opening the window until all {window['rows']} rows were READY took {window['open_s']:.1f} s, "
            f"stalls then p99 {window['open_p99']:.1f} ms, max {window['open_max']:.1f} ms",
        ),
        Figure(
            f"{table}: Docker SSH sessions per host",
            f"{many['sessions_max']}",
            "10",
            many["sessions_max"] <= 10,
            f"`docker system dial-stdio` sessions held open by Labdock on each host after its {PER_HOST} launches "
            f"there (most of the {HOSTS} hosts; {many['sessions_mib']:.0f} MiB of those processes on it); sshd "
            f"allows 10 per connection by default (MaxSessions), the bench's hosts {MAX_SESSIONS}",
        ),
        Figure(
            f"{table}: CPU and memory reading per host",
            f"{many['usage_read_median_ms']:.0f} ms",
            "400 ms",
            many["usage_read_median_ms"] <= 400,
            f"one shell command over SSH reads a host's {PER_HOST} notebooks' cgroup files (the window does it "
            f"every 4 s per host, never waited for); median of {USAGE_READS} per host, p95 "
            f"{many['usage_read_p95_ms']:.0f} ms; {many['usage_read_fewest']} of {PER_HOST} with CPU % and memory on "
            "the least complete host",
        ),
        Figure(
            f"{table}: memory",
            f"{many['memory_gib']:.1f} GiB",
            "-",
            None,
            f"MemAvailable drop with {many['notebooks']} JupyterLabs running; their containers' own memory "
            f"(as docker stats) {many['containers_gib']:.1f} GiB; launched {BATCH} at a time in "
            f"{many['launch_s']:.0f} s",
        ),
    ]


# -- inside: beside the hosts ------------------------------------------------------------------------


def log(message: str) -> None:
    print(f"[bench.remote] {message}", flush=True)


def mem_available() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemAvailable:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no MemAvailable in /proc/meminfo")


def mem_total() -> int:
    return int(Path("/proc/meminfo").read_text().split()[1]) * 1024


def write_settings(home: Path, hosts: list[remote_host.RemoteHost], image: str) -> None:
    (home / "config").mkdir(parents=True, exist_ok=True)
    (home / "config" / "settings.json").write_text(
        json.dumps(
            {
                "network_mode": "host",  # this machine's notebooks (none here); the remote ones are bridged
                "pull_missing": False,
                "container_prefix": "ldbench-",
                "default_image": image,
                "default_gpu_image": image,
                "keep_spare": False,  # spares are this machine's engine's, whose loopback this namespace lacks
                "ready_timeout": 300,
                "remote_hosts": [host.alias for host in hosts],
            }
        )
    )


@contextlib.contextmanager
def labdock_home(hosts: list[remote_host.RemoteHost], image: str) -> Iterator[Path]:
    """A Labdock home knowing the hosts, and a user home whose ~/.ssh/config has their entries."""
    with tempfile.TemporaryDirectory(prefix="labdock-bench-remote-") as tmp:
        home, user = Path(tmp) / "labdock", Path(tmp) / "user"
        remote_host.install_ssh_configs(hosts, user)
        write_settings(home, hosts, image)
        os.environ.update(HOME=str(user), LABDOCK_HOME=str(home))
        yield Path(tmp)


async def timed_calls(url: str, token: str, calls: int, namespace: str | None = None) -> list[float]:
    """CALL_LOOP in a process of its own: here, or in `namespace` (the host's) with nsenter."""
    command = [sys.executable, "-c", CALL_LOOP, url, str(calls)]
    if namespace is not None:
        command = ["nsenter", f"--net={namespace}", *command]
    env = dict(os.environ, LABDOCK_BENCH_TOKEN=token, PYTHONPATH=str(ROOT))
    process = await asyncio.create_subprocess_exec(
        *command, cwd=ROOT, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        raise RuntimeError(f"the timing loop failed: {err.decode(errors='replace')[-2000:]}")
    return [float(value) for value in json.loads(out)]


class Floor:
    """The same container through the docker SDK over ssh://HOST, reached through an SSH forward of its own."""

    def __init__(self, alias: str, engine: RemoteDockerEngine, image: str, work: Path) -> None:
        self.alias, self.engine, self.image, self.work = alias, engine, image, work
        self.client: docker.DockerClient | None = None
        self.conn: asyncssh.SSHClientConnection | None = None

    async def open(self) -> None:
        # The SDK puts port 22 into a URL without one, over the ssh config's Port: name the port.
        url = f"ssh://{self.alias}:{remote_host.SSH_PORT}"
        self.client = await asyncio.to_thread(docker.DockerClient, base_url=url, timeout=120)
        self.conn = await asyncssh.connect(self.alias)  # ~/.ssh/config: HostName, Port, key, known_hosts
        self.work.mkdir(exist_ok=True)
        os.chown(self.work, 1000, 1000)  # the notebook's user there (the SSH user is root)

    async def launch(self, index: int) -> float:
        assert self.client is not None and self.conn is not None
        client = self.client
        spec = NotebookSpec(f"floor-{index}", self.image, work_dir=self.work)  # bridge mode
        token = secrets.token_urlsafe(32)
        profile = profiles.get(profiles.PLAIN)
        kwargs = self.engine.container_config(spec, token, profile, {"User": "1000"}, CONTAINER_PORT)
        began = time.perf_counter()
        container = await asyncio.to_thread(client.containers.create, **kwargs)
        await asyncio.to_thread(container.start)
        port = published_port(await asyncio.to_thread(client.api.inspect_container, container.id))
        assert port is not None
        listener = await self.conn.forward_local_port("127.0.0.1", 0, "127.0.0.1", port)
        url = f"http://127.0.0.1:{listener.get_port()}/"
        while await http_status(url, "api/status", token) != 200:
            await asyncio.sleep(0.010)
        elapsed = time.perf_counter() - began
        listener.close()
        await asyncio.to_thread(container.remove, force=True)
        return elapsed

    async def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            await self.conn.wait_closed()
        if self.client is not None:
            await asyncio.to_thread(self.client.close)


async def our_launch(manager: NotebookManager, host: str, image: str, name: str) -> float:
    ready_at: list[float] = []

    def on_event(event: NotebookEvent) -> None:
        if event.notebook.name == name and event.notebook.state is NotebookState.READY:
            ready_at.append(time.perf_counter())

    unsubscribe = manager.subscribe(on_event)
    began = time.perf_counter()
    notebook = await manager.create(NotebookSpec(name, image, engine=host))
    unsubscribe()
    assert notebook.state is NotebookState.READY, notebook.error
    elapsed = ready_at[0] - began
    await manager.remove(name, delete_work=True)
    return elapsed


async def measure_launch(
    host: remote_host.RemoteHost, image: str, scratch: Path
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(launch overhead, tunnel latency) on one host."""
    services = build_services()
    manager, engine = services.manager, services.remotes[host.alias]
    await engine.describe()  # connected before timing (and Docker asked once), as a window showing the host
    floor = Floor(host.alias, engine, image, scratch / "floor")
    await floor.open()
    await floor.launch(-1)  # warm both paths once, not measured
    await our_launch(manager, host.alias, image, "warm")
    floors, ours = [], []
    for i in range(RUNS):
        if i % 2:  # alternate which goes first, so neither always follows the other's teardown
            ours.append(await our_launch(manager, host.alias, image, f"ours-{i}"))
            floors.append(await floor.launch(i))
        else:
            floors.append(await floor.launch(i))
            ours.append(await our_launch(manager, host.alias, image, f"ours-{i}"))
        log(f"launch pair {i}: floor {floors[-1]:.3f} s, ours {ours[-1]:.3f} s")
    ratios = [o / f for o, f in zip(ours, floors, strict=True)]
    result: dict[str, Any] = {
        "runs": RUNS,
        "floor_s": floors,
        "ours_s": ours,
        "ratio_median": median(ratios),
        "ratio_p95": percentile(ratios, 95),
        "floor_median_s": median(floors),
        "ours_median_s": median(ours),
        "added_median_ms": median([(o - f) * 1000 for o, f in zip(ours, floors, strict=True)]),
    }
    latency = await measure_latency(manager, host, image)
    await floor.close()
    await manager.close()
    return result, latency


async def measure_latency(manager: NotebookManager, host: remote_host.RemoteHost, image: str) -> dict[str, Any]:
    notebook = await manager.create(NotebookSpec("latency", image, engine=host.alias))
    assert notebook.state is NotebookState.READY and notebook.url and notebook.token, notebook.error
    with contextlib.closing(host.docker()) as client:
        port = published_port(client.api.inspect_container(notebook.container_id))
    on_host = f"http://127.0.0.1:{port}/"
    tunnel: list[float] = []
    direct: list[float] = []
    for _ in range(ROUNDS):
        tunnel += (await timed_calls(notebook.url, notebook.token, CALLS + 5))[5:]  # the first calls warm up
        direct += (await timed_calls(on_host, notebook.token, CALLS + 5, host.netns))[5:]
    await manager.remove("latency", delete_work=True)
    return {
        "calls": len(tunnel),
        "tunnel_median_ms": median(tunnel),
        "tunnel_p95_ms": percentile(tunnel, 95),
        "host_median_ms": median(direct),
        "host_p95_ms": percentile(direct, 95),
        "added_ms": median(tunnel) - median(direct),
    }


def docker_sessions(host: remote_host.RemoteHost) -> tuple[int, int]:
    """(how many, their RSS in bytes): the `docker system dial-stdio` commands under the host's SSH
    connections, one per Docker API connection held open."""
    count = rss = 0
    for pid in host.session_processes():
        with contextlib.suppress(OSError, ValueError, IndexError):
            if b"dial-stdio" in Path(f"/proc/{pid}/cmdline").read_bytes():
                count += 1
                rss += int(Path(f"/proc/{pid}/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    return count, rss


def containers_memory(ids: list[str]) -> int:
    """What docker stats would show for these containers (read from their cgroups: the hosts share this
    machine's kernel), summed."""
    usage = UsageSampler().sample({cid: cid for cid in ids}, {})
    return sum(u.memory or 0 for u in usage.values())


async def measure_many(hosts: list[remote_host.RemoteHost], image: str) -> dict[str, Any]:
    available_before = mem_available()
    services = build_services()
    manager = services.manager
    wanted = [(f"nb-{h}-{i:02d}", host.alias) for i in range(PER_HOST) for h, host in enumerate(hosts, 1)]
    began = time.perf_counter()
    for start in range(0, len(wanted), BATCH):
        used = 1 - mem_available() / mem_total()
        if used > MEMORY_CAP:
            raise RuntimeError(f"the machine's memory is {used:.0%} used after {start} notebooks: not launching more")
        batch = wanted[start : start + BATCH]
        made = await asyncio.gather(*(manager.create(NotebookSpec(n, image, engine=h)) for n, h in batch))
        failed = [(n.name, n.error) for n in made if n.state is not NotebookState.READY]
        if failed:
            raise RuntimeError(f"launches failed: {failed}")
        log(f"{start + len(batch)} notebooks READY after {time.perf_counter() - began:.0f} s")
    launch_s = time.perf_counter() - began
    ids = [n.container_id for n in manager.list() if n.container_id]
    sessions = [docker_sessions(host) for host in hosts]  # the only SSH connections open now are this manager's
    busiest = max(sessions)
    await manager.close()

    services = build_services()  # a fresh process's view: it connects, adopts and tunnels all of them
    manager = services.manager
    began = time.perf_counter()
    assert await manager.refresh()
    first = (time.perf_counter() - began) * 1000
    ready = [n for n in manager.list() if n.state is NotebookState.READY]
    assert len(ready) == len(wanted), f"{len(ready)} of {len(wanted)} adopted READY"
    times = []
    for _ in range(REFRESHES):
        await asyncio.sleep(0.5)
        began = time.perf_counter()
        assert await manager.refresh()
        times.append((time.perf_counter() - began) * 1000)
    usage = await measure_usage_reads(manager, hosts)
    await manager.close()
    await asyncio.sleep(5)  # let the servers settle after their start before memory is read
    memory_gib = (available_before - mem_available()) / 2**30
    return {
        "notebooks": len(wanted),
        "launch_s": launch_s,
        "sessions": [count for count, _ in sessions],
        "sessions_max": busiest[0],
        "sessions_mib": busiest[1] / 2**20,
        "first_refresh_ms": first,
        "refreshes": REFRESHES,
        "refresh_ms": times,
        "refresh_median_ms": median(times),
        "refresh_p95_ms": percentile(times, 95),
        "memory_gib": memory_gib,
        "containers_gib": containers_memory(ids) / 2**30,
        **usage,
    }


async def measure_usage_reads(manager: NotebookManager, hosts: list[remote_host.RemoteHost]) -> dict[str, Any]:
    """The window's CPU and memory reading of each host (desktop.ui.remote_usage), USAGE_READS times each."""
    times, complete = [], []
    for host in hosts:
        engine = manager.engines[host.alias]
        assert isinstance(engine, RemoteDockerEngine)
        servers = {n.container_id: n.name for n in manager.list() if n.engine == host.alias and n.container_id}
        reader = HostUsage(over_ssh(engine.link))
        for _ in range(USAGE_READS):
            began = time.perf_counter()
            usage = await reader.read(servers)
            times.append((time.perf_counter() - began) * 1000)
            await asyncio.sleep(0.2)
        complete.append(sum(1 for u in usage.values() if u.cpu_percent is not None and u.memory))
    return {
        "usage_read_median_ms": median(times),
        "usage_read_p95_ms": percentile(times, 95),
        "usage_read_fewest": min(complete),
    }


def measure_window(rows: int, image: str) -> dict[str, Any]:
    from bench.ui import probe

    with contextlib.closing(docker.DockerClient(base_url=os.environ["DOCKER_HOST"])) as client:
        bench = Bench(client, os.environ["DOCKER_HOST"], Path(os.environ["LABDOCK_HOME"]), image)
        window = probe(bench, "hosts", LABDOCK_BENCH_ROWS=str(rows), LABDOCK_BENCH_WATCH_S=str(WATCH_S))
    window["refresh_median_ms"] = statistics.median(window.pop("refresh_ms") or [0.0])
    return window


async def inside(out: Path, image: str) -> None:
    hosts = remote_host.RemoteHost.all_from_env()
    assert len(hosts) >= 1, "not beside remote hosts (run through run() or scripts/bench remote)"
    with labdock_home(hosts, image) as scratch:
        launch, latency = await measure_launch(hosts[0], image, scratch)
        log(f"launch and latency measured: {launch['ratio_median']:.2f}x, +{latency['added_ms']:.1f} ms")
        many = await measure_many(hosts, image)
        log(f"refresh with {many['notebooks']} notebooks: median {many['refresh_median_ms']:.0f} ms")
        window = await asyncio.to_thread(measure_window, many["notebooks"], image)
    figures = {"launch": launch, "latency": latency, "many": many, "window": window}
    await asyncio.to_thread(out.write_text, json.dumps(figures, indent=2))


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.remote")
    parser.add_argument("--inside", type=Path, help="(the runner's command) measure, and write the figures here")
    parser.add_argument("--image", default=PLAIN_IMAGE)
    args = parser.parse_args()
    if args.inside is None:
        standalone(run)
        return
    asyncio.run(inside(args.inside, args.image))


if __name__ == "__main__":
    main()
