"""Which remote Docker hosts Labdock reaches over SSH: those added in Preferences and the user's Docker
contexts whose endpoint is ssh://.

A host added in Preferences is written as the ssh command takes it: `[name=][user@]host[:port]`, where
`host` may be an alias of the user's ~/.ssh/config (HostName, Port, User, IdentityFile, ProxyJump and
known_hosts come from there, as for `ssh`). `name` is how the host is shown and chosen (`--host NAME`);
without one it is the host part. Only file reads here: connecting is desktop.engines.ssh_link's job.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from desktop.core.errors import InvalidSpec
from desktop.core.models import LOCAL_ENGINES
from desktop.engines.endpoint import list_contexts

THIS_MACHINE = "this machine"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")
_USER = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$")
_HOST = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*$|^\[[0-9A-Fa-f:.]+\]$")


@dataclass(frozen=True)
class RemoteHost:
    """A Docker host reached over SSH. `host` is a host name, an address or an ssh config alias."""

    name: str
    host: str
    user: str | None = None
    port: int | None = None
    source: str = "Preferences"  # or "context NAME"

    @property
    def target(self) -> str:
        """'user@host:port' as far as given (the ssh config fills in the rest)."""
        who = f"{self.user}@" if self.user else ""
        return f"{who}{self.host}" + (f":{self.port}" if self.port else "")

    @property
    def address(self) -> str:
        """The host without brackets, for connecting."""
        return self.host.strip("[]")

    def entry(self) -> str:
        """How it is written in Preferences (parse_host reads it back)."""
        return self.target if self.name == self.address else f"{self.name}={self.target}"


def host_label(engine: str) -> str:
    """The Host column: 'this machine' for the local engines, else the remote host's name."""
    return THIS_MACHINE if engine in LOCAL_ENGINES else engine


def parse_host(text: str, source: str = "Preferences") -> RemoteHost:
    """`[name=][user@]host[:port]` or `ssh://[user@]host[:port]`; InvalidSpec says what is wrong."""
    entry = text.strip()
    name = None
    if "=" in entry:
        name, entry = (part.strip() for part in entry.split("=", 1))
    if not entry:
        raise InvalidSpec("a remote host needs an address: [name=][user@]host[:port]")
    if not entry.startswith("ssh://"):
        entry = "ssh://" + entry
    try:
        parts = urlsplit(entry)
        port = parts.port
    except ValueError as exc:
        raise InvalidSpec(f"'{text.strip()}' is not [user@]host[:port]: {exc}") from exc
    host = parts.hostname or ""
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    if not host or not _HOST.match(host) or parts.path not in ("", "/") or parts.query or parts.password:
        raise InvalidSpec(f"'{text.strip()}' is not [user@]host[:port]")
    user = parts.username
    if user is not None and not _USER.match(user):
        raise InvalidSpec(f"'{user}' is not a user name")
    chosen = name or host.strip("[]")
    check_host_name(chosen)
    return RemoteHost(chosen, host, user, port, source)


def check_host_name(name: str) -> None:
    if not _NAME.match(name):
        raise InvalidSpec(f"'{name}' cannot name a host: use letters, digits, '.', '-' or '_'")
    if name in LOCAL_ENGINES:
        raise InvalidSpec(f"'{name}' names an engine of this machine: give the host another name (NAME=host)")


def remote_hosts(entries: Iterable[str], env: Mapping[str, str] | None = None) -> tuple[list[RemoteHost], list[str]]:
    """The hosts of Preferences, then the ssh:// Docker contexts not already there; and one line for each
    entry that cannot be used (shown in Preferences, logged): a bad entry never hides the others."""
    hosts: list[RemoteHost] = []
    problems: list[str] = []
    for entry in entries:
        try:
            hosts.append(parse_host(entry))
        except InvalidSpec as exc:
            problems.append(str(exc))
    for context in list_contexts(env):
        if not context.host.startswith("ssh://"):
            continue
        try:
            host = parse_host(f"{context.name}={context.host}", source=f"context {context.name}")
        except InvalidSpec as exc:
            problems.append(f"context '{context.name}': {exc}")
            continue
        if all(host.name != h.name and host.target != h.target for h in hosts):
            hosts.append(host)
    seen: set[str] = set()
    unique = []
    for host in hosts:
        if host.name in seen:
            problems.append(f"two hosts are named '{host.name}': the second ({host.target}) is left out")
            continue
        seen.add(host.name)
        unique.append(host)
    return unique, problems
