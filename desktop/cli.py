"""`labdock`: the notebook manager from a terminal. With no command it opens the window.

Every error a user can meet ends in one line on stderr and exit status 1 (2 for bad usage).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from desktop import cli_options
from desktop.cli_gpu import add_parser as add_gpu_parser
from desktop.cli_gpu import gpu_command
from desktop.cli_hosts import add_hosts_parser, hosts_command
from desktop.core.errors import EngineUnavailable, InvalidSpec, LabdockError
from desktop.core.models import ALL_GPUS, Notebook, NotebookSpec, NotebookState, on_this_machine
from desktop.core.validation import format_bytes, parse_memory, validate_cpus, validate_spec
from desktop.engines import profiles
from desktop.engines.ssh_hosts import host_label
from desktop.manager import NotebookManager, Removed
from desktop.services import Services, build_services
from desktop.store import SpecStore


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="labdock", description="JupyterLab notebooks in containers.")
    parser.add_argument(
        "--context", metavar="NAME", help="use this Docker context (see 'docker context ls'), whatever else is set"
    )
    sub = parser.add_subparsers(dest="command")
    new = sub.add_parser("new", help="create and start a notebook")
    new.add_argument("name")
    new.add_argument(
        "--gpu",
        nargs="?",
        const="all",
        default=None,
        metavar="all|0,2|UUID",
        help="use GPUs: all (default with --gpu) or a comma-separated list of indices/UUIDs",
    )
    new.add_argument("--image", help="container image (default from the preferences)")
    new.add_argument("--cpus", type=float, help="CPU limit, e.g. 4 or 1.5")
    new.add_argument("--memory", help="memory limit, e.g. 8g or 512m")
    new.add_argument("--work-dir", type=Path, help="folder mounted as the notebook's working directory")
    new.add_argument(
        "--profile", choices=profiles.PROFILES, default=profiles.AUTO, help="how to start JupyterLab in the image"
    )
    new.add_argument("--network", choices=("bridge", "host"), help="network mode (default from the preferences)")
    new.add_argument(
        "--engine",
        choices=("docker", "local"),
        help="docker (default) or local: JupyterLab as a process here, without Docker",
    )
    new.add_argument(
        "--root", action="store_true", help="run the container as root with Docker's default capabilities (less safe)"
    )
    new.add_argument(
        "--exclusive", action="store_true", help="reserve its GPUs: no other notebook may launch on them meanwhile"
    )
    new.add_argument("--host", metavar="NAME", help="run it on this remote Docker host (see 'labdock hosts'), over SSH")
    new.add_argument("--no-wait", action="store_true", help="return once the launch has begun")
    cli_options.add_settings_options(new)
    cli_options.add_parsers(sub)
    sub.add_parser("ls", help="list notebooks")
    url = sub.add_parser("url", help="print a notebook's URL with its token, for a browser")
    url.add_argument("name")
    start = sub.add_parser("start", help="start a stopped notebook again")
    start.add_argument("name")
    restart = sub.add_parser("restart", help="stop a notebook and start it again (same settings, a new token)")
    restart.add_argument("name")
    open_ = sub.add_parser(
        "open", help="open a notebook's tab in the Labdock window (without a display: print its URL)"
    )
    open_.add_argument("name")
    open_.add_argument("--browser", action="store_true", help="open it in the system browser instead")
    stop = sub.add_parser("stop", help="stop a notebook (or all)")
    target = stop.add_mutually_exclusive_group(required=True)
    target.add_argument("name", nargs="?")
    target.add_argument("--all", action="store_true")
    rm = sub.add_parser("rm", help="remove a notebook (its work folder is kept unless --delete-work)")
    rm.add_argument("name")
    rm.add_argument("--delete-work", action="store_true", help="also delete the work folder and its files")
    rm.add_argument(
        "--forget",
        action="store_true",
        help="for a notebook whose remote host does not answer: drop it here, leaving what is on the host",
    )
    logs = sub.add_parser("logs", help="print a notebook's server log")
    logs.add_argument("name")
    logs.add_argument("--tail", type=int, help="only the last N lines")
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    add_gpu_parser(sub)
    add_hosts_parser(sub)
    sub.add_parser("gui", help="open the window (the same as no command)")
    sub.add_parser("install-desktop", help="add Labdock to your desktop's applications menu")
    sub.add_parser("uninstall-desktop", help="remove Labdock from your desktop's applications menu")
    return parser


def _spec(args: argparse.Namespace, services: Services) -> NotebookSpec:
    settings = services.settings
    gpus: tuple[str, ...] = ()
    if args.gpu is not None:
        gpus = ALL_GPUS if args.gpu == "all" else tuple(g.strip() for g in args.gpu.split(",") if g.strip())
        if not gpus:
            raise InvalidSpec("--gpu needs 'all' or a list of GPU indices or UUIDs")
    if args.exclusive and not gpus:
        raise InvalidSpec("--exclusive reserves GPUs: add --gpu")
    image = args.image or (settings.default_gpu_image if gpus else settings.default_image)
    engine = args.engine or settings.default_engine
    if args.host is not None:
        if args.engine == "local":
            raise InvalidSpec("--host runs the notebook in Docker on that host: leave out --engine local")
        if args.host not in services.remotes:
            known = ", ".join(sorted(services.remotes)) or "none yet: labdock hosts add [NAME=][user@]host"
            raise InvalidSpec(f"no remote host named '{args.host}' (hosts: {known})")
        engine = args.host
    work_dir = None
    if args.work_dir is not None:  # a remote host's path is taken as written: ~ and relative mean its home
        work_dir = args.work_dir if args.host else args.work_dir.expanduser().absolute()
    return validate_spec(  # a wrong value is reported before Docker is even asked
        NotebookSpec(
            name=args.name,
            image=image,
            gpus=gpus,
            cpus=validate_cpus(args.cpus) if args.cpus is not None else None,
            memory_bytes=parse_memory(args.memory) if args.memory else None,
            work_dir=work_dir,
            profile=args.profile,
            network_mode=settings.network if args.network is None else type(settings.network)(args.network),
            engine=engine,
            run_as_root=args.root,
            exclusive_gpus=args.exclusive,
        )
    )


def _table(notebooks: Sequence[Notebook], unreachable: Mapping[str, str] | None = None) -> str:
    unreachable = unreachable or {}
    rows = [("NAME", "STATE", "HOST", "ENGINE", "GPU", "IMAGE", "URL")]
    for nb in sorted(notebooks, key=lambda n: n.name):
        image = nb.spec.image if nb.engine != "local" else "-"
        state = f"{nb.state.value} (root)" if nb.spec.run_as_root else nb.state.value
        if unreachable.get(nb.engine):
            state += " (host unreachable)"
        engine = nb.engine if on_this_machine(nb.engine) else "docker"
        rows.append((nb.name, state, host_label(nb.engine), engine, nb.spec.gpu_label, image, nb.url or "-"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False)) + "  " + row[-1] for row in rows
    )


async def _run(args: argparse.Namespace, services: Services) -> int:
    manager: NotebookManager = services.manager
    manager.subscribe_warnings(lambda _, warning: print(f"labdock: warning: {warning}", file=sys.stderr, flush=True))
    try:
        spec = _spec(args, services) if args.command == "new" else None
        if spec is not None:
            spec = validate_spec(cli_options.with_settings(spec, args, services.settings))
        secrets = cli_options.read_secrets(getattr(args, "secret", []))  # before Docker is asked
        if not await manager.refresh(await asyncio.to_thread(_engines_for, args, spec, services)):
            _without_docker(args, manager, spec)
        if args.command == "new":
            assert spec is not None
            notebook = await manager.create(spec, wait=not args.no_wait, secrets=secrets)
            if args.no_wait:
                await _until_container_started(notebook)
            return _report_launch(notebook, args.no_wait)
        if args.command == "start":
            return _report_launch(await manager.start(args.name), False)
        if args.command == "restart":
            return await _restart(manager, args.name)
        if args.command == "open":
            return await _open(services, args.name, args.browser)
        if args.command in cli_options.EDIT_COMMANDS:
            return await cli_options.run_edit(args, manager, services.settings, secrets)
        if args.command == "hosts":
            return await hosts_command(args, services)
        if args.command == "gpu":
            return await gpu_command(services, args.free, args.gpu)
        if args.command == "ls":
            print(cli_options.with_details(_table(manager.list(), manager.hosts.problems), manager.list()))
            for problem in manager.hosts.problems.values():
                print(f"labdock: warning: {problem}", file=sys.stderr)
            notice = await asyncio.to_thread(manager.secrets.notice)  # the fallback file says what it is
            if notice:
                print(notice)
            print(f"engine: {await services.engine_description()}")  # last, so rows stay first-word parseable
        elif args.command == "url":
            print(await manager.url_with_token(args.name), flush=True)
            if not on_this_machine(manager.get(args.name).engine):
                await _hold_tunnel(manager.get(args.name))
        elif args.command == "stop":
            if args.all:
                await manager.stop_all()
            else:
                await manager.stop(args.name)
        elif args.command == "rm" and args.forget:
            await manager.forget(args.name)
            print(f"forgot '{args.name}'; anything of it on its host stays there")
        elif args.command == "rm":
            removed = await _remove(manager, args.name, args.delete_work)
            if removed.kept_because is not None:
                print(f"removed '{args.name}'; its work folder {removed.work_dir} is kept: {removed.kept_because}")
            elif removed.work_dir is not None and not removed.work_deleted:
                print(f"removed '{args.name}'; its work folder is kept: {removed.work_dir}")
        elif args.command == "logs":
            await _logs(manager, args)
        return 0
    finally:
        await manager.close()


def _engines_for(args: argparse.Namespace, spec: NotebookSpec | None, services: Services) -> set[str] | None:
    """The engines a command needs answers from: a new notebook's, or the named notebook's as remembered, so
    a host that hangs holds back only the commands about it (and the listings); None: every engine."""
    if spec is not None:
        return {spec.engine}
    name = getattr(args, "name", None)
    if args.command in ("ls", "hosts", "gpu") or not isinstance(name, str):
        return None
    remembered = SpecStore(services.paths).load().get(name)
    return {remembered.engine} if remembered is not None else None


def _without_docker(args: argparse.Namespace, manager: NotebookManager, spec: NotebookSpec | None) -> None:
    """Docker does not answer: local notebooks still work; anything else gets the engine's one line."""
    problem = manager.engine_problem or "Docker is not reachable"
    elsewhere = {n.name for n in manager.list() if n.engine != "docker"}  # Local, or on a remote host
    if args.command == "ls":
        print(_table([n for n in manager.list() if n.name in elsewhere], manager.hosts.problems))
        raise EngineUnavailable(f"{problem} (only notebooks that do not use it are listed)")
    if (spec is not None and spec.engine != "docker") or getattr(args, "name", None) in elsewhere:
        return
    if args.command in ("gpu", "hosts"):  # local notebooks' kernels are still named (it says so itself)
        return
    raise EngineUnavailable(problem)


