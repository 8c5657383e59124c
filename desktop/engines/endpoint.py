"""Which container engine Labdock talks to: found the way the `docker` CLI finds it, then the usual sockets.

First match wins:
1. Preferences (or `labdock --context`): a Docker host URL, else a Docker context by name;
2. DOCKER_HOST (with DOCKER_TLS_VERIFY/DOCKER_CERT_PATH, as the docker SDK reads them);
3. DOCKER_CONTEXT, else the context chosen with `docker context use` (config.json's currentContext);
4. the first local socket that accepts a connection: rootless Docker ($XDG_RUNTIME_DIR/docker.sock), the
   system socket, rootless Podman ($XDG_RUNTIME_DIR/podman/podman.sock), rootful Podman; else the first one
   that exists (a socket we may not open still says "refused access", the right advice); else the system socket.

Contexts live where the CLI keeps them: $DOCKER_CONFIG (or ~/.docker)/contexts/meta/<sha256 of the name>/meta.json,
TLS files under contexts/tls/. They are read here with the SDK's context id and TLSConfig, not with its
ContextAPI: that looks next to whichever config.json it finds, and falls back to ~/.docker (or the current
folder) when $DOCKER_CONFIG has none, which `docker context create` alone leaves so.
Only file reads and a connect() on local sockets: no Docker calls.
"""

from __future__ import annotations

import json
import logging
import os
import socket
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from docker.context.config import get_context_id
from docker.errors import DockerException
from docker.tls import TLSConfig
from docker.utils import kwargs_from_env

log = logging.getLogger(__name__)

SYSTEM_SOCKET = Path("/var/run/docker.sock")
PODMAN_SYSTEM_SOCKET = Path("/run/podman/podman.sock")
DEFAULT_CONTEXT = "default"
PROBE_TIMEOUT = 0.5


@dataclass(frozen=True)
class DockerContext:
    """One context as `docker context ls` shows it."""

    name: str
    host: str
    description: str = ""
    tls: TLSConfig | None = field(default=None, compare=False)
    current: bool = False


@dataclass(frozen=True)
class Endpoint:
    """Where the engine is and how it was chosen. `problem` set: it cannot be used, and that says why."""

    url: str | None
    source: str  # for the engine line: "context desktop-linux", "DOCKER_HOST", "the system socket"
    origin: str = ""  # for messages: how that source was chosen ("chosen with `docker context use`")
    tls: TLSConfig | None = field(default=None, compare=False)
    looked: tuple[str, ...] = ()  # the other sockets tried first, for "not reachable"
    problem: str | None = None
    product: str = "Docker"  # what is expected there until /version says ("Podman" for Podman's sockets)

    def where(self) -> str:
        """'unix:///x (context 'foo', chosen with …; also looked for …)': one line for error messages."""
        detail = self.source + (f", {self.origin}" if self.origin else "")
        if self.looked:
            detail += f"; also looked for {', '.join(self.looked)}"
        return f"{self.url} ({detail})" if self.url else detail


# -- contexts ------------------------------------------------------------------------------------


def config_dir(env: Mapping[str, str]) -> Path:
    configured = env.get("DOCKER_CONFIG")
    return Path(configured) if configured else Path(env.get("HOME") or Path.home()) / ".docker"


def current_context(env: Mapping[str, str]) -> str:
    """The context `docker context use` chose; "default" when none was (or config.json is unreadable)."""
    try:
        data = json.loads((config_dir(env) / "config.json").read_text())
    except (OSError, ValueError):
        return DEFAULT_CONTEXT
    name = data.get("currentContext") if isinstance(data, dict) else None
    return name if isinstance(name, str) and name else DEFAULT_CONTEXT


def active_context(env: Mapping[str, str]) -> str:
    """The context the docker CLI would use now: DOCKER_HOST means default, then DOCKER_CONTEXT, then config.json."""
    if env.get("DOCKER_HOST"):
        return DEFAULT_CONTEXT
    return env.get("DOCKER_CONTEXT") or current_context(env)


def default_context(env: Mapping[str, str]) -> DockerContext:
    return DockerContext(
        DEFAULT_CONTEXT,
        env.get("DOCKER_HOST") or f"unix://{SYSTEM_SOCKET}",
        "DOCKER_HOST, else the local sockets Labdock looks for",
    )


