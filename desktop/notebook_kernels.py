"""The kernels of running notebooks, for the GPU dock and `labdock gpu`: which notebook file holds
which GPU process, and the actions that free it (interrupt, shut down, shut down the idle ones).

Reads the manager's rows; talks to each notebook's own server on loopback (desktop.jupyter_api) with
its token, read back from the engine for a server adopted without one.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterable

from desktop.core.errors import LabdockError
from desktop.core.models import Notebook, NotebookState
from desktop.gpu import GpuSample
from desktop.jupyter_api import Server
from desktop.kernel_actions import Freed, KernelAction, act, shut_down_idle
from desktop.kernels import GpuLine, KernelAttribution
from desktop.rows import Rows

log = logging.getLogger(__name__)


class NotebookKernels:
    def __init__(self, rows: Rows, known_token: Callable[[Notebook], Awaitable[str | None]]) -> None:
        self._rows = rows
        self._known_token = known_token
        self._attribution = KernelAttribution()

    async def lines(self, samples: Iterable[GpuSample]) -> tuple[GpuLine, ...]:
        """Each GPU process in `samples` with its notebook, kernel, notebook file and idle time."""
        samples = tuple(samples)
        if not any(sample.processes for sample in samples):
            return ()  # nothing to name: no engine or server is asked
        return await self._attribution.lines(samples, (await self._servers()).values())

    async def act(self, name: str, kernel_id: str, action: KernelAction) -> None:
        """Interrupt or shut down one kernel of a running notebook, through its server."""
        server = (await self._servers(name)).get(name)
        if server is None:
            raise LabdockError(f"'{name}' is not running (it is {self._rows.get(name).state.value})")
        await act(server, kernel_id, action)
        self._attribution.forget(name)

    async def shut_down_idle(self, lines: Iterable[GpuLine], idle_s: float, gpu_uuid: str | None = None) -> Freed:
        """Shut down the kernels among `lines` idle for `idle_s` seconds or more (on one GPU if given)."""
        freed = await shut_down_idle(lines, await self._servers(), idle_s, gpu_uuid)
        self._attribution.forget()
        return freed

    async def _servers(self, only: str | None = None) -> dict[str, Server]:
        """Ready notebooks' servers by name (one whose token cannot be had is left out)."""
        servers = {}
        for nb in self._rows.list():
            if nb.state is not NotebookState.READY or not nb.url or not nb.container_id or only not in (None, nb.name):
                continue
            try:
                token = await self._known_token(nb)
            except LabdockError as exc:
                log.info("no token for '%s': %s", nb.name, exc)
                continue
            if token is not None:
                servers[nb.name] = Server(nb.name, nb.container_id, nb.url, token)
        return servers
