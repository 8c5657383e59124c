"""The Docker engine: each notebook is one labelled container made through the docker SDK.

Docker is the record of what runs: every container carries `org.labdock.*` labels (the spec included)
and this installation's id, so a restarted Labdock finds and adopts its containers and nothing else.
Every SDK call is blocking and goes through `_call`, which runs it on a worker thread and is the error
boundary: whatever the SDK raises leaves it as a one-line LabdockError (see docker_errors).
Every operation on an existing container first proves it is ours (labels, and the id the caller knows),
then acts on that container's full id, never on its name.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import threading
from collections.abc import AsyncIterator, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import docker
from docker.models.containers import _create_container_args

from desktop.core.errors import EngineTimeout, EngineUnavailable, LabdockError, NotebookExists, NotOurs
from desktop.core.models import NetworkMode, NotebookSpec
from desktop.core.spec_checks import validate_mounts
from desktop.core.validation import lower_case_problem
from desktop.engines import profiles
from desktop.engines.base import LOG_TAIL_LINES, Exit, Found, PullProgress, Started
from desktop.engines.bindings import Binding, Bindings
from desktop.engines.container_spec import (
    CONTAINER_PORT,
    SPARE_LABEL,
    DockerSettings,
    as_spare,
    check_stable_port,
    container_config,
    container_env,
    found_from_row,
    free_loopback_port,
    keep_id_mode,
    name_filter,
    named,
    ours_filter,
    ownership_problem,
    published_port,
    redact_hidden,
    split_tag,
)
from desktop.engines.docker_errors import (
    SDK_ERRORS,
    DockerRefused,
    to_labdock_error,
    with_context,
)
from desktop.engines.endpoint import Endpoint, EngineKind, identify, resolve
from desktop.engines.pull import PullCancelled, follow_pull

log = logging.getLogger(__name__)
T = TypeVar("T")
ABSENT, CONFLICT = 404, 409


class _APIClient(docker.APIClient):  # type: ignore[misc]
    """docker-py asks for a pull with no timeout at all: a hung engine would hold a launch for ever.
    Here a pull waits at most the client's timeout for each answer (progress events come far more often)."""

    def _post(self, url: str, **kwargs: Any) -> Any:
        if url.endswith("/images/create") and kwargs.get("timeout", 0) is None:
            kwargs["timeout"] = self.timeout
        return super()._post(url, **kwargs)


class _Client(docker.DockerClient):  # type: ignore[misc]
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.api = _APIClient(*args, **kwargs)


