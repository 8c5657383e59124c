"""Remote hosts as written in Preferences and as ssh:// Docker contexts."""

from __future__ import annotations

import json
import re
from hashlib import sha256
from pathlib import Path

import pytest

from desktop.core.errors import InvalidSpec
from desktop.engines.remote_engine import listening_ports
from desktop.engines.ssh_hosts import RemoteHost, host_label, parse_host, remote_hosts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("gpubox", RemoteHost("gpubox", "gpubox")),
        ("ana@gpubox", RemoteHost("gpubox", "gpubox", "ana")),
        ("ana@10.0.0.5:2222", RemoteHost("10.0.0.5", "10.0.0.5", "ana", 2222)),
        ("lab=ana@gpu.example.org", RemoteHost("lab", "gpu.example.org", "ana")),
        ("ssh://ana@gpubox:22", RemoteHost("gpubox", "gpubox", "ana", 22)),
        ("v6=[fd00::5]:2200", RemoteHost("v6", "[fd00::5]", None, 2200)),
    ],
)
def test_host_entries_are_read_as_ssh_takes_them(text: str, expected: RemoteHost) -> None:
    host = parse_host(text)
    assert host == expected
    assert parse_host(host.entry()) == host


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "needs an address"),
        ("ana@", "is not [user@]host[:port]"),
        ("gpubox:notaport", "is not [user@]host[:port]"),
        ("gpubox/path", "is not [user@]host[:port]"),
        ("docker=gpubox", "names an engine of this machine"),
        ("local", "names an engine of this machine"),
        ("my box=gpubox", "cannot name a host"),
        ("ana:secret@gpubox", "is not [user@]host[:port]"),
    ],
)
def test_a_bad_entry_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(InvalidSpec, match=re.escape(says)):
        parse_host(text)


def _context(home: Path, name: str, host: str) -> None:
    meta = home / ".docker" / "contexts" / "meta" / sha256(name.encode()).hexdigest()
    meta.mkdir(parents=True)
    data = {"Name": name, "Metadata": {}, "Endpoints": {"docker": {"Host": host, "SkipTLSVerify": False}}}
    (meta / "meta.json").write_text(json.dumps(data))


def test_ssh_contexts_are_hosts_and_bad_entries_do_not_hide_the_others(tmp_path: Path) -> None:
    _context(tmp_path, "lab", "ssh://ana@lab.example.org")
    _context(tmp_path, "same", "ssh://ana@gpubox:2222")
    _context(tmp_path, "socket", "unix:///var/run/docker.sock")
    env = {"HOME": str(tmp_path)}
    hosts, problems = remote_hosts(["ana@gpubox:2222", "bad host", "b=x", "b=y"], env)
    assert [(h.name, h.target, h.source) for h in hosts] == [
        ("gpubox", "ana@gpubox:2222", "Preferences"),
        ("b", "x", "Preferences"),
        ("lab", "ana@lab.example.org", "context lab"),
    ]
    assert any("bad host" in p for p in problems)
    assert any("two hosts are named 'b'" in p for p in problems)


def test_the_host_column_names_this_machine() -> None:
    assert host_label("docker") == host_label("local") == "this machine"
    assert host_label("gpubox") == "gpubox"


def test_listening_ports_come_from_proc_net_tcp() -> None:
    text = (
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        "   0: 0100007F:2382 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1 1\n"
        "   1: 0100007F:9C40 0100007F:2382 01 00000000:00000000 00:00000000 00000000  1000        0 2 1\n"
        "   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 0 0 0 0 0 3 1\n"
    )
    assert listening_ports(text) == {0x2382, 0x1F90}
