"""`labdock hosts`: the remote Docker hosts reached over SSH, with their state; `hosts add` / `hosts rm`
change the list kept in Preferences (ssh:// Docker contexts are listed too, and removed with docker)."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from desktop.core.errors import InvalidSpec, LabdockError
from desktop.engines.remote_engine import RemoteDockerEngine
from desktop.engines.ssh_hosts import parse_host
from desktop.remote_gpus import over_ssh, read_remote_gpus
from desktop.services import Services
from desktop.settings import load_settings, save_settings


def add_hosts_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    hosts = sub.add_parser("hosts", help="list remote Docker hosts (over SSH) and whether they answer")
    action = hosts.add_subparsers(dest="hosts_command")
    add = action.add_parser("add", help="add a host: [NAME=][user@]host[:port], as ssh takes it (~/.ssh/config)")
    add.add_argument("entry")
    rm = action.add_parser("rm", help="remove a host added with 'hosts add'")
    rm.add_argument("name")


async def hosts_command(args: argparse.Namespace, services: Services) -> int:
    if args.hosts_command == "add":
        return _add(services, args.entry)
    if args.hosts_command == "rm":
        return _remove(services, args.name)
    for problem in services.host_problems:
        print(f"labdock: warning: {problem}")
    if not services.remotes:
        print("no remote hosts: add one with 'labdock hosts add [NAME=][user@]host[:port]'")
        return 0
    lines = await asyncio.gather(*(_describe(engine) for engine in services.remotes.values()))
    print(_columns([("HOST", "ADDRESS", "FROM", "STATE"), *lines]))
    return 0


async def _describe(engine: RemoteDockerEngine) -> tuple[str, str, str, str]:
    host = engine.link.host
    state = await engine.describe()
    if engine.link.problem is None and engine.link.facts is not None:
        report = await read_remote_gpus(over_ssh(engine.link))
        count = len(report.inventory.gpus)
        gpus = report.problem or ("no GPUs" if count == 0 else f"{count} GPU" + ("" if count == 1 else "s"))
        state = f"reachable: {state}; {gpus}"
    return host.name, host.target, host.source, state


def _columns(rows: Sequence[tuple[str, ...]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows)


def _add(services: Services, entry: str) -> int:
    host = parse_host(entry)
    if host.name in services.remotes:
        raise InvalidSpec(
            f"a host named '{host.name}' is already there ({services.remotes[host.name].link.host.target})"
        )
    settings = load_settings(services.paths)
    settings.remote_hosts = [*settings.remote_hosts, host.entry()]
    save_settings(services.paths, settings)
    print(f"added '{host.name}' ({host.target}): check it with 'labdock hosts'")
    return 0


def _remove(services: Services, name: str) -> int:
    settings = load_settings(services.paths)
    kept = [entry for entry in settings.remote_hosts if _name_of(entry) != name]
    if len(kept) == len(settings.remote_hosts):
        if name in services.remotes:
            raise LabdockError(f"'{name}' comes from a Docker context: remove it with 'docker context rm {name}'")
        raise LabdockError(f"no host named '{name}' (see 'labdock hosts')")
    notebooks = sorted(n.name for n in services.manager.list() if n.engine == name)
    if notebooks:
        raise LabdockError(f"notebooks of '{name}' are still listed: {', '.join(notebooks)} (remove them first)")
    settings.remote_hosts = kept
    save_settings(services.paths, settings)
    print(f"removed the host '{name}'")
    return 0


def _name_of(entry: str) -> str | None:
    try:
        return parse_host(entry).name
    except InvalidSpec:
        return None
