"""`python -m tests.support`: start the test engine if needed and build the test images (a warm-up)."""

from __future__ import annotations

import docker

from tests.support.dockerd import existing_engine, start_private
from tests.support.images import PLAIN_IMAGE, STACKS_IMAGE, ensure_images


def main() -> None:
    url = existing_engine()
    daemon = None if url else start_private()
    try:
        client = docker.DockerClient(base_url=url or daemon.base_url, timeout=600)  # type: ignore[union-attr]
        ensure_images(client)
        print(PLAIN_IMAGE, STACKS_IMAGE)
    finally:
        if daemon is not None:
            daemon.stop()


if __name__ == "__main__":
    main()
