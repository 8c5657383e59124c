"""`labdock new`'s settings for real work (environment, secrets, shared memory, mounts, address, idle stop,
reboots, server arguments) and the `edit`, `duplicate` and `rename` commands.

Secret values never come from the command line (other users see it in `ps`): they are read from stdin
when it is not a terminal, else asked for without echo.
"""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import posixpath
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from desktop.core.errors import InvalidSpec
from desktop.core.models import ALL_GPUS, NetworkMode, Notebook, NotebookSpec, on_this_machine
from desktop.core.spec_checks import (
    parse_env_pair,
    parse_mount,
    parse_shm,
    validate_env_name,
    validate_secret_value,
)
from desktop.core.validation import format_bytes, parse_memory, validate_cpus, validate_spec
from desktop.engines import profiles
from desktop.manager import NotebookManager
from desktop.settings import Settings

EDIT_COMMANDS = ("edit", "duplicate", "rename")
OFF = ("off", "none", "0")


def add_settings_options(parser: argparse.ArgumentParser, editing: bool = False) -> None:
    group = parser.add_argument_group("environment, data and lifetime")
    group.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", help="an environment variable")
    group.add_argument(
        "--env-file", action="append", default=[], type=Path, metavar="FILE", help="KEY=VALUE lines ('#' comments)"
    )
    group.add_argument(
        "--secret",
        action="append",
        default=[],
        metavar="KEY",
        help="a secret variable: its value is read from stdin (one line per --secret) or asked for, and kept "
        "in the system keyring",
    )
    group.add_argument(
        "--shm-size",
        metavar="SIZE",
        help="size of /dev/shm, e.g. 8g (GPU notebooks: half the RAM, at most 16g)"
        + (", or 'default'" if editing else ""),
    )
    group.add_argument(
        "--mount",
        action="append",
        default=[],
        metavar="HOST:CONTAINER[:rw]",
        help="show a host folder inside the notebook, read-only unless :rw",
    )
    flag = argparse.BooleanOptionalAction if editing else "store_true"
    group.add_argument("--stable-address", action=flag, default=None, help="the same port and token at every start")
    group.add_argument("--idle-stop", metavar="MINUTES", help="stop after MINUTES without activity ('off': never)")
    group.add_argument(
        "--survive-reboot", action=flag, default=None, help="come back when Docker or the machine restarts"
    )
    group.add_argument(
        "--server-arg",
        action="append",
        default=[],
        metavar="ARG",
        help="an extra JupyterLab argument, written with '=': --server-arg=--ServerApp.setting=value",
    )
    if editing:
        group.add_argument("--unset-env", action="append", default=[], metavar="KEY", help="drop a variable")
        group.add_argument("--remove-secret", action="append", default=[], metavar="KEY", help="drop a secret")
        group.add_argument("--unmount", action="append", default=[], metavar="CONTAINER_PATH", help="drop a mount")
        group.add_argument("--clear-server-args", action="store_true", help="drop the extra JupyterLab arguments")


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    edit = sub.add_parser("edit", help="change a stopped notebook's settings (the rest stays as it is)")
    edit.add_argument("name")
    edit.add_argument("--image")
    edit.add_argument("--gpu", metavar="all|0,2|UUID", help="use these GPUs")
    edit.add_argument("--cpu-only", action="store_true", help="use no GPU")
    edit.add_argument("--cpus", help="CPU limit, or 'none'")
    edit.add_argument("--memory", help="memory limit, e.g. 8g, or 'none'")
    edit.add_argument("--work-dir", type=Path, help="folder mounted as the notebook's working directory")
    edit.add_argument("--profile", choices=profiles.PROFILES)
    edit.add_argument("--network", choices=("bridge", "host"))
    edit.add_argument("--root", action=argparse.BooleanOptionalAction, default=None, help="run as root (less safe)")
    add_settings_options(edit, editing=True)
    duplicate = sub.add_parser("duplicate", help="a stopped copy of a notebook under a new name")
    duplicate.add_argument("name")
    duplicate.add_argument("new_name", metavar="NEW")
    duplicate.add_argument("--same-work-dir", action="store_true", help="share its work folder (default: a new one)")
    rename = sub.add_parser("rename", help="rename a stopped notebook (its default work folder follows)")
    rename.add_argument("name")
    rename.add_argument("new_name", metavar="NEW")


