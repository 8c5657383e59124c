"""GPU requests reach Docker exactly: by UUID, via CDI when so set up, with clear errors before launch."""

from __future__ import annotations

from pathlib import Path

import pytest

from desktop.core.errors import InvalidSpec
from desktop.core.models import NetworkMode, NotebookSpec, NotebookState
from desktop.engines import profiles
from desktop.engines.container_spec import DockerSettings
from desktop.engines.docker_engine import DockerEngine
from desktop.gpu import Nvml, resolve_gpus
from desktop.services import build_services
from desktop.store import Paths
from tests.conftest import TEST_PREFIX, Engine, arun
from tests.gpu.fake_nvml import FakeNvml, make_gpus

pytestmark = pytest.mark.docker


def gpu_spec(name: str, image: str, gpus: tuple[str, ...], work: Path) -> NotebookSpec:
    return NotebookSpec(name, image, gpus=gpus, work_dir=work, network_mode=NetworkMode.HOST)


def engine_with(fake: FakeNvml, via_cdi: bool = False) -> DockerEngine:
    nvml = Nvml()
    engine = DockerEngine(
        DockerSettings(
            install_id="t",
            container_prefix=TEST_PREFIX,
            gpu_resolver=lambda choice: resolve_gpus(choice, nvml.inventory()),
        )
    )
    engine._gpus_via_cdi = via_cdi
    return engine


def test_create_call_carries_device_request_by_uuid(
    fake_nvml: FakeNvml, docker_engine: Engine, images, tmp_path: Path
) -> None:
    fake_nvml.gpus = make_gpus(3)
    engine = engine_with(fake_nvml)
    chosen = engine._resolve_gpus(("0,2",))
    assert chosen == (fake_nvml.gpus[0].uuid, fake_nvml.gpus[2].uuid)
    spec = gpu_spec("gpu-config", images.plain, ("0", "2"), tmp_path)
    kwargs = engine.container_config(spec, "t" * 43, profiles.get(profiles.PLAIN), {}, 9, chosen)
    container = docker_engine.client.containers.create(**kwargs)  # created, not started: no GPU here
    try:
        requests = docker_engine.client.api.inspect_container(container.id)["HostConfig"]["DeviceRequests"]
        assert requests == [
            {"Driver": "", "Count": 0, "DeviceIDs": list(chosen), "Capabilities": [["gpu"]], "Options": {}}
        ]
        assert container.labels["org.labdock.gpus"] == "0,2"
    finally:
        container.remove(force=True)


def test_cdi_engines_get_cdi_device_names(fake_nvml: FakeNvml, images, tmp_path: Path) -> None:
    fake_nvml.gpus = make_gpus(2)
    engine = engine_with(fake_nvml, via_cdi=True)
    uuid = fake_nvml.gpus[1].uuid
    kwargs = engine.container_config(
        gpu_spec("cdi", images.plain, ("1",), tmp_path), "t" * 43, profiles.get(profiles.PLAIN), {}, 9, (uuid,)
    )
    request = kwargs["device_requests"][0]
    assert request["Driver"] == "cdi" and request["DeviceIDs"] == [f"nvidia.com/gpu={uuid}"]


def test_engine_without_nvidia_runtime_says_how_to_fix(
    fake_nvml: FakeNvml, labdock_home: Path, images, docker_engine: Engine
) -> None:
    fake_nvml.gpus = make_gpus(1)

    async def scenario() -> None:
        manager = build_services(Paths.default()).manager
        notebook = await manager.create(NotebookSpec("gpu", images.plain, gpus=("0",), network_mode=NetworkMode.HOST))
        assert notebook.state is NotebookState.FAILED
        assert "nvidia-container-toolkit" in (notebook.error or "")
        await manager.close()

    arun(scenario())
    assert not [c for c in docker_engine.client.containers.list(all=True) if c.name.startswith(TEST_PREFIX)]


@pytest.mark.parametrize(
    ("gpus", "choice", "message"),
    [(2, ("5",), "no GPU 5 on this machine"), (0, ("all",), "no GPU to give the notebook")],
)
def test_gpu_that_is_not_here_is_refused_before_anything_is_made(
    fake_nvml: FakeNvml, labdock_home: Path, images, gpus: int, choice: tuple[str, ...], message: str
) -> None:
    fake_nvml.gpus = make_gpus(gpus)

    async def scenario() -> None:
        manager = build_services(Paths.default()).manager
        with pytest.raises(InvalidSpec, match=message):
            await manager.create(NotebookSpec("gpu", images.plain, gpus=choice, network_mode=NetworkMode.HOST))
        assert manager.list() == []
        await manager.close()

    arun(scenario())
    assert not (labdock_home / "config" / "notebooks.json").exists()


def test_nvml_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, labdock_home: Path, images) -> None:
    import pynvml

    FakeNvml(init_error=pynvml.NVMLError_LibraryNotFound).install(monkeypatch.setattr)

    async def scenario() -> None:
        manager = build_services(Paths.default()).manager
        with pytest.raises(InvalidSpec, match="no GPU to give the notebook"):
            await manager.create(NotebookSpec("gpu", images.plain, gpus=("all",), network_mode=NetworkMode.HOST))
        await manager.close()

    arun(scenario())
