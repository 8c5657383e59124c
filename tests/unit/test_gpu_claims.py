"""GPU claims between OS processes: a live launch's claim is seen by the others, per machine; a claim whose
process was killed counts for nothing and is removed; the machine's lock keeps two checks apart."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from desktop import gpu_claims
from desktop.core.errors import LeaseHeld
from desktop.core.models import NotebookSpec
from desktop.gpu_claims import GpuClaims
from tests.conftest import arun

HOLDER = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from desktop.core.models import NotebookSpec
    from desktop.gpu_claims import GpuClaims

    async def main():
        claims = GpuClaims(Path(sys.argv[1]))
        async with claims.locked(sys.argv[3]) as locked:
            locked.claim(NotebookSpec(sys.argv[2], "img", gpus=("0",), exclusive_gpus=True, engine=sys.argv[3]))
            print("claimed", flush=True)
            sys.stdin.readline()  # holding the lock too, until told
        print("unlocked", flush=True)
        sys.stdin.readline()  # the claim stays until this process ends

    asyncio.run(main())
    """
)


def holder(folder: Path, name: str, engine: str = "docker") -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(folder), name, engine],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "claimed"
    return process


def seen(claims: GpuClaims, engine: str) -> list[str]:
    async def look() -> list[str]:
        async with claims.locked(engine) as locked:
            return [notebook.name for notebook in locked.elsewhere]

    return arun(look(), timeout=60)


def test_claims_of_live_processes_count_per_machine_and_a_killed_ones_do_not(tmp_path: Path) -> None:
    folder = tmp_path / "gpus"
    claims = GpuClaims(folder)
    first, remote = holder(folder, "vision-2"), holder(folder, "far", engine="gpubox")
    try:
        for process in (first, remote):
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write("\n")
            process.stdin.flush()
            assert process.stdout.readline().strip() == "unlocked"
        assert seen(claims, "local") == ["vision-2"]  # Docker and Local notebooks share this machine's GPUs
        assert seen(claims, "gpubox") == ["far"]
        os.kill(first.pid, signal.SIGKILL)
        first.wait()
        assert seen(claims, "docker") == []
        assert len(list(folder.glob("*.claim"))) == 1  # the dead launch's claim is gone; the remote one stays
    finally:
        for process in (first, remote):
            process.kill()
            process.wait()


def test_the_machine_lock_keeps_a_second_check_waiting(tmp_path: Path) -> None:
    folder = tmp_path / "gpus"
    claims = GpuClaims(folder)
    process = holder(folder, "vision-2")  # still inside its lock

    async def check_while_held() -> list[str]:
        look = asyncio.ensure_future(asyncio.to_thread(seen, claims, "docker"))
        await asyncio.sleep(0.5)
        assert not look.done()  # waits for the other process's check to end
        assert process.stdin is not None
        process.stdin.write("\n")
        process.stdin.flush()
        return await look

    try:
        assert arun(check_while_held(), timeout=60) == ["vision-2"]
    finally:
        process.kill()
        process.wait()


def test_a_released_claim_is_gone(tmp_path: Path) -> None:
    claims = GpuClaims(tmp_path / "gpus")

    async def claim_and_release() -> None:
        async with claims.locked("docker") as locked:
            claim = locked.claim(NotebookSpec("mine", "img", gpus=("all",)))
        claim.release()
        claim.release()  # twice is harmless (the launch's end and an error path may both release)

    arun(claim_and_release(), timeout=30)
    assert seen(claims, "docker") == [] and not list((tmp_path / "gpus").glob("*.claim"))


def test_a_lock_held_too_long_is_said_in_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpu_claims, "LOCK_WAIT_S", 0.3)
    leases = tmp_path / "config" / "leases"
    claims = GpuClaims(leases / "gpus")
    process = holder(leases / "gpus", "vision-2")  # inside its lock until told
    try:
        with pytest.raises(LeaseHeld) as held:
            seen(claims, "local")
        assert str(held.value) == (
            "another Labdock window or command has been checking the GPUs of this machine for 0.3 s; try again"
        )
        assert stat.S_IMODE(leases.stat().st_mode) == 0o700  # claims carry specs: the user's folder only
    finally:
        process.kill()
        process.wait()