# -- reading the options -----------------------------------------------------------------------------------


def read_env_file(path: Path) -> list[tuple[str, str]]:
    """docker run's --env-file format: KEY=VALUE per line, the value as written; blank and '#' lines skipped."""
    try:
        text = path.expanduser().read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidSpec(f"cannot read the env file {path}: {getattr(exc, 'strerror', None) or exc}") from exc
    pairs = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.lstrip()
        if line and not line.startswith("#"):
            pairs.append(parse_env_pair(line, f"{path} line {number}: "))
    return pairs


def read_secrets(
    names: Sequence[str], stdin: TextIO | None = None, prompt: Callable[[str], str] = getpass.getpass
) -> dict[str, str]:
    """Values for the secret variables `names`: from a terminal, asked one by one without echo; from a pipe,
    all of it for one secret (one final newline dropped), else one line each, in order."""
    if not names:
        return {}
    for name in names:
        validate_env_name(_secret_name(name))
    if len(set(names)) != len(names):
        raise InvalidSpec("a secret is named twice")
    stdin = stdin or sys.stdin
    if stdin.isatty():
        values = {name: prompt(f"value of {name} (not shown): ") for name in names}
    else:
        text = stdin.read()
        text = text[:-1] if text.endswith("\n") else text
        lines = [text] if len(names) == 1 else text.split("\n")
        if len(lines) != len(names):
            raise InvalidSpec(
                f"{len(names)} secrets need {len(names)} lines on stdin, one value each; got {len(lines)}"
            )
        values = dict(zip(names, lines, strict=True))
    values = {name: value.removesuffix("\r") for name, value in values.items()}
    for name, value in values.items():
        validate_secret_value(name, value)
    return values


def _secret_name(text: str) -> str:
    if "=" in text:  # what follows may be the value itself: never repeated, never used
        raise InvalidSpec("--secret takes a name only; its value is read from stdin or asked for")
    return text


def _gpus(text: str) -> tuple[str, ...]:
    gpus = ALL_GPUS if text == "all" else tuple(g.strip() for g in text.split(",") if g.strip())
    if not gpus:
        raise InvalidSpec("--gpu needs 'all' or a list of GPU indices or UUIDs")
    return gpus


def _idle(text: str) -> int | None:
    if text.strip().lower() in OFF:
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidSpec(f"--idle-stop needs a number of minutes or 'off', not {text[:20]!r}") from None


def with_settings(
    spec: NotebookSpec, args: argparse.Namespace, settings: Settings, editing: bool = False
) -> NotebookSpec:
    """`spec` with the options of `add_settings_options` applied (and, for a new notebook, the defaults
    from the preferences for what was not given)."""
    env = dict(spec.env)
    secret_names = list(spec.secret_names)
    for name in getattr(args, "unset_env", []):
        if env.pop(name, None) is None:
            raise InvalidSpec(f"'{spec.name}' has no variable {name}")
    for name in getattr(args, "remove_secret", []):
        if name not in secret_names:
            raise InvalidSpec(f"'{spec.name}' has no secret {name}")
        secret_names.remove(name)
    for path in args.env_file:
        env.update(read_env_file(path))
    env.update(parse_env_pair(item) for item in args.env)
    secret_names = [n for n in secret_names if n not in env]  # given as a plain value now
    for name in map(_secret_name, args.secret):
        env.pop(name, None)
        if name not in secret_names:
            secret_names.append(name)
    mounts = {m.container_path: m for m in spec.mounts}
    for target in getattr(args, "unmount", []):
        if mounts.pop(posixpath.normpath(target), None) is None and mounts.pop(target, None) is None:
            raise InvalidSpec(f"'{spec.name}' has no mount at {target}")
    for text in args.mount:
        mount = parse_mount(text, on_this_machine(spec.engine))
        mounts[mount.container_path] = mount
    changes: dict[str, object] = {
        "env": tuple(env.items()),
        "secret_names": tuple(secret_names),
        "mounts": tuple(mounts.values()),
        "extra_args": (() if getattr(args, "clear_server_args", False) else spec.extra_args) + tuple(args.server_arg),
    }
    if args.shm_size is not None:
        changes["shm_bytes"] = None if editing and args.shm_size == "default" else parse_shm(args.shm_size)
    elif not editing and spec.engine == "docker":
        changes["shm_bytes"] = settings.default_shm_bytes(spec.gpus)
    if args.idle_stop is not None:
        changes["idle_stop_minutes"] = _idle(args.idle_stop)
    elif not editing:
        changes["idle_stop_minutes"] = settings.default_idle_stop_minutes
    for field in ("stable_address", "survive_reboot"):
        if getattr(args, field) is not None:
            changes[field] = getattr(args, field)
    return dataclasses.replace(spec, **changes)  # type: ignore[arg-type]


