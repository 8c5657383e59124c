"""The notebook settings for real work, without Docker: validation of each field, the stored form (old
records still load), the container arguments they become, and the GPU shared-memory rule."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from desktop.core.errors import InvalidSpec
from desktop.core.models import Mount, NetworkMode, NotebookSpec
from desktop.core.spec_checks import GIB, default_gpu_shm, parse_mount, parse_shm
from desktop.core.validation import validate_spec
from desktop.engines import profiles
from desktop.engines.container_spec import LABEL, DockerSettings, container_config, redact_hidden

SECRET = "s3cr3t-value-never-shown"


def spec(tmp_path: Path, **fields: object) -> NotebookSpec:
    return NotebookSpec(name="nb", image="img", work_dir=tmp_path, **fields)  # type: ignore[arg-type]


def refused(tmp_path: Path, message: str, **fields: object) -> None:
    with pytest.raises(InvalidSpec) as caught:
        validate_spec(spec(tmp_path, **fields))
    assert message in str(caught.value)
    assert len(str(caught.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"env": (("1BAD", "x"),)}, "invalid variable name"),
        ({"env": (("A-B", "x"),)}, "invalid variable name"),
        ({"env": (("", "x"),)}, "invalid variable name"),
        ({"env": (("A", "x\ny"),)}, "line break or NUL"),
        ({"env": (("A", "x\0y"),)}, "line break or NUL"),
        ({"env": (("A", "x" * 40000),)}, "longer than 32 KiB"),
        ({"env": (("A", "1"), ("A", "2"))}, "given twice"),
        ({"env": (("A", "1"),), "secret_names": ("A",)}, "plain and secret"),
        ({"env": (("JUPYTER_TOKEN", "x"),)}, "set by Labdock"),
        ({"env": (("NVIDIA_VISIBLE_DEVICES", "all"),)}, "set by Labdock"),
        ({"secret_names": ("bad name",)}, "invalid variable name"),
        ({"env": tuple((f"V{i}", "x" * 30000) for i in range(10))}, "add up to more than"),
        ({"shm_bytes": 0}, "at least 1m"),
        ({"shm_bytes": 1024**4 * 64}, "more than this machine's memory"),
        ({"idle_stop_minutes": 0}, "between 1 and"),
        ({"stable_port": 80}, "out of range"),
        ({"extra_args": ("--ServerApp.token=",)}, "is Labdock's to set"),
        ({"extra_args": ("--IdentityProvider.token=x",)}, "is Labdock's to set"),
        ({"extra_args": ("--ip=0.0.0.0",)}, "is Labdock's to set"),
        ({"extra_args": ("--ServerApp.disable_check_xsrf=True",)}, "is Labdock's to set"),
        ({"extra_args": ("--allow-root",)}, "is Labdock's to set"),
        ({"extra_args": ("rm",)}, "use options like"),
        ({"extra_args": ("--x=a\nb",)}, "line break"),
        ({"engine": "local", "shm_bytes": GIB}, "need the Docker engine"),
        ({"engine": "local", "survive_reboot": True}, "need the Docker engine"),
    ],
)
def test_bad_fields_are_refused_in_one_line(tmp_path: Path, fields: dict[str, object], message: str) -> None:
    refused(tmp_path, message, **fields)


def test_secret_values_never_appear_in_messages(tmp_path: Path) -> None:
    from desktop.core.spec_checks import validate_secret_values

    for value in (SECRET + "\n", SECRET + "\0", SECRET * 2000):
        with pytest.raises(InvalidSpec) as caught:
            validate_secret_values(("TOKEN",), {"TOKEN": value})
        assert SECRET not in str(caught.value) and "TOKEN" in str(caught.value)
    with pytest.raises(InvalidSpec, match="needs a value"):
        validate_secret_values(("TOKEN",), {}, complete=True)


def test_mount_checks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    data.mkdir()
    ok = validate_spec(spec(tmp_path, mounts=(Mount(data, "/data"), Mount(data, "/data3/", False))))
    assert len(ok.mounts) == 2
    refused(tmp_path, "does not exist", mounts=(Mount(tmp_path / "missing", "/data"),))
    refused(tmp_path, "not an absolute path", mounts=(Mount(Path("rel"), "/data"),))
    refused(tmp_path, "whole file system", mounts=(Mount(Path("/"), "/host"),))
    refused(tmp_path, "must be absolute", mounts=(Mount(data, "data"),))
    refused(tmp_path, "may not contain '..'", mounts=(Mount(data, "/a/../etc"),))
    refused(tmp_path, "belongs to the image's system", mounts=(Mount(data, "/usr/lib"),))
    refused(tmp_path, "belongs to the image's system", mounts=(Mount(data, "/"),))
    for target in ("/work", "/work/sub", "/home/jovyan/work", "/home/jovyan"):
        refused(tmp_path, "clashes with the work folder", mounts=(Mount(data, target),))
    refused(tmp_path, "two mounts go to /data", mounts=(Mount(data, "/data"), Mount(tmp_path, "/data/")))
    # The engine's socket, or a folder holding it, never goes into a notebook.
    engine_dir = tmp_path / "engine"
    engine_dir.mkdir()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(engine_dir / "docker.sock"))
        monkeypatch.setenv("DOCKER_HOST", f"unix://{engine_dir / 'docker.sock'}")
        refused(tmp_path, "container engine's socket", mounts=(Mount(engine_dir, "/data"),))
        refused(tmp_path, "container engine's socket", mounts=(Mount(engine_dir / "docker.sock", "/data"),))
        refused(tmp_path, "container engine's socket", mounts=(Mount(tmp_path, "/data"),))


def test_parsing_sizes_and_mounts(tmp_path: Path) -> None:
    assert parse_shm("2g") == 2 * GIB and parse_shm("512m") == 512 * 1024**2
    with pytest.raises(InvalidSpec, match="invalid shared memory size"):
        parse_shm("lots")
    assert parse_mount(f"{tmp_path}:/data") == Mount(tmp_path, "/data", True)
    assert parse_mount(f"{tmp_path}:/data:rw") == Mount(tmp_path, "/data", False)
    assert parse_mount("~/x:/data:ro").host_path == Path.home() / "x"
    for bad in ("/a", "/a:/b:rx", ":/b", "/a:"):
        with pytest.raises(InvalidSpec, match="invalid mount"):
            parse_mount(bad)


def test_gpu_shared_memory_rule() -> None:
    assert default_gpu_shm(64 * GIB) == 16 * GIB  # capped
    assert default_gpu_shm(16 * GIB) == 8 * GIB  # half of RAM
    assert default_gpu_shm(3 * GIB) == 3 * GIB // 2
    assert default_gpu_shm(2 * GIB) == GIB  # the floor
    assert default_gpu_shm(1 * GIB) == GIB // 2  # never more than half of a small machine


def test_stored_form_round_trips_and_old_records_load(tmp_path: Path) -> None:
    full = spec(
        tmp_path,
        env=(("B", "2"), ("A", "1")),
        secret_names=("HF_TOKEN",),
        shm_bytes=GIB,
        mounts=(Mount(tmp_path, "/data"), Mount(tmp_path, "/out", False)),
        stable_address=True,
        stable_port=40000,
        idle_stop_minutes=30,
        survive_reboot=True,
        extra_args=("--ServerApp.iopub_data_rate_limit=1e10",),
    )
    stored = json.loads(json.dumps(full.to_json(), sort_keys=True))  # as in the label: sorted keys
    assert NotebookSpec.from_json(stored) == full
    old = {"name": "old", "image": "img", "gpus": [], "cpus": None, "memory_bytes": None, "work_dir": "/w"}
    loaded = NotebookSpec.from_json(old)
    assert loaded.env == () and loaded.mounts == () and loaded.shm_bytes is None and not loaded.survive_reboot
    assert NotebookSpec.from_json({**old, "unknown_later_field": 1}).name == "old"


def test_container_arguments(tmp_path: Path) -> None:
    settings = DockerSettings(install_id="i" * 16, uid=1000)
    data = tmp_path / "data"
    full = spec(
        tmp_path,
        env=(("PLAIN", "visible"), ("HOME", "/home/x")),
        secret_names=("HF_TOKEN",),
        shm_bytes=2 * GIB,
        mounts=(Mount(data, "/data"), Mount(tmp_path, "/out", False)),
        survive_reboot=True,
        stable_port=40001,
        extra_args=("--ServerApp.iopub_data_rate_limit=1e10", "--ServerApp.port=1"),
    )
    profile = profiles.get(profiles.PLAIN)
    kwargs = container_config(settings, full, "tok", profile, {}, 8888, secret_env={"HF_TOKEN": SECRET})
    env = kwargs["environment"]
    assert env["PLAIN"] == "visible" and env["HF_TOKEN"] == SECRET and env["JUPYTER_TOKEN"] == "tok"
    assert env["HOME"] == "/home/x"  # the user's HOME wins over the fallback
    assert kwargs["shm_size"] == 2 * GIB
    assert kwargs["restart_policy"] == {"Name": "unless-stopped"}
    assert kwargs["ports"] == {"8888/tcp": ("127.0.0.1", 40001)}
    mounts = {m["Target"]: m for m in kwargs["mounts"]}
    assert mounts["/data"]["ReadOnly"] is True and mounts["/data"]["Source"] == str(data)
    assert mounts["/out"]["ReadOnly"] is False and mounts["/data"]["Type"] == "bind"
    command = kwargs["command"]
    # The user's arguments come before Labdock's, which therefore win (the last one counts).
    assert command.index("--ServerApp.port=1") < command.index("--ServerApp.port=8888")
    assert command.index("--ServerApp.iopub_data_rate_limit=1e10") < command.index("--ServerApp.ip=0.0.0.0")
    assert command[-len(profiles.COMMON_ARGS) :] == list(profiles.COMMON_ARGS)
    labels = json.dumps(kwargs["labels"])
    assert SECRET not in labels and "HF_TOKEN" in labels
    plain = container_config(settings, spec(tmp_path), "tok", profile, {}, 8888)
    assert "shm_size" not in plain and "mounts" not in plain and "restart_policy" not in plain
    assert plain["ports"] == {"8888/tcp": ("127.0.0.1", None)}


def test_logs_are_redacted_of_token_and_secrets(tmp_path: Path) -> None:
    labels = {f"{LABEL}.spec": json.dumps(spec(tmp_path, secret_names=("HF_TOKEN",)).to_json())}
    inspect = {"Config": {"Env": ["JUPYTER_TOKEN=tok123", f"HF_TOKEN={SECRET}", "PLAIN=p"], "Labels": labels}}
    text = redact_hidden(f"url ?token=tok123 and {SECRET} and p", inspect)
    assert text == "url ?token=<token> and <secret> and p"


def test_host_mode_keeps_its_stable_port(tmp_path: Path) -> None:
    settings = DockerSettings(install_id="i" * 16, uid=1000)
    host = spec(tmp_path, network_mode=NetworkMode.HOST, stable_port=40002)
    kwargs = container_config(settings, host, "tok", profiles.get(profiles.PLAIN), {}, 40002)
    assert "--ServerApp.port=40002" in kwargs["command"] and kwargs["labels"][f"{LABEL}.port"] == "40002"
