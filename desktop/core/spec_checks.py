"""Checks on a notebook's environment, shared memory, mounts and server arguments.

Each check fails with one line a person can act on, and never repeats a value that may be secret.
"""

from __future__ import annotations

import os
import posixpath
import re
import stat
from collections.abc import Iterable, Mapping
from pathlib import Path

from desktop.core.errors import InvalidSpec
from desktop.core.models import WORK_MOUNTS, Mount

ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
ENV_NAME_MAX = 255
ENV_VALUE_MAX = 32 * 1024  # a value (plain or secret); Linux allows 128 KiB per string
ENV_TOTAL_MAX = 256 * 1024  # all of them together, well below what exec() accepts with argv
ENV_COUNT_MAX = 200
# Set by Labdock or by the image's start script from Labdock's settings: a user value would weaken the
# token, the non-root user or the GPU choice.
RESERVED_ENV = frozenset(
    {
        "JUPYTER_TOKEN",
        "JUPYTER_RUNTIME_DIR",
        "JUPYTER_CONFIG_DIR",
        "JUPYTER_CONFIG_PATH",
        "JUPYTER_PORT",
        "NOTEBOOK_ARGS",
        "DOCKER_STACKS_JUPYTER_CMD",
        "GRANT_SUDO",
        "NB_USER",
        "NB_UID",
        "NB_GID",
        "CHOWN_HOME",
        "CHOWN_EXTRA",
        "CUDA_VISIBLE_DEVICES",
    }
)
RESERVED_ENV_PREFIXES = ("NVIDIA_",)  # NVIDIA_VISIBLE_DEVICES=all would hand a container every GPU

MIN_SHM = 1024**2
GIB = 1024**3

EXTRA_ARGS_MAX = 32
EXTRA_ARG_LENGTH = 1024
_OPTION_RE = re.compile(r"^--[A-Za-z][\w.-]*(?:=.*)?$", re.DOTALL)
# Server settings Labdock sets or relies on (address, token, origin checks, root, paths): an extra argument
# may not name them, whichever class it addresses (--ServerApp.token, --IdentityProvider.token, --ip).
PROTECTED_SETTINGS = frozenset(
    {
        "ip",
        "port",
        "port_retries",
        "sock",
        "sock_mode",
        "token",
        "password",
        "hashed_password",
        "password_required",
        "allow_password_change",
        "allow_unauthenticated_access",
        "disable_check_xsrf",
        "allow_origin",
        "allow_origin_pat",
        "allow_credentials",
        "allow_remote_access",
        "local_hostnames",
        "trust_xheaders",
        "allow_root",
        "root_dir",
        "notebook_dir",
        "base_url",
        "identity_provider_class",
        "authorizer_class",
        "login_handler_class",
        "logout_handler_class",
        "tornado_settings",
        "certfile",
        "keyfile",
        "client_ca",
        "config",
        "config_file",
        "runtime_dir",
        "connection_dir",
        "open_browser",
        "news_url",
        "check_for_updates_class",
    }
)

IDLE_MINUTES_MAX = 30 * 24 * 60

# Container paths a mount may not replace: the image would stop working, or the kernel's own views.
SYSTEM_PATHS = ("/bin", "/boot", "/dev", "/etc", "/lib", "/lib32", "/lib64", "/proc", "/sbin", "/sys", "/usr")


def _has_control(text: str) -> bool:
    return "\0" in text or "\n" in text or "\r" in text


# -- environment and secrets ------------------------------------------------------------------------


def env_name_problem(name: str) -> str | None:
    if not ENV_NAME_RE.match(name):
        shown = name.partition("=")[0][:60]  # never what follows an '=' (it may be a value)
        return f"invalid variable name {shown!r}: use letters, digits and '_', not starting with a digit"
    if len(name) > ENV_NAME_MAX:
        return f"the variable name {name[:40]}… is longer than {ENV_NAME_MAX} characters"
    if name in RESERVED_ENV or name.startswith(RESERVED_ENV_PREFIXES):
        return f"{name} is set by Labdock from the notebook's settings; it cannot be given"
    return None


def validate_env_name(name: str) -> str:
    problem = env_name_problem(name)
    if problem:
        raise InvalidSpec(problem)
    return name


