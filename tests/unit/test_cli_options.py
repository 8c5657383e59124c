"""The CLI's settings options without Docker: secrets from a pipe or a prompt, env files, the preferences'
defaults for a new notebook, `edit`'s changes, and the compact `ls` line."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import pytest

from desktop.cli import _parser
from desktop.cli_options import details, edited, read_env_file, read_secrets, with_settings
from desktop.core.errors import InvalidSpec
from desktop.core.models import Mount, NotebookSpec
from desktop.core.spec_checks import GIB
from desktop.settings import Settings


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def parse(*argv: str) -> argparse.Namespace:
    return _parser().parse_args(list(argv))


def test_secret_values_come_from_a_pipe_or_a_prompt() -> None:
    assert read_secrets(["A"], io.StringIO("only one\n")) == {"A": "only one"}
    assert read_secrets(["A", "B"], io.StringIO("first\r\nsecond\n")) == {"A": "first", "B": "second"}
    with pytest.raises(InvalidSpec, match="2 secrets need 2 lines"):
        read_secrets(["A", "B"], io.StringIO("one\n"))
    with pytest.raises(InvalidSpec, match="line break"):
        read_secrets(["A"], io.StringIO("two\nlines\n"))
    asked: list[str] = []
    values = read_secrets(["A"], Tty(), prompt=lambda text: asked.append(text) or "typed")  # type: ignore[func-returns-value]
    assert values == {"A": "typed"} and asked == ["value of A (not shown): "]
    with pytest.raises(InvalidSpec, match="empty"):
        read_secrets(["A"], Tty(), prompt=lambda text: "")


def test_env_file(tmp_path: Path) -> None:
    path = tmp_path / "x.env"
    path.write_text("# comment\n\n  A=1\nB= spaced value \nC=a=b\n")
    assert read_env_file(path) == [("A", "1"), ("B", " spaced value "), ("C", "a=b")]
    path.write_text("A=1\nNOVALUE\n")
    with pytest.raises(InvalidSpec, match="line 2: expected KEY=VALUE"):
        read_env_file(path)


def test_new_notebook_defaults_from_the_preferences(tmp_path: Path) -> None:
    settings = Settings(default_idle_stop_minutes=45, gpu_shm_size="8g")
    base = NotebookSpec("nb", "img", gpus=("0",))
    spec = with_settings(base, parse("new", "nb", "--secret", "HF", "--env", "HF=plain"), settings)
    assert spec.shm_bytes == 8 * GIB and spec.idle_stop_minutes == 45
    assert spec.secret_names == ("HF",) and spec.env == ()  # the secret wins over a plain value of that name
    cpu = with_settings(NotebookSpec("nb", "img"), parse("new", "nb", "--idle-stop", "off"), settings)
    assert cpu.shm_bytes is None and cpu.idle_stop_minutes is None
    auto = with_settings(base, parse("new", "nb"), Settings())
    assert GIB <= (auto.shm_bytes or 0) <= 16 * GIB


def test_edit_changes_only_what_it_is_given(tmp_path: Path) -> None:
    data = tmp_path / "d"
    data.mkdir()
    spec = NotebookSpec(
        "nb",
        "img",
        work_dir=tmp_path,
        env=(("A", "1"), ("B", "2")),
        secret_names=("S",),
        mounts=(Mount(data, "/data"),),
    )
    args = parse(
        "edit", "nb", "--unset-env", "A", "--env", "C=3", "--unmount", "/data/", "--cpus", "2", "--shm-size", "1g"
    )
    changed = edited(spec, args, Settings())
    assert changed.env == (("B", "2"), ("C", "3")) and changed.mounts == () and changed.cpus == 2
    assert changed.secret_names == ("S",) and changed.shm_bytes == GIB and changed.image == "img"
    back = edited(
        changed, parse("edit", "nb", "--cpus", "none", "--shm-size", "default", "--stable-address"), Settings()
    )
    assert back.cpus is None and back.shm_bytes is None and back.stable_address
    with pytest.raises(InvalidSpec, match="has no secret X"):
        edited(spec, parse("edit", "nb", "--remove-secret", "X"), Settings())


def test_ls_line_names_but_never_shows_values(tmp_path: Path) -> None:
    spec = NotebookSpec(
        "nb",
        "img",
        env=(("A", "value-a"),),
        secret_names=("HF",),
        shm_bytes=GIB,
        mounts=(Mount(tmp_path, "/data"),),
        stable_address=True,
        stable_port=40123,
        idle_stop_minutes=30,
        survive_reboot=True,
        extra_args=("--x=1",),
    )
    line = details(spec)
    assert line == (
        f"  + shm 1.0 GiB; mount {tmp_path}:/data:ro; env A; secrets HF; stable address port 40123; "
        "idle stop 30 min; survives reboots; 1 server args"
    )
    assert details(NotebookSpec("plain", "img")) is None
