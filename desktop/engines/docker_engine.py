"""The Docker engine: each notebook is one labelled container made through the docker SDK.

Docker is the record of what runs: every container carries `org.labdock.*` labels (the spec included)
and this installation's id, so a restarted Labdock finds and adopts its containers and nothing else.
Every SDK call is blocking and goes through `_call`, which runs it on a worker thread and turns
engine errors into one-line LabdockErrors.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
import requests
from docker.errors import APIError, DockerException, ImageNotFound, NotFound

from desktop.core.errors import EngineUnavailable, LabdockError, NotebookExists
from desktop.core.models import NetworkMode, NotebookSpec
from desktop.engines import profiles
from desktop.engines.base import LOG_TAIL_LINES, Exit, Found, PullProgress, Started
from desktop.engines.container_spec import (
    CONTAINER_PORT,
    LABEL,
    DockerSettings,
    container_config,
    container_env,
    exit_code_of,
    free_loopback_port,
    published_port,
    redact,
    split_tag,
)
from desktop.engines.pull import PullCancelled, follow_pull

log = logging.getLogger(__name__)
T = TypeVar("T")


class DockerEngine:
    name = "docker"

    def __init__(self, settings: DockerSettings) -> None:
        self.settings = settings
        self._client: docker.DockerClient | None = None
        self._gpus_via_cdi = False
        self._image_configs: dict[str, dict[str, Any]] = {}  # from prepare(), so start() needs no second look
        # Launches and stops of many notebooks overlap: more threads than the default pool of 2 cores.
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="docker")

    # -- the one way to call the SDK -------------------------------------------------------------

    def _docker(self) -> docker.DockerClient:
        if self._client is None:
            kwargs: dict[str, Any] = {"timeout": 60}
            if self.settings.base_url:
                self._client = docker.DockerClient(base_url=self.settings.base_url, **kwargs)
            else:
                self._client = docker.from_env(**kwargs)
        return self._client

    async def _call(self, fn: Callable[[docker.DockerClient], T]) -> T:
        """Run one blocking SDK call off the event loop; engine trouble becomes EngineUnavailable."""

        def run() -> T:
            try:
                return fn(self._docker())
            except (requests.ConnectionError, ConnectionError, FileNotFoundError) as exc:
                self._client = None
                raise EngineUnavailable(self._unreachable(exc)) from exc
            except DockerException as exc:
                if isinstance(exc, APIError | NotFound | ImageNotFound):
                    raise
                self._client = None
                raise EngineUnavailable(self._unreachable(exc)) from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def _unreachable(self, exc: BaseException) -> str:
        where = self.settings.base_url or os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"
        text = str(exc)
        if "Permission denied" in text or "PermissionError" in text:
            return (
                f"Docker at {where} refused access: add yourself to the 'docker' group "
                "(sudo usermod -aG docker $USER) and log in again"
            )
        return f"Docker is not reachable at {where}: is the Docker engine installed and running?"

    def container_name(self, name: str) -> str:
        return f"{self.settings.container_prefix}{name}"

    def _ours(self) -> dict[str, list[str]]:
        return {"label": [f"{LABEL}.managed=1", f"{LABEL}.install={self.settings.install_id}"]}

    # -- launch ----------------------------------------------------------------------------------

    async def prepare(self, spec: NotebookSpec, on_pull: PullProgress | None) -> None:
        await self._ensure_image(spec.image, on_pull)
        if spec.network_mode is NetworkMode.BRIDGE:
            networks = await self._call(lambda c: c.api.networks(names=["bridge"]))
            if not any(n.get("Name") == "bridge" for n in networks):
                raise LabdockError(
                    "this Docker engine has no 'bridge' network (dockerd runs with --bridge=none): "
                    "choose host network mode in the preferences, or enable Docker's bridge"
                )
        if spec.uses_gpu:
            await self._check_gpu_runtime()

    async def _image_config(self, image: str) -> dict[str, Any]:
        data = await self._call(lambda c: c.api.inspect_image(image))
        return dict(data.get("Config") or {})

    async def _ensure_image(self, image: str, on_pull: PullProgress | None) -> None:
        try:
            self._image_configs[image] = await self._image_config(image)
            return
        except (NotFound, ImageNotFound):
            pass
        if not self.settings.pull_missing:
            raise LabdockError(f"the image '{image}' is not on this machine (pull it first: docker pull {image})")
        cancel = threading.Event()
        try:
            await self._call(lambda c: self._pull(c, image, on_pull, cancel))
        except asyncio.CancelledError:
            cancel.set()  # the worker thread stops at the next event and closes the stream
            raise
        except PullCancelled:
            raise
        except (APIError, NotFound, LabdockError) as exc:
            raise LabdockError(
                f"the image '{image}' is not on this machine and could not be pulled: {_explain(exc)}"
            ) from exc

    def _pull(
        self, client: docker.DockerClient, image: str, on_pull: PullProgress | None, cancel: threading.Event
    ) -> None:
        repository, tag = split_tag(image)
        follow_pull(client.api.pull(repository, tag=tag, stream=True, decode=True), on_pull, cancel)

    async def _check_gpu_runtime(self) -> None:
        """Say how to fix an engine that cannot hand out GPUs now, not after a container fails."""
        info = await self._call(lambda c: c.info())
        runtimes = info.get("Runtimes") or {}
        cdi = info.get("CDISpecDirs") or []
        self._gpus_via_cdi = "nvidia" not in runtimes and bool(cdi)
        if "nvidia" not in runtimes and not cdi:
            raise LabdockError(
                "this Docker engine cannot give containers a GPU: install nvidia-container-toolkit, "
                "run 'sudo nvidia-ctk runtime configure --runtime=docker' and restart Docker"
            )

    async def start(self, spec: NotebookSpec, token: str) -> Started:
        config = self._image_configs.pop(spec.image, None) or await self._image_config(spec.image)
        profile_name = spec.profile
        if profile_name == profiles.AUTO:
            profile_name = profiles.detect(spec.image, config.get("Cmd"), config.get("Env"))
        profile = profiles.get(profile_name)
        host_mode = spec.network_mode is NetworkMode.HOST
        port = free_loopback_port() if host_mode else CONTAINER_PORT
        gpu_ids = await asyncio.to_thread(self._resolve_gpus, spec.gpus)
        kwargs = self.container_config(spec, token, profile, config, port, gpu_ids)
        try:
            container = await self._call(lambda c: c.containers.create(**kwargs))
        except APIError as exc:
            if exc.status_code == 409:
                raise NotebookExists(spec.name) from exc
            raise LabdockError(f"Docker could not create the container: {_explain(exc)}") from exc
        try:
            await self._call(lambda c: c.api.start(container.id))
            host_port = port if host_mode else await self._published_port(container.id)
        except (APIError, LabdockError) as exc:
            await self._call(lambda c: c.api.remove_container(container.id, force=True))
            reason = _explain(exc)
            if "executable file not found" in reason:
                program = kwargs["command"][0]
                raise LabdockError(
                    f"the image '{spec.image}' has no '{program}' command: choose an image with JupyterLab "
                    f"(or the '{profiles.PLAIN}'/'{profiles.DOCKER_STACKS}' profile that fits it)"
                ) from exc
            raise LabdockError(f"Docker could not start the container: {reason}") from exc
        return Started(container.id, f"http://127.0.0.1:{host_port}/")

    def _resolve_gpus(self, choice: tuple[str, ...]) -> tuple[str, ...]:
        if not choice or self.settings.gpu_resolver is None:
            return choice
        return self.settings.gpu_resolver(choice)

    def container_config(
        self,
        spec: NotebookSpec,
        token: str,
        profile: profiles.Profile,
        image_config: dict[str, Any],
        port: int,
        gpu_ids: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        return container_config(
            self.settings, spec, token, profile, image_config, port, gpu_ids, via_cdi=self._gpus_via_cdi
        )

    async def _published_port(self, container_id: str) -> int:
        data = await self._call(lambda c: c.api.inspect_container(container_id))
        port = published_port(data)
        if port is None:
            raise LabdockError("Docker did not publish the notebook's port")
        return port

    # -- watching --------------------------------------------------------------------------------

    async def exit_status(self, container_id: str) -> Exit | None:
        try:
            data = await self._call(lambda c: c.api.inspect_container(container_id))
        except NotFound:
            return Exit(-1, False, "the container was removed")
        state = data.get("State") or {}
        if state.get("Running") or state.get("Status") in ("created", "restarting"):
            return None
        tail = await self._call(lambda c: _log_text(c, container_id, data, tail=LOG_TAIL_LINES))
        return Exit(int(state.get("ExitCode", -1)), bool(state.get("OOMKilled")), tail.rstrip())

    async def token(self, container_id: str) -> str | None:
        data = await self._call(lambda c: c.api.inspect_container(container_id))
        return container_env(data).get("JUPYTER_TOKEN")

    async def find(self) -> list[Found]:
        rows = await self._call(lambda c: c.api.containers(all=True, filters=self._ours()))
        found = []
        for row in rows:
            labels = row.get("Labels") or {}
            try:
                spec = NotebookSpec.from_json(json.loads(labels[f"{LABEL}.spec"]))
            except (KeyError, ValueError, TypeError):
                log.warning("container %s carries no readable spec; left alone", row.get("Id", "")[:12])
                continue
            running = row.get("State") == "running"
            port: int | None = None
            if spec.network_mode is NetworkMode.HOST:
                port = int(labels.get(f"{LABEL}.port", "0")) or None
            else:
                port = next(
                    (
                        p.get("PublicPort")
                        for p in row.get("Ports") or []
                        if p.get("PrivatePort") == CONTAINER_PORT and p.get("PublicPort")
                    ),
                    None,
                )
            exit_code = exit_code_of(row.get("Status", "")) if not running else None
            found.append(
                Found(
                    spec=spec,
                    container_id=row["Id"],
                    running=running,
                    never_started=row.get("State") == "created",
                    url=f"http://127.0.0.1:{port}/" if running and port else None,
                    exit_code=exit_code,
                    created_at=float(labels.get(f"{LABEL}.created", row.get("Created", 0))),
                )
            )
        return found

    # -- stop, remove, logs ----------------------------------------------------------------------

    async def stop(self, name: str, timeout: float) -> None:
        cname = self.container_name(name)

        def stop(c: docker.DockerClient) -> None:
            with contextlib.suppress(NotFound):
                c.api.stop(cname, timeout=int(timeout))

        await self._call(stop)

    async def discard(self, name: str) -> str:
        cname = self.container_name(name)

        def logs_then_remove(c: docker.DockerClient) -> str:
            try:
                text = _log_text(c, cname, c.api.inspect_container(cname))
                c.api.remove_container(cname, force=True)
            except NotFound:
                return ""
            return text

        return await self._call(logs_then_remove)

    async def remove_leftover(self, name: str) -> None:
        cname = self.container_name(name)

        def remove(c: docker.DockerClient) -> None:
            try:
                c.api.remove_container(cname, force=True)
            except NotFound:
                pass
            except APIError as exc:
                if exc.status_code != 409:  # 409: removal already in progress
                    raise

        await self._call(remove)

    async def logs(self, name: str, tail: int | None) -> str | None:
        cname = self.container_name(name)

        def read(c: docker.DockerClient) -> str | None:
            try:
                return _log_text(c, cname, c.api.inspect_container(cname), tail=tail if tail is not None else "all")
            except NotFound:
                return None

        return await self._call(read)

    async def follow_logs(self, name: str) -> AsyncIterator[str]:
        """Yield log lines live; each blocking read of the stream runs on a worker thread."""
        cname = self.container_name(name)
        data = await self._call(lambda c: c.api.inspect_container(cname))
        token = container_env(data).get("JUPYTER_TOKEN")
        stream = await self._call(lambda c: c.api.logs(cname, stream=True, follow=True, tail=200))
        buffer = b""
        try:
            while True:
                chunk = await asyncio.get_running_loop().run_in_executor(self._pool, next, stream, None)
                if chunk is None:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    yield redact(line.decode(errors="replace"), token)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        if buffer:
            yield redact(buffer.decode(errors="replace"), token)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _log_text(client: docker.DockerClient, container: str, inspect: dict[str, Any], **options: Any) -> str:
    """The container's log, decoded, with its token redacted (`inspect` is where the token is read)."""
    text = client.api.logs(container, **options).decode(errors="replace")
    return redact(text, container_env(inspect).get("JUPYTER_TOKEN"))


def _explain(exc: BaseException) -> str:
    if isinstance(exc, APIError):
        return str(exc.explanation or exc)
    return str(exc)
