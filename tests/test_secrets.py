"""Environment variables and secrets through the CLI on the real engine: visible inside the notebook (its
kernel reads them), and the secret values nowhere else: not in any file under the Labdock home but the
fallback secret file (0600, saying what it is), not in `labdock ls`, the container's labels or the logs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from desktop.secrets import FALLBACK_NOTE
from tests.conftest import TEST_PREFIX, Engine, arun
from tests.test_lifecycle import execute, start_kernel, token_of

pytestmark = pytest.mark.docker

HF = "hf_Secret_Value_4f9c2a"
AWS = "aws/Secret+Value=7b1e"


def labdock(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "desktop", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=120,
        env=dict(os.environ),
    )


def files_with(root: Path, *needles: str) -> list[Path]:
    found = []
    for path in root.rglob("*"):
        if path.is_file() and not path.is_symlink():
            data = path.read_bytes()
            if any(needle.encode() in data for needle in needles):
                found.append(path)
    return found


def test_env_and_secrets_reach_the_notebook_and_nothing_else(
    labdock_home: Path, images, docker_engine: Engine, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("LABDOCK_SECRETS", "file")  # no Secret Service here: the fallback, explicitly
    env_file = tmp_path / "train.env"
    env_file.write_text("# training run\nEPOCHS=3\n\nWANDB_MODE=offline\n")
    made = labdock(
        "new", "keys", "--image", images.plain, "--env", "PLAIN=plain value", "--env-file", str(env_file),
        "--secret", "HF_TOKEN", "--secret", "AWS_SECRET_ACCESS_KEY",
        stdin=f"{HF}\n{AWS}\n",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    url = labdock("url", "keys").stdout.strip()
    base, token = url.split("lab?", 1)[0], token_of(url)

    async def in_kernel() -> str:
        kernel = await start_kernel(base, token)
        code = (
            "import os, sys\n"
            "names = 'PLAIN', 'EPOCHS', 'WANDB_MODE', 'HF_TOKEN', 'AWS_SECRET_ACCESS_KEY'\n"
            "print(*(os.environ[k] for k in names), sep='|')\n"
            "print('leak', *(os.environ[k] for k in names[3:]), file=sys.__stderr__, flush=True)"
        )
        return await execute(base, token, kernel, code)

    assert f"plain value|3|offline|{HF}|{AWS}" in arun(in_kernel()).splitlines()

    container = docker_engine.client.containers.get(f"{TEST_PREFIX}keys")
    labels = json.dumps(container.labels)
    assert HF not in labels and AWS not in labels
    assert json.loads(container.labels["org.labdock.spec"])["secret_names"] == ["HF_TOKEN", "AWS_SECRET_ACCESS_KEY"]

    listed = labdock("ls")
    assert listed.returncode == 0 and HF not in listed.stdout and AWS not in listed.stdout
    lines = listed.stdout.splitlines()
    detail = lines[lines.index(next(line for line in lines if line.startswith("keys "))) + 1]
    assert "env EPOCHS,WANDB_MODE,PLAIN" in detail and "secrets HF_TOKEN,AWS_SECRET_ACCESS_KEY" in detail
    assert any(line.startswith("secrets: kept in ") for line in lines) and lines[-1].startswith("engine: ")

    logs = labdock("logs", "keys")  # the kernel printed them to the server's log: redacted
    assert "leak <secret> <secret>" in logs.stdout and HF not in logs.stdout and AWS not in logs.stdout
    assert labdock("stop", "keys").returncode == 0
    assert "leak <secret> <secret>" in (labdock_home / "data" / "logs" / "keys.log").read_text()

    secret_file = labdock_home / "config" / "secrets.json"
    assert files_with(labdock_home, HF, AWS) == [secret_file]
    assert oct(secret_file.stat().st_mode & 0o777) == "0o600"
    assert json.loads(secret_file.read_text())["note"] == FALLBACK_NOTE
    assert "secret values are kept" in (labdock_home / "data" / "labdock.log").read_text()  # the log says so

    assert labdock("rm", "keys").returncode == 0
    assert files_with(labdock_home, HF, AWS) == []  # removed with its notebook


def test_a_secret_is_never_taken_from_the_command_line(labdock_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LABDOCK_SECRETS", "file")
    result = labdock("new", "argv", "--secret", f"HF_TOKEN={HF}", stdin=HF)
    assert result.returncode == 1 and "takes a name only" in result.stderr and HF not in result.stderr