def _report_launch(notebook: Notebook, no_wait: bool) -> int:
    if notebook.state is NotebookState.FAILED:
        print(f"labdock: '{notebook.name}' failed to start: {notebook.error}", file=sys.stderr)
        return 1
    if no_wait:
        print(f"'{notebook.name}' is starting (see 'labdock ls')")
        return 0
    limits = []
    if notebook.spec.cpus:
        limits.append(f"{notebook.spec.cpus:g} CPUs")
    if notebook.spec.memory_bytes:
        limits.append(format_bytes(notebook.spec.memory_bytes))
    extra = f" ({', '.join(limits)})" if limits else ""
    if not on_this_machine(notebook.engine):
        print(f"'{notebook.name}' is ready on '{notebook.engine}'{extra}; open it with: labdock open {notebook.name}")
        return 0
    print(f"'{notebook.name}' is ready at {notebook.url}{extra}; open it with: labdock url {notebook.name}")
    return 0


async def _hold_tunnel(notebook: Notebook) -> None:
    """A remote notebook's URL is the local end of this process's SSH tunnel: keep it open until Ctrl-C."""
    print(
        f"labdock: this address reaches '{notebook.name}' on '{notebook.engine}' through SSH while this command "
        "runs; press Ctrl-C to close it (the Labdock window keeps its own: labdock open " + notebook.name + ")",
        file=sys.stderr,
        flush=True,
    )
    await asyncio.Event().wait()