def load_context(name: str, env: Mapping[str, str]) -> DockerContext | None:
    """The named context, None when it does not exist; ValueError when its files cannot be used."""
    if name == DEFAULT_CONTEXT:
        return default_context(env)
    ident = get_context_id(name)
    meta_file = config_dir(env) / "contexts" / "meta" / ident / "meta.json"
    try:
        meta = json.loads(meta_file.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ValueError(f"{meta_file} cannot be read ({exc})") from exc
    return _context_from_meta(meta, config_dir(env) / "contexts" / "tls" / ident / "docker", meta_file)


def _context_from_meta(meta: Any, tls_dir: Path, meta_file: Path) -> DockerContext:
    endpoint = (meta.get("Endpoints") or {}).get("docker") if isinstance(meta, dict) else None
    if not isinstance(endpoint, dict) or not endpoint.get("Host"):
        raise ValueError(f"{meta_file} names no Docker endpoint")
    description = str((meta.get("Metadata") or {}).get("Description") or "")
    tls = _tls(tls_dir, bool(endpoint.get("SkipTLSVerify")))
    return DockerContext(str(meta.get("Name")), str(endpoint["Host"]), description, tls)


def _tls(folder: Path, skip_verify: bool) -> TLSConfig | None:
    """TLS material the CLI stored with the context (ca.pem, cert.pem, key.pem), if any."""
    files = {p.name.split(".")[0]: str(p) for p in folder.glob("*.pem")} if folder.is_dir() else {}
    if not files:
        return None
    cert = (files["cert"], files["key"]) if "cert" in files and "key" in files else None
    ca = files.get("ca")
    return TLSConfig(client_cert=cert, ca_cert=ca, verify=bool(ca) and not skip_verify)


def list_contexts(env: Mapping[str, str] | None = None) -> list[DockerContext]:
    """Every context `docker context ls` would show, default first; unreadable ones are skipped (logged)."""
    env = os.environ if env is None else env
    current = active_context(env)
    found = [default_context(env)]
    meta_dir = config_dir(env) / "contexts" / "meta"
    for meta_file in sorted(meta_dir.glob("*/meta.json")) if meta_dir.is_dir() else []:
        try:
            meta = json.loads(meta_file.read_text())
            tls_dir = meta_dir.parent / "tls" / meta_file.parent.name / "docker"
            found.append(_context_from_meta(meta, tls_dir, meta_file))
        except (OSError, ValueError, DockerException) as exc:
            log.warning("Docker context %s skipped: %s", meta_file.parent.name[:12], exc)
    named = sorted(found[1:], key=lambda c: c.name)
    return [DockerContext(c.name, c.host, c.description, c.tls, current=c.name == current) for c in [found[0], *named]]


# -- local sockets -------------------------------------------------------------------------------


def local_sockets(env: Mapping[str, str]) -> list[tuple[Path, str]]:
    """The sockets looked for after DOCKER_HOST and contexts, in order, with what each one is."""
    runtime = Path(env.get("XDG_RUNTIME_DIR") or f"/run/user/{os.getuid()}")
    return [
        (runtime / "docker.sock", "the rootless Docker socket"),
        (SYSTEM_SOCKET, "the system socket"),
        (runtime / "podman" / "podman.sock", "Podman's user socket"),
        (PODMAN_SYSTEM_SOCKET, "Podman's system socket"),
    ]


def _accepts(path: Path) -> bool | None:
    """True: something listens there; None: it exists but we may not connect; False: nothing there."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.settimeout(PROBE_TIMEOUT)
        try:
            probe.connect(str(path))
        except PermissionError:
            return None
        except OSError:
            return False
    return True


def _first_socket(sockets: Sequence[tuple[Path, str]]) -> Endpoint:
    results = [(path, label, _accepts(path)) for path, label in sockets]
    chosen = next((r for r in results if r[2] is True), None) or next((r for r in results if r[2] is None), None)
    if chosen is None:
        system = next(((p, label) for p, label in sockets if p == SYSTEM_SOCKET), sockets[0])
        chosen = (system[0], system[1], False)
    looked = tuple(str(path) for path, _, _ in results if path != chosen[0])
    product = "Podman" if chosen[1].startswith("Podman") else "Docker"
    return Endpoint(f"unix://{chosen[0]}", chosen[1], looked=looked, product=product)


# -- resolution ----------------------------------------------------------------------------------


def resolve(
    host: str | None = None,
    context: str | None = None,
    *,
    chosen_in: str = "Preferences",
    env: Mapping[str, str] | None = None,
    sockets: Sequence[tuple[Path, str]] | None = None,
) -> Endpoint:
    """The endpoint to use. `host`/`context` are the user's own choice (`chosen_in` says where it was made);
    `env` and `sockets` default to this process's environment and local_sockets(env)."""
    env = os.environ if env is None else env
    if host:
        return Endpoint(host, f"the Docker host in {chosen_in}")
    if context and context != DEFAULT_CONTEXT:
        return _from_context(context, f"from {chosen_in}", env)
    if env.get("DOCKER_HOST"):
        try:
            params = kwargs_from_env(environment=dict(env))
        except DockerException as exc:  # DOCKER_CERT_PATH without the files, for example
            return Endpoint(env["DOCKER_HOST"], "DOCKER_HOST", problem=f"DOCKER_HOST cannot be used: {exc}")
        return Endpoint(str(params["base_url"]), "DOCKER_HOST", tls=params.get("tls"))
    if context != DEFAULT_CONTEXT:
        named = env.get("DOCKER_CONTEXT")
        if named and named != DEFAULT_CONTEXT:
            return _from_context(named, "from DOCKER_CONTEXT", env)
        current = current_context(env)
        if not named and current != DEFAULT_CONTEXT:
            return _from_context(current, "chosen with `docker context use`", env)
    return _first_socket(local_sockets(env) if sockets is None else sockets)


def _from_context(name: str, origin: str, env: Mapping[str, str]) -> Endpoint:
    source = f"context {name}"
    try:
        found = load_context(name, env)
    except (ValueError, DockerException) as exc:
        return Endpoint(None, source, origin, problem=f"Docker context '{name}' ({origin}) cannot be used: {exc}")
    if found is None:
        names = ", ".join(c.name for c in list_contexts(env))
        return Endpoint(
            None,
            source,
            origin,
            problem=f"Docker context '{name}' ({origin}) does not exist in {config_dir(env)}; contexts there: {names}",
        )
    return Endpoint(found.host, source, origin, tls=found.tls)


# -- what answered -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EngineKind:
    """What /version says the engine is: Docker, or Podman through its Docker-compatible API."""

    product: str  # "Docker" or "Podman"
    version: str  # major.minor, "28.1"
    rootless: bool = False  # known for Podman (its /info says); Docker's rootless socket says so in the source

    @property
    def podman(self) -> bool:
        return self.product == "Podman"

    def line(self, endpoint: Endpoint) -> str:
        """'Docker 28.1 via context desktop-linux (unix://…)', 'Podman 4.3 (Docker API) via DOCKER_HOST (…)'."""
        notes = [note for note, wanted in (("Docker API", self.podman), ("rootless", self.rootless)) if wanted]
        api = f" ({', '.join(notes)})" if notes else ""
        return f"{self.product} {self.version}{api} via {endpoint.source} ({endpoint.url})"


def identify(version: Mapping[str, Any]) -> EngineKind:
    """Podman names itself in Components ("Podman Engine"); Docker's engine component is "Engine"."""
    components = [c for c in version.get("Components") or [] if isinstance(c, dict)]
    podman = next((c for c in components if "podman" in str(c.get("Name", "")).lower()), None)
    if podman is not None:
        return EngineKind("Podman", _major_minor(str(podman.get("Version") or version.get("Version") or "")))
    engine = next((c for c in components if c.get("Name") == "Engine"), None)
    number = str((engine or {}).get("Version") or version.get("Version") or "")
    return EngineKind("Docker", _major_minor(number))


def _major_minor(number: str) -> str:
    parts = number.split("+")[0].split("-")[0].split(".")
    return ".".join(parts[:2]) if parts and parts[0] else "(unknown version)"
