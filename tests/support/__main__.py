"""`python -m tests.support`: start the test engine if needed and build the test images (a warm-up).

Where a network namespace can be made (root, unshare, ip), the bridge-mode engine's copy of the images is
filled too, so the tests' namespace is ready in about a second.
"""

from __future__ import annotations

import sys
from pathlib import Path

import docker

from tests.support import netns
from tests.support.dockerd import existing_engine, start_private
from tests.support.images import PLAIN_IMAGE, STACKS_IMAGE, ensure_images


def main() -> None:
    url = existing_engine()
    daemon = None if url else start_private()
    try:
        base_url = url or daemon.base_url  # type: ignore[union-attr]
        client = docker.DockerClient(base_url=base_url, timeout=600)
        ensure_images(client)
        print(PLAIN_IMAGE, STACKS_IMAGE)
        missing = netns.missing()
        if missing is None:
            run = netns.run_in_namespace(["true"], base_url, Path(__file__).parents[2], timeout=600)
            print(run.output, end="")
            if run.returncode != 0:
                sys.exit(f"the bridge-mode engine could not be prepared (exit {run.returncode})")
        else:
            print(f"bridge-mode engine not prepared: {missing}")
    finally:
        if daemon is not None:
            daemon.stop()


if __name__ == "__main__":
    main()
