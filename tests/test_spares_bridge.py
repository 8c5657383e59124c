"""A spare in the default bridge mode: handed out with its published loopback port, adopted after a restart.

Bridge mode needs a Docker bridge, which only a network namespace of the run's own may have
(tests/support/netns.py): outside it, this test runs itself there and reports that run's outcome."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines.container_spec import SPARE_LABEL
from desktop.engines.readiness import http_status
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import TEST_PREFIX, Engine, arun, need, write_test_settings
from tests.support import netns

pytestmark = pytest.mark.docker
RUN_TIMEOUT_S = 400


@pytest.mark.timeout(RUN_TIMEOUT_S + 60)
def test_a_bridge_mode_spare_is_handed_out_and_adopted(
    request: pytest.FixtureRequest, docker_engine: Engine, images: object
) -> None:
    if not netns.inside():
        missing = netns.missing()
        need(missing is None, f"bridge mode cannot be tested: {missing}")
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", request.node.nodeid]
        run = netns.run_in_namespace(command, docker_engine.url, request.config.rootpath, RUN_TIMEOUT_S)
        assert run.returncode == 0 and "1 passed" in run.output, run.output[-8000:]
        assert run.namespace is not None and not run.leftovers, run.leftovers
        assert not Path("/sys/class/net", netns.NSBR).exists()
        return
    write_test_settings(request.getfixturevalue("labdock_home"), network_mode=NetworkMode.BRIDGE.value)

    async def scenario() -> None:
        services = build_services(Paths.default())
        assert services.manager.spares is not None
        await services.manager.spares.refill()
        rows = docker_engine.client.api.containers(filters={"label": SPARE_LABEL, "name": TEST_PREFIX})
        (spare_id,) = (row["Id"] for row in rows)
        image = images.plain  # type: ignore[attr-defined]
        notebook = await services.manager.create(NotebookSpec("bridged", image))
        assert notebook.state is NotebookState.READY, notebook.error
        assert notebook.container_id == spare_id
        assert notebook.url is not None and notebook.url.startswith("http://127.0.0.1:")
        assert await http_status(notebook.url, "api/status", notebook.token) == 200
        await services.manager.close()

        again = build_services(Paths.default()).manager
        await again.restore()
        adopted = again.get("bridged")
        assert (adopted.state, adopted.container_id, adopted.url) == (NotebookState.READY, spare_id, notebook.url)
        await again.remove("bridged")
        await again.close()

    arun(scenario())
