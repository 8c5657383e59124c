"""Work folders on a remote host: made, checked and (on request) deleted there, over its SSH connection.

The same rules as on this machine (desktop.workdir): an existing folder is never changed, one made as root
is handed to the notebook's user, and only a folder strictly inside Labdock's work root there that no other
notebook on that host uses is ever deleted. The default root is the remote user's data folder
($XDG_DATA_HOME or ~/.local/share)/labdock/work. A path given as ~/x or relative is under the remote home.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping
from pathlib import Path, PurePosixPath

from desktop.core.errors import InvalidSpec, LabdockError
from desktop.engines.remote_engine import container_uid
from desktop.engines.ssh_link import SshLink
from desktop.workdir import CONTAINER_GID

_EXPAND = r"""case "$p" in "~") p="$HOME" ;; "~/"*) p="$HOME/${p#\~/}" ;; /*) ;; *) p="$HOME/$p" ;; esac"""
_PREPARE = (
    "p={path}; " + _EXPAND + "\n"
    'if [ -e "$p" ] && [ ! -d "$p" ]; then exit 3; fi\n'
    'if [ ! -d "$p" ]; then mkdir -p -- "$p" || exit 4; '
    'if [ "$(id -u)" = 0 ]; then chown {owner} -- "$p" || exit 4; fi; fi\n'
    '[ -w "$p" ] && [ -x "$p" ] || exit 5\n'
    'cd -- "$p" && pwd -P'
)


class RemoteWorkFolders:
    def __init__(self, link: SshLink) -> None:
        self.link = link
        self.where = link.host.name

    async def root(self) -> PurePosixPath:
        facts = await self.link.ensure()
        return PurePosixPath(facts.data_dir) / "labdock" / "work"

    async def default(self, name: str) -> Path:
        return Path(str(await self.root() / name))

    async def prepare(self, work: Path) -> Path:
        facts = await self.link.ensure()
        owner = f"{container_uid(facts.uid)}:{CONTAINER_GID}"
        script = _PREPARE.replace("{path}", shlex.quote(str(work))).replace("{owner}", owner)
        out = await self.link.run(script)
        place = f"the work folder {work} on '{self.where}'"
        if out.exit_status == 3:
            raise InvalidSpec(f"{place} is a file, not a folder")
        if out.exit_status == 4:
            reason = out.stderr.strip().splitlines()[-1:] or ["mkdir failed"]
            raise InvalidSpec(f"cannot create {place}: {reason[0]}")
        if out.exit_status == 5:
            raise InvalidSpec(f"{place} is not writable")
        lines = out.stdout.strip().splitlines()
        if out.exit_status != 0 or not lines:
            raise LabdockError(f"cannot prepare {place}: {out.stderr.strip() or f'exit {out.exit_status}'}")
        return Path(lines[-1])

    async def delete(self, work: Path, used_by_others: Mapping[str, Path]) -> str | None:
        root = await self.root()
        others = sorted(used_by_others.items())
        paths = [str(root), str(work), *(str(path) for _, path in others)]
        out = await self.link.run("realpath -m -- " + " ".join(shlex.quote(p) for p in paths))
        real = [PurePosixPath(line) for line in out.stdout.splitlines()]
        if out.exit_status != 0 or len(real) != len(paths):
            return f"cannot resolve it on '{self.where}': {out.stderr.strip() or 'realpath failed'}"
        real_root, target = real[0], real[1]
        if not target.is_relative_to(real_root) or target == real_root:
            return f"it is not inside Labdock's work folder {real_root} on '{self.where}'"
        for (other, _), path in zip(others, real[2:], strict=True):
            if path == target or path.is_relative_to(target) or target.is_relative_to(path):
                return f"notebook '{other}' also uses it"
        removed = await self.link.run(f"rm -rf -- {shlex.quote(str(target))}")
        if removed.exit_status != 0:
            return f"it could not be deleted on '{self.where}': {removed.stderr.strip()}"
        return None
