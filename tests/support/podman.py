"""A Podman service for the tests: `podman system service` on a socket of its own, with its own storage.

Storage (and the test image, copied from the Docker test engine once: `docker save` into Podman's
/images/load) is kept under CACHE_DIR/podman, so later runs start in about a second. Podman's database
remembers its run root and tmp dir, so every service on that storage uses the same fixed ones, and test
sessions take the storage in turn (an exclusive flock held while their services run). LABDOCK_PODMAN_URL
names a Podman service to use instead (a user's own: then only the tests' own containers are removed).

On these machines Podman's runc cannot start a container: root lacks CAP_SYS_RESOURCE and Podman asks for
RLIMIT_NOFILE/NPROC above the hard limits ("error setting rlimit type 7"). `drop_rlimits=True` runs the
service with a wrapper runtime that deletes `process.rlimits` from each container's OCI config before runc
sees it; everything Labdock sends and reads still goes through Podman's own Docker API.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import docker
from docker.errors import DockerException, ImageNotFound

from tests.support.dockerd import CACHE_DIR, answers

STORAGE = CACHE_DIR / "podman"
FIXED_RUN = Path(f"/tmp/labdock-podman-{os.getuid()}")  # run root and tmp dir: the same for every service
LOG = CACHE_DIR / "podman-service.log"

_DROP_RLIMITS = """#!/bin/sh
# runc, after deleting process.rlimits from the bundle's config.json (see tests/support/podman.py).
bundle=""
previous=""
for arg in "$@"; do
    if [ "$previous" = "--bundle" ] || [ "$previous" = "-b" ]; then bundle="$arg"; fi
    previous="$arg"
done
if [ -n "$bundle" ] && [ -f "$bundle/config.json" ]; then
    {python} -c 'import json, sys
path = sys.argv[1]
config = json.load(open(path))
config.get("process", {{}}).pop("rlimits", None)
json.dump(config, open(path, "w"))' "$bundle/config.json" || exit 1
fi
exec {runc} "$@"
"""


@dataclass
class PodmanService:
    base_url: str
    process: subprocess.Popen[bytes] | None = None  # None: a service this session did not start
    folder: Path | None = None  # holds the socket (and the wrapper runtime)
    drops_rlimits: bool = False
    client: docker.DockerClient = field(init=False)

    def __post_init__(self) -> None:
        self.client = docker.DockerClient(base_url=self.base_url, timeout=120)

    @property
    def private(self) -> bool:
        return self.process is not None

    def remove_containers(self, prefix: str = "") -> None:
        """Remove the containers named with `prefix`; every one only on the private test storage."""
        if not prefix and not self.private:
            raise ValueError("only the private test storage may be emptied")
        for row in self.client.api.containers(all=True):
            if any(n.lstrip("/").startswith(prefix) for n in row.get("Names") or []):
                with contextlib.suppress(DockerException):
                    self.client.api.remove_container(row["Id"], force=True)

    def stop(self) -> None:
        if self.process is None:
            self.client.close()
            return
        try:
            with contextlib.suppress(DockerException):
                self.remove_containers()
            self.client.close()
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    self.process.kill()
                    self.process.wait()
            if self.folder is not None:
                shutil.rmtree(self.folder, ignore_errors=True)
        finally:
            _leave_storage()


_storage_fd: int | None = None
_storage_users = 0


def _take_storage() -> None:
    """Wait for the test storage; services of this process share their turn (a second flock would wait
    on the first one)."""
    global _storage_fd, _storage_users
    if _storage_users == 0:
        STORAGE.mkdir(parents=True, exist_ok=True)
        fd = os.open(STORAGE / "service.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX)
        _storage_fd = fd
    _storage_users += 1


def _leave_storage() -> None:
    global _storage_fd, _storage_users
    _storage_users -= 1
    if _storage_users == 0 and _storage_fd is not None:
        os.close(_storage_fd)
        _storage_fd = None


def external_url() -> str | None:
    return os.environ.get("LABDOCK_PODMAN_URL") or None


def missing() -> str | None:
    """Why no Podman service can be started here, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed (scripts/setup --test installs it: apt-get install podman)"
    return None


def storage_flags() -> list[str]:
    return [
        f"--root={STORAGE / 'storage'}",
        f"--runroot={FIXED_RUN / 'run'}",
        f"--tmpdir={FIXED_RUN / 'tmp'}",
    ]


def start_service(*, drop_rlimits: bool = False, timeout: float = 60.0) -> PodmanService:
    """Start a service on the shared test storage (waits for its turn); raises RuntimeError when it cannot.
    With LABDOCK_PODMAN_URL set, that service is used instead (`drop_rlimits` cannot apply to it)."""
    url = external_url()
    if url is not None:
        if not answers(url):
            raise RuntimeError(f"LABDOCK_PODMAN_URL={url} does not answer")
        return PodmanService(url)
    problem = missing()
    if problem is not None:
        raise RuntimeError(problem)
    _take_storage()
    folder = Path(tempfile.mkdtemp(prefix="ldp-", dir="/tmp"))  # short: a socket path must stay under 108 bytes
    try:
        runtime: list[str] = []
        if drop_rlimits:
            runtime = [f"--runtime={_wrapper_runtime(folder)}"]
        base_url = f"unix://{folder / 'podman.sock'}"
        command = [
            shutil.which("podman") or "podman",
            *storage_flags(),
            *runtime,
            "system",
            "service",
            "--time=0",
            base_url,
        ]
        with LOG.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not answers(base_url, timeout=1.0):
            if process.poll() is not None or time.monotonic() > deadline:
                with contextlib.suppress(ProcessLookupError):
                    process.kill()
                process.wait()
                raise RuntimeError(f"podman system service did not answer:\n{LOG.read_text(errors='replace')[-2000:]}")
            time.sleep(0.1)
        service = PodmanService(base_url, process, folder, drop_rlimits)
        if _storage_users == 1:
            service.remove_containers()  # a killed session's leftovers: the storage is this session's now
        return service
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        _leave_storage()
        raise


def _wrapper_runtime(folder: Path) -> Path:
    runc = shutil.which("runc") or "/usr/bin/runc"
    python = shutil.which("python3") or "/usr/bin/python3"
    wrapper = folder / "runc-without-rlimits"
    wrapper.write_text(_DROP_RLIMITS.format(python=python, runc=runc))
    wrapper.chmod(0o755)
    return wrapper


def load_images(service: PodmanService, source: docker.DockerClient, images: Iterable[str]) -> None:
    """Copy the images Podman lacks from the Docker engine (`docker save` streamed into /images/load)."""
    for image in images:
        try:
            service.client.api.inspect_image(image)
            continue
        except ImageNotFound:
            pass
        started = time.monotonic()
        service.client.api.load_image(source.api.get_image(image, chunk_size=1 << 20))
        service.client.api.inspect_image(image)  # loaded under the name Labdock will ask for
        print(f"podman: loaded {image} in {time.monotonic() - started:.1f} s", flush=True)