class DockerEngine:
    name = "docker"

    def __init__(self, settings: DockerSettings) -> None:
        self.settings = settings
        self._client: docker.DockerClient | None = None
        self._endpoint: Endpoint | None = None  # found again whenever the client is made again
        self._kind: EngineKind | None = None  # what answered there, from its /version
        self._gpus_via_cdi = False
        self._image_configs: dict[str, dict[str, Any]] = {}  # from prepare(), so start() needs no second look
        # Launches and stops of many notebooks overlap: more threads than the default pool of 2 cores.
        self._pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="docker")

    # -- the one way to call the SDK -------------------------------------------------------------

    def _docker(self) -> docker.DockerClient:
        """The client, made on first use and after the engine stopped answering: the endpoint is resolved
        again each time, so an engine started (or a context chosen) meanwhile is found. Blocking."""
        if self._client is None:
            settings = self.settings
            endpoint = resolve(settings.base_url, settings.context, chosen_in=settings.chosen_in)
            self._endpoint, self._kind = endpoint, None
            if endpoint.problem is not None:
                raise EngineUnavailable(endpoint.problem)
            client = self._new_client(endpoint)
            try:
                kind = identify(client.version())
                if kind.podman:  # rootless Podman needs keep-id for the work folder (see _create_container)
                    kind = dataclasses.replace(kind, rootless=bool(client.info().get("Rootless")))
                self._kind = kind
            except BaseException:
                with contextlib.suppress(*SDK_ERRORS):
                    client.close()
                raise
            self._client = client
        return self._client

    def _new_client(self, endpoint: Endpoint) -> docker.DockerClient:
        return _Client(base_url=endpoint.url, tls=endpoint.tls or False, timeout=self.settings.timeout)

    def _drop_client(self) -> None:
        """Forget the client, closing its pooled connections (over SSH each one holds a session)."""
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*SDK_ERRORS):
                client.close()

    def _where(self) -> str:
        return self._endpoint.where() if self._endpoint is not None else str(self.settings.base_url)

    @property
    def product(self) -> str:
        """What answered ("Docker" or "Podman"), else what is expected where Labdock looks."""
        if self._kind is not None:
            return self._kind.product
        return self._endpoint.product if self._endpoint is not None else "Docker"

    async def describe(self) -> str:
        """One line naming the engine in use ('Docker 28.1 via context desktop-linux (unix://…)'), or,
        while it does not answer, why and where it was looked for. Never raises."""
        try:
            await self._call(lambda c: c.ping())
        except LabdockError as exc:
            return str(exc)
        endpoint, kind = self._endpoint, self._kind
        if endpoint is None or kind is None:  # closed meanwhile
            return f"{self.product} (not connected)"
        return kind.line(endpoint)

    async def _call(
        self, fn: Callable[[docker.DockerClient], T], *, doing: str | None = None, image: str | None = None
    ) -> T:
        """Run one blocking SDK call off the event loop. Only LabdockErrors come out: an error answer as
        DockerRefused (with its status), trouble reaching the engine as EngineUnavailable/EngineTimeout."""

        def run() -> T:
            try:
                return fn(self._docker())
            except LabdockError:
                raise
            except SDK_ERRORS as exc:
                error = to_labdock_error(
                    exc,
                    where=self._where(),
                    timeout=self.settings.timeout,
                    doing=doing,
                    image=image,
                    product=self.product,
                )
                if not isinstance(error, DockerRefused):
                    self._drop_client()  # reconnect next time (the engine may have restarted)
                log.debug("docker call failed: %r -> %s", exc, error)
                raise error from exc
            except Exception as exc:  # an answer the SDK could not make sense of (or a bug: logged in full)
                log.exception("unexpected failure in a Docker call")
                raise LabdockError(f"Docker gave an answer Labdock cannot use ({type(exc).__name__})") from exc

        return await asyncio.get_running_loop().run_in_executor(self._pool, run)

    def container_name(self, name: str) -> str:
        return f"{self.settings.container_prefix}{name}"

    def _ours(self) -> dict[str, list[str]]:
        return ours_filter(self.settings.install_id)

    async def _named(self, name: str) -> dict[str, Any] | None:
        """The list row of the container carrying the notebook's name, whoever made it."""
        cname = self.container_name(name)
        rows = await self._call(lambda c: c.api.containers(all=True, filters=name_filter(cname)))
        return named(rows, cname)

    async def _resolve(self, name: str, container_id: str | None) -> str | None:
        """The full id of the notebook's container once it is proven ours; None when there is none.
        Raises NotOurs for a same-named container of someone else, or not the one the caller knows."""
        row = await self._named(name)
        if row is None:
            return None
        ident = str(row.get("Id", ""))
        problem = ownership_problem(
            self.container_name(name), row.get("Labels"), ident, self.settings.install_id, container_id
        )
        if problem is not None:
            raise NotOurs(problem)
        return ident

    async def _inspect_ours(self, container_id: str) -> dict[str, Any] | None:
        """inspect of a container the caller knows by id; None when it is gone, NotOurs when not ours."""
        try:
            data = await self._call(lambda c: c.api.inspect_container(container_id))
        except DockerRefused as exc:
            if exc.status == ABSENT:
                return None
            raise
        name = str(data.get("Name", "")).lstrip("/") or container_id[:12]
        labels = (data.get("Config") or {}).get("Labels")
        problem = ownership_problem(name, labels, str(data.get("Id", "")), self.settings.install_id, container_id)
        if problem is not None:
            raise NotOurs(problem)
        return dict(data)

    # -- launch ----------------------------------------------------------------------------------

    async def prepare(self, spec: NotebookSpec, on_pull: PullProgress | None) -> None:
        problem = lower_case_problem(spec.image)
        if problem is not None:
            raise LabdockError(problem)  # before Docker is asked: it would try an upper-case registry host
        if spec.mounts:  # a folder may have gone since the notebook was made: say which, not Docker's words
            await asyncio.to_thread(validate_mounts, spec.mounts)
        if spec.stable_port is not None and spec.network_mode is NetworkMode.HOST:
            await asyncio.to_thread(check_stable_port, spec)
        await self._ensure_image(spec.image, on_pull)
        if spec.network_mode is NetworkMode.BRIDGE:
            networks = await self._call(lambda c: c.api.networks(names=["bridge"]), doing="list its networks")
            if not any(n.get("Name") == "bridge" for n in networks):
                raise LabdockError(
                    "this Docker engine has no 'bridge' network (dockerd runs with --bridge=none): "
                    "choose host network mode in the preferences, or enable Docker's bridge"
                )
        if spec.uses_gpu:
            await self._check_gpu_runtime()

    async def _image_config(self, image: str) -> dict[str, Any] | None:
        """The image's config, or None when the image is not on this machine."""
        try:
            data = await self._call(lambda c: c.api.inspect_image(image), doing="read the image", image=image)
        except DockerRefused as exc:
            if exc.status == ABSENT:
                return None
            raise
        return dict(data.get("Config") or {})

    async def image_env_and_labels(self, image: str) -> tuple[dict[str, str], dict[str, str]] | None:
        """The image's environment and labels (None when it is not on this machine): where an image says
        which CUDA it needs (desktop.cuda_compat reads them)."""
        config = await self._image_config(image)
        if config is None:
            return None
        env = dict(item.split("=", 1) for item in config.get("Env") or [] if "=" in item)
        return env, {str(k): str(v) for k, v in (config.get("Labels") or {}).items()}

    async def _ensure_image(self, image: str, on_pull: PullProgress | None) -> None:
        config = await self._image_config(image)
        if config is not None:
            self._image_configs[image] = config
            return
        if not self.settings.pull_missing:
            raise LabdockError(f"the image '{image}' is not on this machine (pull it first: docker pull {image})")
        cancel = threading.Event()
        try:
            await self._call(lambda c: self._pull(c, image, on_pull, cancel), image=image)
        except asyncio.CancelledError:
            cancel.set()  # the worker thread stops at the next event and closes the stream
            raise
        except PullCancelled:
            raise
        except LabdockError as exc:
            raise with_context(exc, f"the image '{image}' is not on this machine and could not be pulled") from exc

    def _pull(
        self, client: docker.DockerClient, image: str, on_pull: PullProgress | None, cancel: threading.Event
    ) -> None:
        repository, tag = split_tag(image)
        follow_pull(client.api.pull(repository, tag=tag, stream=True, decode=True), on_pull, cancel)

    async def _check_gpu_runtime(self) -> None:
        """Say how to fix an engine that cannot hand out GPUs now, not after a container fails."""
        info = await self._call(lambda c: c.info(), doing="describe itself")
        if self.product == "Podman":
            # Podman's Docker API drops DeviceRequests without a word (CDI ones too, before Podman 5):
            # the notebook would start without its GPUs.
            raise LabdockError(
                "GPU notebooks need Docker: Podman's Docker API does not pass GPU requests to containers "
                "(use Docker with nvidia-container-toolkit, or a CPU notebook)"
            )
        runtimes = info.get("Runtimes") or {}
        cdi = info.get("CDISpecDirs") or []
        self._gpus_via_cdi = "nvidia" not in runtimes and bool(cdi)
        if "nvidia" not in runtimes and not cdi:
            raise LabdockError(
                "this Docker engine cannot give containers a GPU: install nvidia-container-toolkit, "
                "run 'sudo nvidia-ctk runtime configure --runtime=docker' and restart Docker"
            )

    async def start(
        self,
        spec: NotebookSpec,
        token: str,
        secret_env: Mapping[str, str] | None = None,
        spare_key: str | None = None,
    ) -> Started:
        """`spare_key`: start it as a spare (desktop.spares) with that match key, in spec.work_dir."""
        config = self._image_configs.pop(spec.image, None) or await self._image_config(spec.image)
        if config is None:
            raise LabdockError(f"the image '{spec.image}' is not on this machine (it was removed meanwhile)")
        profile_name = spec.profile
        if profile_name == profiles.AUTO:
            profile_name = profiles.detect(spec.image, config.get("Cmd"), config.get("Env"))
        profile = profiles.get(profile_name)
        host_mode = spec.network_mode is NetworkMode.HOST
        port = await self._host_mode_port(spec) if host_mode else CONTAINER_PORT
        gpu_ids = await asyncio.to_thread(self._resolve_gpus, spec.gpus)
        kwargs = self.container_config(spec, token, profile, config, port, gpu_ids, secret_env)
        if spare_key is not None and spec.work_dir is not None:
            kwargs = as_spare(kwargs, spare_key, spec.work_dir)
        container_id = await self._create(spec, kwargs)
        try:
            await self._call(lambda c: c.api.start(container_id), doing="start the container")
            host_port = port if host_mode else await self._published_port(container_id)
        except LabdockError as exc:
            with contextlib.suppress(LabdockError):  # the start's own error is the one to report
                await self._call(lambda c: c.api.remove_container(container_id, force=True))
            if "executable file not found" in str(exc):
                program = kwargs["command"][0]
                raise LabdockError(
                    f"the image '{spec.image}' has no '{program}' command: choose an image with JupyterLab "
                    f"(or the '{profiles.PLAIN}'/'{profiles.DOCKER_STACKS}' profile that fits it)"
                ) from exc
            raise
        return Started(container_id, f"http://127.0.0.1:{host_port}/")

    async def _host_mode_port(self, spec: NotebookSpec) -> int:
        """The loopback port JupyterLab binds in host network mode: the stable one, else a free one."""
        return spec.stable_port or free_loopback_port()

    async def _create(self, spec: NotebookSpec, kwargs: dict[str, Any]) -> str:
        """Create the container; a name already taken is NotebookExists when ours, NotOurs otherwise."""
        rootless_podman = self._kind is not None and self._kind.podman and self._kind.rootless
        userns = keep_id_mode(str(kwargs["user"])) if rootless_podman else None
        try:
            return await self._call(
                lambda c: _create_container(c, kwargs, userns), doing="create the container", image=spec.image
            )
        except DockerRefused as exc:
            if exc.status != CONFLICT:
                await self._tidy_failed_create(spec.name)
                raise
            try:
                ident = await self._resolve(spec.name, None)
            except NotOurs as foreign:
                raise NotOurs(f"{foreign}: pick another name for the notebook") from exc
            if ident is None:
                raise  # the conflict went away meanwhile: Docker's own words
            raise NotebookExists(spec.name) from exc
        except EngineTimeout:
            raise  # asking a hung engine again would double the wait; restore() removes a never-started one
        except LabdockError:
            await self._tidy_failed_create(spec.name)
            raise

    async def _tidy_failed_create(self, name: str) -> None:
        """An answer lost on the way (or the SDK's follow-up inspect failing) may leave a created container:
        the name was free before (no 409), so a container of ours with it now is this launch's own."""
        with contextlib.suppress(LabdockError):
            await self.remove_leftover(name)

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
        secret_env: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        return container_config(
            self.settings,
            spec,
            token,
            profile,
            image_config,
            port,
            gpu_ids,
            via_cdi=self._gpus_via_cdi,
            secret_env=secret_env,
        )

    async def _published_port(self, container_id: str) -> int:
        data = await self._call(lambda c: c.api.inspect_container(container_id), doing="describe the container")
        port = published_port(data)
        if port is None:
            raise LabdockError("Docker did not publish the notebook's port")
        return port

    # -- watching --------------------------------------------------------------------------------

    async def exit_status(self, container_id: str) -> Exit | None:
        data = await self._inspect_ours(container_id)
        if data is None:
            return Exit(-1, False, "the container was removed")
        state = data.get("State") or {}
        if state.get("Running") or state.get("Status") in ("created", "restarting"):
            return None
        try:
            tail = await self._call(lambda c: _log_text(c, container_id, data, tail=LOG_TAIL_LINES))
        except DockerRefused as exc:
            if exc.status != ABSENT:
                raise
            tail = ""
        return Exit(int(state.get("ExitCode", -1)), bool(state.get("OOMKilled")), tail.rstrip())

    async def token(self, container_id: str) -> str | None:
        data = await self._inspect_ours(container_id)
        return None if data is None else container_env(data).get("JUPYTER_TOKEN")

    async def find(self) -> list[Found]:
        """Our containers; one whose labels cannot be read is skipped with a warning. Any failure to list
        is EngineUnavailable: without the list the engine cannot be used for anything."""
        try:
            rows = await self._call(lambda c: c.api.containers(all=True, filters=self._ours()))
        except EngineUnavailable:
            raise
        except LabdockError as exc:
            raise EngineUnavailable(str(exc)) from exc
        found = []
        for row in rows:
            try:
                labels = row.get("Labels") or {}
                if SPARE_LABEL in labels:  # a spare is a notebook only once handed out (engines.bindings)
                    bound = self.handed_out(row)
                    if bound is not None:
                        found.append(found_from_row(row, bound.spec))
                    continue
                found.append(found_from_row(row))
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                ident = str(row.get("Id", ""))[:12] if isinstance(row, dict) else "?"
                log.warning("container %s carries unreadable Labdock labels (%s); left alone", ident, exc)
        return found

    # -- spares (desktop.spares decides; these only carry it out) ----------------------------------

    def handed_out(self, row: dict[str, Any]) -> Binding | None:
        """The binding of a spare's list row that was handed to a notebook: recorded and renamed to it."""
        if self.settings.bindings_dir is None:
            return None
        bound = Bindings(self.settings.bindings_dir).read(str(row.get("Id", "")))
        if bound is None or f"/{self.container_name(bound.spec.name)}" not in (row.get("Names") or []):
            return None
        return bound

    async def spare_rows(self) -> list[dict[str, Any]]:
        """The list rows of this installation's spare containers, handed out or not."""
        filters = self._ours()
        filters = {"label": [*filters["label"], SPARE_LABEL]}
        return list(await self._call(lambda c: c.api.containers(all=True, filters=filters), doing="list spares"))

    async def rename(self, container_id: str, name: str) -> None:
        """Give the container the notebook's container name (atomic in Docker)."""
        cname = self.container_name(name)
        await self._call(lambda c: c.api.rename(container_id, cname), doing="rename the container")

    async def update_limits(self, container_id: str, cpus: float | None, memory_bytes: int | None) -> None:
        """CPU and memory limits on a running container, as create() would have set them."""
        options: dict[str, Any] = {}
        if cpus:
            options.update(cpu_period=100_000, cpu_quota=int(cpus * 100_000))
        if memory_bytes:
            options.update(mem_limit=memory_bytes, memswap_limit=2 * memory_bytes)  # Docker's default swap
        if options:
            await self._call(lambda c: c.api.update_container(container_id, **options), doing="set its limits")

    async def memory_usage(self, container_id: str) -> int | None:
        """The container's memory use in bytes as Docker counts it (one sample), or None where it cannot tell."""

        def sample(c: docker.DockerClient) -> Any:
            one_shot = None if c.api._version < "1.41" else True  # older engines sample for a second instead
            return c.api.stats(container_id, stream=False, one_shot=one_shot)

        stats = await self._call(sample, doing="read its memory use")
        usage = (stats or {}).get("memory_stats", {}).get("usage")
        return int(usage) if isinstance(usage, int) else None

    async def remove_container(self, container_id: str) -> None:
        """Remove a container of ours by its full id (a spare: it has no notebook name)."""
        if await self._inspect_ours(container_id) is None:
            return
        try:
            await self._call(lambda c: c.api.remove_container(container_id, force=True), doing="remove a spare")
        except DockerRefused as exc:
            if exc.status not in (ABSENT, CONFLICT):
                raise

    # -- stop, remove, logs ----------------------------------------------------------------------

    async def stop(self, name: str, timeout: float, container_id: str | None = None) -> None:
        ident = await self._resolve(name, container_id)
        if ident is None:
            return
        try:
            await self._call(lambda c: c.api.stop(ident, timeout=int(timeout)), doing="stop the container")
        except DockerRefused as exc:
            if exc.status != ABSENT:
                raise

    async def discard(self, name: str, container_id: str | None = None) -> str:
        ident = await self._resolve(name, container_id)
        if ident is None:
            return ""

        def logs_then_remove(c: docker.DockerClient) -> str:
            text = _log_text(c, ident, c.api.inspect_container(ident))
            c.api.remove_container(ident, force=True)
            return text

        try:
            return await self._call(logs_then_remove, doing="remove the container")
        except DockerRefused as exc:
            if exc.status != ABSENT:
                raise
            return ""

    async def remove_leftover(self, name: str, container_id: str | None = None) -> None:
        ident = await self._resolve(name, container_id)
        if ident is None:
            return
        try:
            await self._call(lambda c: c.api.remove_container(ident, force=True), doing="remove the container")
        except DockerRefused as exc:
            if exc.status not in (ABSENT, CONFLICT):  # 409: its removal is already in progress
                raise

    async def logs(self, name: str, tail: int | None, container_id: str | None = None) -> str | None:
        ident = await self._resolve(name, container_id)
        if ident is None:
            return None
        options = {"tail": tail if tail is not None else "all"}
        try:
            return await self._call(
                lambda c: _log_text(c, ident, c.api.inspect_container(ident), **options), doing="read the log"
            )
        except DockerRefused as exc:
            if exc.status != ABSENT:
                raise
            return None

    async def follow_logs(self, name: str, container_id: str | None = None) -> AsyncIterator[str]:
        """Yield log lines live; each blocking read of the stream runs on a worker thread."""
        ident = await self._resolve(name, container_id)
        if ident is None:
            return
        data = await self._inspect_ours(ident)
        if data is None:
            return
        stream = await self._call(lambda c: c.api.logs(ident, stream=True, follow=True, tail=200), doing="read the log")
        buffer = b""
        try:
            while True:
                chunk = await self._call(lambda c: next(stream, None), doing="read the log")
                if chunk is None:
                    break
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    yield redact_hidden(line.decode(errors="replace"), data)
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                with contextlib.suppress(*SDK_ERRORS):
                    close()
        if buffer:
            yield redact_hidden(buffer.decode(errors="replace"), data)

    async def close(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(*SDK_ERRORS):
                client.close()
        self._pool.shutdown(wait=False, cancel_futures=True)


def _create_container(client: docker.DockerClient, kwargs: dict[str, Any], userns: str | None) -> str:
    """The container's id. `userns`: rootless Podman's keep-id mode (container_spec.keep_id_mode), without
    which the notebook's uid maps to a subordinate uid that cannot write the work folder. The SDK refuses
    any mode but "host", so its own translation of the arguments is used and that one field set after."""
    if userns is None:
        return str(client.containers.create(**kwargs).id)
    args = _create_container_args({**kwargs, "version": client.api._version})
    args["host_config"]["UsernsMode"] = userns
    return str(client.api.create_container(**args)["Id"])


def _log_text(client: docker.DockerClient, container: str, inspect: dict[str, Any], **options: Any) -> str:
    """The container's log, decoded, with its token and secrets redacted (`inspect` is where they are read)."""
    return redact_hidden(client.api.logs(container, **options).decode(errors="replace"), inspect)