async def _remove(manager: NotebookManager, name: str, delete_work: bool) -> Removed:
    try:
        return await manager.remove(name, delete_work=delete_work)
    except EngineUnavailable as exc:
        if on_this_machine(manager.get(name).engine):
            raise
        raise EngineUnavailable(f"{exc} (to drop it here anyway: labdock rm {name} --forget)") from exc


async def _restart(manager: NotebookManager, name: str) -> int:
    """Stop, then start with the same spec and work folder; the start makes a fresh token."""
    manager.get(name)  # an unknown name is reported before anything is stopped
    await manager.stop(name)
    return _report_launch(await manager.start(name), False)


OPEN_IN_NEW_WINDOW = -1  # `open` found no window to ask: main() starts one on that notebook


def _has_display() -> bool:
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


async def _open(services: Services, name: str, browser: bool) -> int:
    """The running window opens the tab (one that is still starting opens once ready); with no window
    one is started; without a display the URL is printed."""
    from desktop.ui import window_socket  # Qt-free

    manager = services.manager
    notebook = manager.get(name)
    if browser or not _has_display():
        url = await manager.url_with_token(name)  # says so when it is not running
        if not browser:
            print(url, flush=True)
        else:
            from desktop import browser_launch

            await asyncio.to_thread(
                browser_launch.open_in_browser, url, browser_launch.private_folder(services.paths.data_dir)
            )
        if not on_this_machine(notebook.engine):
            await _hold_tunnel(notebook)
        return 0
    if notebook.state in (NotebookState.STOPPING, NotebookState.STOPPED, NotebookState.FAILED):
        raise LabdockError(f"'{name}' is not running (it is {notebook.state.value}): labdock start {name}")
    if await asyncio.to_thread(window_socket.send, services.paths.data_dir, window_socket.open_message(name)):
        return 0
    return OPEN_IN_NEW_WINDOW


