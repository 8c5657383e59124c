"""JupyterLab test images built offline (no registry), cached between runs.

Two images, one per image profile the app knows:
- PLAIN_IMAGE: `jupyter lab` on PATH, a uid-1000 user, tini as entrypoint;
- STACKS_IMAGE: the Jupyter docker-stacks layout (`start-notebook.py`, user jovyan, /home/jovyan/work).
The Debian rootfs and the wheels are cached under CACHE_DIR; image tags carry a hash of their recipe
so a changed recipe rebuilds and an unchanged one costs nothing.
"""

from __future__ import annotations

import hashlib
import io
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import docker
from docker.errors import ImageNotFound

from tests.support.dockerd import CACHE_DIR

BASE_IMAGE = "labdock-test/base:bookworm"
PYTHON_VERSION = "3.11.2"  # bookworm's python3
JUPYTERLAB_SPEC = "jupyterlab>=4,<5"

_LAB_DOCKERFILE = f"""\
FROM {BASE_IMAGE}
COPY wheels /wheels
RUN python3 -m venv /opt/venv \\
 && /opt/venv/bin/pip install --no-index --find-links /wheels '{JUPYTERLAB_SPEC}' \\
 && rm -rf /wheels /root/.cache
ENV PATH=/opt/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
"""

_PLAIN_DOCKERFILE = """\
FROM {lab}
RUN useradd --create-home --uid 1000 --shell /bin/bash lab
USER 1000
WORKDIR /home/lab
ENTRYPOINT ["tini", "-g", "--"]
CMD ["jupyter", "lab"]
"""

_START_NOTEBOOK = """\
#!/opt/venv/bin/python
# The docker-stacks entry point in miniature: `jupyter lab` plus NOTEBOOK_ARGS plus our arguments.
import os
import shlex
import sys

command = ["jupyter", os.environ.get("DOCKER_STACKS_JUPYTER_CMD", "lab")]
command += shlex.split(os.environ.get("NOTEBOOK_ARGS", ""))
command += sys.argv[1:]
os.execvp(command[0], command)
"""

_STACKS_SERVER_CONFIG = """\
import os
c = get_config()  # noqa: F821
c.ServerApp.ip = "0.0.0.0"
c.ServerApp.open_browser = False
c.ServerApp.port = int(os.environ.get("JUPYTER_PORT", "8888"))
"""

_STACKS_DOCKERFILE = """\
FROM {lab}
RUN useradd --create-home --uid 1000 --gid 100 --shell /bin/bash jovyan \\
 && mkdir -p /home/jovyan/work && chown 1000:100 /home/jovyan/work
COPY start-notebook.py /usr/local/bin/start-notebook.py
COPY jupyter_server_config.py /etc/jupyter/jupyter_server_config.py
RUN chmod 755 /usr/local/bin/start-notebook.py
ENV NB_USER=jovyan NB_UID=1000 NB_GID=100 HOME=/home/jovyan JUPYTER_PORT=8888
USER 1000
WORKDIR /home/jovyan
EXPOSE 8888
ENTRYPOINT ["tini", "-g", "--"]
CMD ["start-notebook.py"]
"""


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


LAB_TAG = _digest(_LAB_DOCKERFILE)
LAB_IMAGE = f"labdock-test/lab:{LAB_TAG}"
PLAIN_IMAGE = f"labdock-test/jupyterlab:{_digest(LAB_TAG, _PLAIN_DOCKERFILE)}"
STACKS_IMAGE = f"labdock-test/stacks:{_digest(LAB_TAG, _STACKS_DOCKERFILE, _START_NOTEBOOK, _STACKS_SERVER_CONFIG)}"


def _log(message: str) -> None:
    print(f"[test images] {message}", file=sys.stderr, flush=True)


def _has(client: docker.DockerClient, name: str) -> bool:
    try:
        client.images.get(name)
    except ImageNotFound:
        return False
    return True


def _rootfs_tarball() -> Path:
    tarball = CACHE_DIR / "bookworm-rootfs.tar"
    if tarball.exists():
        return tarball
    if shutil.which("debootstrap") is None:
        raise RuntimeError("debootstrap is missing: apt-get install debootstrap (the README's test command does)")
    root = CACHE_DIR / "rootfs"
    shutil.rmtree(root, ignore_errors=True)
    _log("debootstrap bookworm (about a minute, once)")
    subprocess.run(
        [
            "debootstrap",
            "--variant=minbase",
            "--include=python3,python3-venv,ca-certificates,tini",
            "bookworm",
            str(root),
        ],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    partial = tarball.with_suffix(".partial")
    subprocess.run(["tar", "-C", str(root), "-cf", str(partial), "."], check=True)
    partial.rename(tarball)
    shutil.rmtree(root, ignore_errors=True)
    return tarball


def _wheels() -> Path:
    wheels = CACHE_DIR / "wheels"
    marker = wheels / ".complete"
    if marker.exists():
        return wheels
    _log("downloading JupyterLab wheels (once)")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            JUPYTERLAB_SPEC,
            "--only-binary=:all:",
            "--python-version",
            PYTHON_VERSION,
            "--implementation",
            "cp",
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "any",
            "-d",
            str(wheels),
        ],
        check=True,
    )
    marker.touch()
    return wheels


def _build(client: docker.DockerClient, tag: str, dockerfile: str, files: dict[str, bytes | Path]) -> None:
    """Build from an in-memory context; the build runs with no network (none is needed)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as context:
        _add_bytes(context, "Dockerfile", dockerfile.encode())
        for name, content in files.items():
            if isinstance(content, Path):
                context.add(str(content), arcname=name)
            else:
                _add_bytes(context, name, content)
    buffer.seek(0)
    _log(f"building {tag}")
    client.images.build(fileobj=buffer, custom_context=True, tag=tag, network_mode="none", rm=True, forcerm=True)


def _add_bytes(context: tarfile.TarFile, name: str, content: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(content)
    info.mode = 0o644
    context.addfile(info, io.BytesIO(content))


def ensure_images(client: docker.DockerClient) -> None:
    """Make PLAIN_IMAGE and STACKS_IMAGE present in the engine, building only what is missing."""
    if _has(client, PLAIN_IMAGE) and _has(client, STACKS_IMAGE):
        return
    if not _has(client, LAB_IMAGE):
        if not _has(client, BASE_IMAGE):
            tarball = _rootfs_tarball()
            _log("importing the rootfs")
            repository, tag = BASE_IMAGE.split(":")
            client.api.import_image_from_file(str(tarball), repository=repository, tag=tag)
        _build(client, LAB_IMAGE, _LAB_DOCKERFILE, {"wheels": _wheels()})
    if not _has(client, PLAIN_IMAGE):
        _build(client, PLAIN_IMAGE, _PLAIN_DOCKERFILE.format(lab=LAB_IMAGE), {})
    if not _has(client, STACKS_IMAGE):
        _build(
            client,
            STACKS_IMAGE,
            _STACKS_DOCKERFILE.format(lab=LAB_IMAGE),
            {
                "start-notebook.py": _START_NOTEBOOK.encode(),
                "jupyter_server_config.py": _STACKS_SERVER_CONFIG.encode(),
            },
        )