def validate_env(env: Iterable[tuple[str, str]], secret_names: Iterable[str] = ()) -> None:
    """Names POSIX-style and unique across plain and secret variables, values without NUL or line breaks."""
    seen: set[str] = set()
    total = 0
    pairs = list(env)
    secrets = list(secret_names)
    if len(pairs) + len(secrets) > ENV_COUNT_MAX:
        raise InvalidSpec(f"{len(pairs) + len(secrets)} environment variables; at most {ENV_COUNT_MAX}")
    for name, value in pairs:
        validate_env_name(name)
        if name in seen:
            raise InvalidSpec(f"the variable {name} is given twice")
        seen.add(name)
        if _has_control(value):
            raise InvalidSpec(f"the value of {name} contains a line break or NUL; give it on one line")
        if len(value.encode()) > ENV_VALUE_MAX:
            raise InvalidSpec(f"the value of {name} is longer than {ENV_VALUE_MAX // 1024} KiB")
        total += len(name) + len(value.encode()) + 2
    for name in secrets:
        validate_env_name(name)
        if name in seen:
            raise InvalidSpec(f"the variable {name} is given twice (plain and secret)")
        seen.add(name)
    if total > ENV_TOTAL_MAX:
        raise InvalidSpec(f"the environment variables add up to more than {ENV_TOTAL_MAX // 1024} KiB")


def validate_secret_value(name: str, value: str) -> str:
    """The value is never part of the message."""
    if not value:
        raise InvalidSpec(f"the secret {name} is empty")
    if _has_control(value):
        raise InvalidSpec(f"the secret {name} contains a line break or NUL; give it on one line")
    if len(value.encode()) > ENV_VALUE_MAX:
        raise InvalidSpec(f"the secret {name} is longer than {ENV_VALUE_MAX // 1024} KiB")
    return value


def validate_secret_values(names: Iterable[str], values: Mapping[str, str], complete: bool = False) -> None:
    """Values given for a notebook's secret variables: each one of its `names`, each usable; with
    `complete`, one for every name."""
    known = list(names)
    for name, value in values.items():
        if name not in known:
            raise InvalidSpec(f"{name} is not one of the notebook's secret variables")
        validate_secret_value(name, value)
    missing = [name for name in known if name not in values] if complete else []
    if missing:
        raise InvalidSpec(f"the secret {missing[0]} needs a value")


def parse_env_pair(text: str, where: str = "") -> tuple[str, str]:
    """'KEY=VALUE' -> ('KEY', 'VALUE'); the value is kept as written (quotes included, as Docker does)."""
    name, sep, value = text.partition("=")
    if not sep:
        raise InvalidSpec(f"{where}expected KEY=VALUE, got {name[:60]!r}")
    validate_env_name(name)
    return name, value


# -- shared memory -----------------------------------------------------------------------------------

_SIZE_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?\s*$", re.IGNORECASE)
_UNITS = {"": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def physical_memory() -> int | None:
    try:
        return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError):
        return None


def parse_shm(text: str) -> int:
    """'8g', '512m' -> bytes, checked."""
    match = _SIZE_RE.match(text)
    if not match:
        raise InvalidSpec(f"invalid shared memory size {text[:40]!r}: use a number with a unit, e.g. 8g or 512m")
    return validate_shm(int(float(match.group(1)) * _UNITS[match.group(2).lower()]))


def validate_shm(value: int, ram: int | None = None) -> int:
    ram = ram if ram is not None else physical_memory()
    if value < MIN_SHM:
        raise InvalidSpec("the shared memory size must be at least 1m")
    if ram is not None and value > ram:
        raise InvalidSpec(f"the shared memory size is more than this machine's memory ({ram / GIB:.1f} GiB)")
    return value