def edited(spec: NotebookSpec, args: argparse.Namespace, settings: Settings) -> NotebookSpec:
    """The notebook's spec with what `labdock edit` was given; the rest as it was."""
    changes: dict[str, object] = {}
    if args.image:
        changes["image"] = args.image
    if args.cpu_only:
        changes["gpus"] = ()
    elif args.gpu is not None:
        changes["gpus"] = _gpus(args.gpu)
    if args.cpus is not None:
        changes["cpus"] = None if args.cpus.lower() in OFF else validate_cpus(_number(args.cpus))
    if args.memory is not None:
        changes["memory_bytes"] = None if args.memory.lower() in OFF else parse_memory(args.memory)
    if args.work_dir is not None:
        here = on_this_machine(spec.engine)  # a remote host's path is taken as written
        changes["work_dir"] = args.work_dir.expanduser().absolute() if here else args.work_dir
    if args.profile is not None:
        changes["profile"] = args.profile
    if args.network is not None:
        changes["network_mode"] = NetworkMode(args.network)
    if args.root is not None:
        changes["run_as_root"] = args.root
    spec = dataclasses.replace(spec, **changes)  # type: ignore[arg-type]
    return validate_spec(with_settings(spec, args, settings, editing=True))


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise InvalidSpec(f"invalid CPU limit {text[:20]!r}: use a number, e.g. 4 or 1.5, or 'none'") from None


# -- the commands --------------------------------------------------------------------------------------------


async def run_edit(
    args: argparse.Namespace, manager: NotebookManager, settings: Settings, secrets: dict[str, str]
) -> int:
    name = args.name
    if args.command == "edit":
        notebook = await manager.edit(name, edited(manager.get(name).spec, args, settings), secrets=secrets)
        print(f"'{name}' changed; the new settings apply from its next start (labdock start {name})")
    elif args.command == "duplicate":
        notebook = await manager.duplicate(name, args.new_name, same_work_dir=args.same_work_dir)
        print(f"'{notebook.name}' made from '{name}', stopped, work folder {notebook.spec.work_dir}")
    else:
        notebook = await manager.rename(name, args.new_name)
        print(f"'{name}' is now '{notebook.name}' (work folder {notebook.spec.work_dir})")
    return 0


# -- `labdock ls` ----------------------------------------------------------------------------------------------


def details(spec: NotebookSpec) -> str | None:
    """One compact line of what sets the notebook apart; secret variables by name only."""
    parts = []
    if spec.shm_bytes:
        parts.append(f"shm {format_bytes(spec.shm_bytes)}")
    parts += [f"mount {m.host_path}:{m.container_path}:{'ro' if m.read_only else 'rw'}" for m in spec.mounts]
    if spec.env:
        parts.append("env " + ",".join(name for name, _ in spec.env))
    if spec.secret_names:
        parts.append("secrets " + ",".join(spec.secret_names))
    if spec.stable_address:
        parts.append(f"stable address port {spec.stable_port}" if spec.stable_port else "stable address")
    if spec.idle_stop_minutes:
        parts.append(f"idle stop {spec.idle_stop_minutes} min")
    if spec.survive_reboot:
        parts.append("survives reboots")
    if spec.extra_args:
        parts.append(f"{len(spec.extra_args)} server args")
    return "  + " + "; ".join(parts) if parts else None


def with_details(table: str, notebooks: Sequence[Notebook]) -> str:
    """The table with a details line under each notebook that has any (the rows stay first-word parseable)."""
    by_name = {n.name: n for n in notebooks}
    lines = []
    for line in table.splitlines():
        lines.append(line)
        notebook = by_name.get(line.split(" ", 1)[0])
        extra = details(notebook.spec) if notebook is not None else None
        if extra:
            lines.append(extra)
    return "\n".join(lines)
