"""CPU and memory of the notebooks on a remote host: the cgroup counters desktop.ui.resource_usage reads here,
read there by one shell command over the host's SSH connection (nothing is installed on the host).

Qt-free. The command finds each container's cgroup folder where Docker puts it (cgroup v2
`system.slice/docker-<id>.scope` or `docker/<id>`, v1 `<controller>/docker/<id>`), else through
/proc/<pid>/cgroup of one of its processes, and prints the host's uptime beside the counters, so CPU % is
measured on the host's own clock (an SSH round trip's jitter does not count).
"""

from __future__ import annotations

import shlex
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from desktop.core.errors import LabdockError
from desktop.remote_gpus import RemoteCommand
from desktop.ui.resource_usage import NO_LIMIT, Counters, Usage, UsageSampler

TIMEOUT_S = 10.0

# Arguments: the container ids. One line per id: "ID v2 usage_usec current inactive_file max", "ID v1
# cpuacct_ns usage_in_bytes total_inactive_file limit_in_bytes", or "ID none"; a missing value is "-".
SCRIPT = r"""
r=/sys/fs/cgroup
printf 'uptime %s\n' "$(cut -d' ' -f1 /proc/uptime)"
v() { sed -n "s/^$1 //p" "$2" 2>/dev/null | head -n 1; }
c() { cat "$1" 2>/dev/null; }
f() { if [ -n "$1" ]; then printf ' %s' "$1"; else printf ' -'; fi; }
from_proc() { p=$(grep -l -- "$1" /proc/[0-9]*/cgroup 2>/dev/null | head -n 1); [ -n "$p" ] && sed -n "$2" "$p"; }
for id in "$@"; do
  if [ -f "$r/cgroup.controllers" ]; then
    d=
    for x in "$r/system.slice/docker-$id.scope" "$r/docker/$id"; do [ -f "$x/memory.current" ] && { d=$x; break; }; done
    [ -z "$d" ] && { q=$(from_proc "$id" 's/^0:://p'); [ -n "$q" ] && d=$r$q; }
    if [ -f "$d/memory.current" ]; then
      printf '%s v2' "$id"; f "$(v usage_usec "$d/cpu.stat")"; f "$(c "$d/memory.current")"
      f "$(v inactive_file "$d/memory.stat")"; f "$(c "$d/memory.max")"; echo
      continue
    fi
  else
    m= a=
    for s in "docker/$id" "system.slice/docker-$id.scope"; do
      [ -d "$r/memory/$s" ] || continue
      m=$r/memory/$s
      for x in cpuacct cpu,cpuacct; do [ -d "$r/$x/$s" ] && a=$r/$x/$s; done
      break
    done
    if [ -z "$m" ]; then
      q=$(from_proc "$id" 's/^[0-9]*:[^:]*memory[^:]*://p')
      [ -n "$q" ] && m=$r/memory$q
      q=$(from_proc "$id" 's/^[0-9]*:[^:]*cpuacct[^:]*://p')
      for x in cpuacct cpu,cpuacct; do [ -d "$r/$x" ] && [ -n "$q" ] && a=$r/$x$q; done
    fi
    if [ -f "$m/memory.usage_in_bytes" ]; then
      printf '%s v1' "$id"; f "$(c "$a/cpuacct.usage")"; f "$(c "$m/memory.usage_in_bytes")"
      f "$(v total_inactive_file "$m/memory.stat")"; f "$(c "$m/memory.limit_in_bytes")"; echo
      continue
    fi
  fi
  echo "$id none"
done
"""


@dataclass(frozen=True)
class RemoteCounters:
    """One reading on a host: its uptime (ns, the clock CPU % is measured on) and each container's counters."""

    at_ns: int | None
    counters: dict[str, Counters]


def command(container_ids: Iterable[str]) -> str:
    return f"sh -c {shlex.quote(SCRIPT)} sh " + " ".join(shlex.quote(cid) for cid in container_ids)


async def read_remote_counters(run: RemoteCommand, container_ids: Iterable[str]) -> RemoteCounters:
    """The containers' counters on the host; those it could not read are left out. LabdockError when the
    host cannot be asked (the connection's own line)."""
    ids = [cid for cid in container_ids if cid.isalnum()]  # Docker ids: hex; anything else is not asked for
    if not ids:
        return RemoteCounters(None, {})
    result = await run(command(ids), TIMEOUT_S)
    if result.exit_status != 0:
        why = result.stderr.strip().splitlines()
        raise LabdockError(f"reading CPU and memory failed: {why[-1] if why else f'exit {result.exit_status}'}")
    return parse(result.stdout)


def parse(stdout: str) -> RemoteCounters:
    at_ns: int | None = None
    counters: dict[str, Counters] = {}
    for line in stdout.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "uptime":
            at_ns = _uptime_ns(fields[1])
        elif len(fields) == 6 and fields[1] in ("v1", "v2"):
            cid, kind, cpu, used, inactive, limit = fields
            cpu_ns = _number(cpu)
            if cpu_ns is not None and kind == "v2":
                cpu_ns *= 1000  # usage_usec
            memory = _number(used)
            if memory is not None:
                memory = max(0, memory - (_number(inactive) or 0))
            cap = _number(limit)  # v2 "max": None
            counters[cid] = Counters(cpu_ns, memory, None if cap is None or cap >= NO_LIMIT else cap)
    return RemoteCounters(at_ns, counters)


def _number(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _uptime_ns(text: str) -> int | None:
    seconds, _, hundredths = text.partition(".")
    if not seconds.isdigit() or not (hundredths.isdigit() or hundredths == ""):
        return None
    return int(seconds) * 1_000_000_000 + int((hundredths or "0").ljust(9, "0")[:9])


class HostUsage:
    """CPU % and memory of one host's notebooks, from successive readings on that host's clock."""

    def __init__(self, run: RemoteCommand) -> None:
        self._run = run
        self._rates = UsageSampler()

    async def read(self, containers: Mapping[str, str]) -> dict[str, Usage]:
        """container id -> notebook name, to notebook name -> Usage (those the host could read)."""
        reading = await read_remote_counters(self._run, containers)
        found = {containers[cid]: (cid, counters) for cid, counters in reading.counters.items() if cid in containers}
        return self._rates.usage(found, reading.at_ns or 0)  # no uptime: memory only, no CPU %