def default_gpu_shm(ram: int | None = None) -> int:
    """/dev/shm for a GPU notebook when none is asked for: half of RAM, at most 16 GiB, at least 1 GiB.

    PyTorch's DataLoader workers hand every batch to the main process through /dev/shm; Docker's 64 MiB
    default ends in "bus error" with a few workers and image batches. /dev/shm is a tmpfs: its size is a
    ceiling, not a reservation, so a generous one costs nothing until used. Half of RAM is the kernel's
    own default for tmpfs; 16 GiB holds the prefetch queues of 8-16 workers with large batches; 1 GiB is
    the floor below which the default itself is the problem (on a machine with less RAM: half of it).
    """
    ram = ram if ram is not None else physical_memory()
    if ram is None:
        return GIB
    return min(16 * GIB, max(GIB, ram // 2)) if ram >= 2 * GIB else ram // 2


# -- mounts --------------------------------------------------------------------------------------------


def engine_sockets() -> list[Path]:
    """Where a Docker or Podman engine's socket may be; only those that exist count."""
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    home = Path.home()
    candidates = [
        Path("/var/run/docker.sock"),
        Path("/run/docker.sock"),
        Path("/run/podman/podman.sock"),
        home / ".docker/run/docker.sock",
        home / ".docker/desktop/docker.sock",
    ]
    if runtime:
        candidates += [Path(runtime) / "docker.sock", Path(runtime) / "podman/podman.sock"]
    host = os.environ.get("DOCKER_HOST", "")
    if host.startswith("unix://"):
        candidates.append(Path(host.removeprefix("unix://")))
    return [path for path in candidates if path.exists()]


def parse_mount(text: str, here: bool = True) -> Mount:
    """'HOST:CONTAINER[:ro|rw]' -> Mount (read-only unless ':rw'); HOST may start with '~' or be relative.
    `here` False: HOST is a folder of a remote host, taken as written (it must be absolute there)."""
    parts = text.split(":")
    mode = "ro"
    if len(parts) == 3:
        mode = parts.pop()
    if len(parts) != 2 or not parts[0] or not parts[1] or mode not in ("ro", "rw"):
        raise InvalidSpec(f"invalid mount {text[:80]!r}: use HOST_FOLDER:CONTAINER_PATH, with :rw to allow writes")
    host = Path(parts[0]).expanduser().absolute() if here else Path(parts[0])
    return Mount(host, parts[1], read_only=mode == "ro")


def validate_mounts(mounts: Iterable[Mount], here: bool = True) -> None:
    """`here` False: the folders are on a remote host; only their form is checked (the host checks the rest)."""
    targets: set[str] = set()
    for mount in mounts:
        if here:
            _check_host(mount.host_path)
        else:
            _check_host_form(mount.host_path)
        target = _check_target(mount.container_path)
        if target in targets:
            raise InvalidSpec(f"two mounts go to {target}; each needs its own container path")
        targets.add(target)


def _check_host_form(host: Path) -> None:
    text = str(host)
    if _has_control(text):
        raise InvalidSpec("a mount's host folder contains a line break or NUL")
    if not host.is_absolute():
        raise InvalidSpec(f"the mount's host folder {text} is not an absolute path")
    if str(host) == "/":
        raise InvalidSpec("the whole file system ('/') cannot be mounted into a notebook")


def _check_host(host: Path) -> None:
    text = str(host)
    _check_host_form(host)
    try:
        real = host.resolve(strict=True)
        mode = real.stat().st_mode
    except (OSError, RuntimeError):
        raise InvalidSpec(f"the mount's host folder {text} does not exist") from None
    if real == Path("/"):
        raise InvalidSpec("the whole file system ('/') cannot be mounted into a notebook")
    for sock in engine_sockets():
        if sock.resolve().is_relative_to(real):
            raise InvalidSpec(
                f"the mount {text} would show the container engine's socket {sock} inside the notebook "
                "(control of Docker is root on this machine): mount a folder that does not contain it"
            )
    if not (stat.S_ISDIR(mode) or stat.S_ISREG(mode)):
        raise InvalidSpec(f"the mount {text} is neither a folder nor a file")


def _check_target(target: str) -> str:
    if _has_control(target) or not target.startswith("/"):
        raise InvalidSpec(f"the container path {target[:80]!r} must be absolute, e.g. /data")
    if ".." in target.split("/"):
        raise InvalidSpec(f"the container path {target} may not contain '..'")
    target = posixpath.normpath(target)
    if target == "/" or any(target == s or target.startswith(s + "/") for s in SYSTEM_PATHS):
        raise InvalidSpec(f"the container path {target} belongs to the image's system; choose e.g. /data")
    for work in WORK_MOUNTS:
        if target == work or target.startswith(work + "/") or work.startswith(target + "/"):
            raise InvalidSpec(f"the container path {target} clashes with the work folder's mount at {work}")
    return target


# -- server arguments, idle stop, ports ------------------------------------------------------------------


def validate_extra_args(args: Iterable[str]) -> None:
    """Options only ('--Class.setting=value', '--flag'), none naming what Labdock sets (PROTECTED_SETTINGS).
    Labdock's own arguments come after these anyway, so the last word on those stays Labdock's."""
    items = list(args)
    if len(items) > EXTRA_ARGS_MAX:
        raise InvalidSpec(f"{len(items)} server arguments; at most {EXTRA_ARGS_MAX}")
    for arg in items:
        if _has_control(arg):
            raise InvalidSpec("a server argument contains a line break or NUL")
        if len(arg) > EXTRA_ARG_LENGTH:
            raise InvalidSpec(f"a server argument is longer than {EXTRA_ARG_LENGTH} characters")
        if not _OPTION_RE.match(arg):
            raise InvalidSpec(f"invalid server argument {arg[:60]!r}: use options like --ServerApp.setting=value")
        setting = arg[2:].partition("=")[0].rsplit(".", 1)[-1].lower().replace("-", "_")
        if setting.removeprefix("no_") in PROTECTED_SETTINGS:
            raise InvalidSpec(f"the server argument {arg[:60].partition('=')[0]} is Labdock's to set")


def validate_idle_minutes(minutes: int) -> int:
    if not 1 <= minutes <= IDLE_MINUTES_MAX:
        raise InvalidSpec(f"idle stop must be between 1 and {IDLE_MINUTES_MAX} minutes")
    return minutes


def validate_stable_port(port: int) -> int:
    if not 1024 <= port <= 65535:
        raise InvalidSpec(f"the stable port {port} is out of range (1024-65535)")
    return port