async def _until_container_started(notebook: Notebook) -> None:
    """With --no-wait this process still must not exit before the container runs on its own."""
    while notebook.state is not NotebookState.FAILED and notebook.container_id is None:
        await asyncio.sleep(0.02)


async def _logs(manager: NotebookManager, args: argparse.Namespace) -> None:
    notebook = manager.get(args.name)
    if args.follow and notebook.state.active:
        async for line in manager.follow_logs(args.name):
            print(line, flush=True)
        return
    text = await manager.logs(args.name, args.tail)
    if text:
        print(text.rstrip("\n"))


def _desktop_entry(install: bool) -> int:
    from desktop import desktop_entry

    try:
        paths = desktop_entry.install() if install else desktop_entry.uninstall()
    except OSError as exc:
        print(f"labdock: {exc}", file=sys.stderr)
        return 1
    for path in paths:
        print(path)
    return 0


def _log_to_file(path: Path) -> None:
    """Warnings and unexpected errors (with their traceback) go to a private file, so the terminal
    gets exactly one line per problem; LABDOCK_DEBUG=1 shows them on stderr as well."""
    handlers: list[logging.Handler] = []
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600))
        handlers.append(logging.FileHandler(path))
    except OSError:
        pass  # a read-only data folder must not stop the command
    if os.environ.get("LABDOCK_DEBUG"):
        handlers.append(logging.StreamHandler())
    logging.basicConfig(
        level=logging.INFO,
        format="%(asctime)s %(process)d %(levelname)s %(name)s: %(message)s",
        handlers=handlers or [logging.NullHandler()],
        force=True,
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in (None, "gui"):
        from desktop.app import main as gui_main  # Qt is loaded only for the window

        return gui_main()
    if args.command in ("install-desktop", "uninstall-desktop"):
        return _desktop_entry(args.command == "install-desktop")
    try:
        services = build_services(context=args.context)
        _log_to_file(services.paths.data_dir / "labdock.log")
        code = asyncio.run(_run(args, services))
        if code == OPEN_IN_NEW_WINDOW:
            from desktop.app import main as gui_main

            return gui_main(["--open", args.name])
        return code
    except LabdockError as exc:
        print(f"labdock: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug: one line for the user, the traceback only on request
        if os.environ.get("LABDOCK_DEBUG"):
            raise
        print(f"labdock: internal error: {exc!r} (run with LABDOCK_DEBUG=1 for details)", file=sys.stderr)
        return 70
