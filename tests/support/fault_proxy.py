"""A fault-injecting proxy in front of a Docker engine's unix socket: real faults for the error boundary.

Each connection's request head is read and matched against the rules (HTTP method + a regular expression
searched in the request target, query included). A matching rule answers in place of Docker: an error
status with Docker's JSON body, a closed connection, no answer at all (a hung engine), a 200 with an
unreadable body, or Docker's real answer cut off half way. Anything else is forwarded with
`Connection: close` and then piped byte for byte both ways, so streams (logs, pull progress) and
upgraded connections pass untouched; one request per connection keeps every request visible to the rules.

The proxy runs its own event loop on a thread, so tests drive it from any loop or none. Rules can be
added and cleared while it runs; a one-shot rule retires after its first match.
"""

from __future__ import annotations

import asyncio
import contextlib
import http
import json
import re
import shutil
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

HEAD_LIMIT = 1 << 16


@dataclass(frozen=True)
class Fault:
    kind: str  # "error", "close", "hang", "garbage" or "truncate"
    status: int = 0
    message: str = ""

    @staticmethod
    def error(status: int, message: str = "injected fault") -> Fault:
        return Fault("error", status, message)

    def __str__(self) -> str:
        return f"{self.status}" if self.kind == "error" else self.kind


CLOSE = Fault("close")  # the connection is closed once the request is read, nothing answered
HANG = Fault("hang")  # the request is read and never answered (until the client gives up)
GARBAGE = Fault("garbage")  # 200 with a complete body that is not JSON (cut in the middle of an object)
TRUNCATE = Fault("truncate")  # Docker really does it; its answer is cut after the head and half the body


@dataclass
class Rule:
    method: str  # "*" for any
    pattern: re.Pattern[str]
    fault: Fault
    once: bool
    hits: int = 0

    def matches(self, method: str, target: str) -> bool:
        return self.method in ("*", method) and self.pattern.search(target) is not None


@dataclass
class FaultProxy:
    upstream: str  # unix:///path/to/docker.sock
    rules: list[Rule] = field(default_factory=list)
    seen: list[tuple[str, str]] = field(default_factory=list)  # (method, target) of every request
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _dir: Path | None = None
    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None
    _stopping: asyncio.Event | None = None

    @property
    def socket_path(self) -> Path:
        assert self._dir is not None, "start() first"
        return self._dir / "docker.sock"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    # -- rules -------------------------------------------------------------------------------------

    def add(self, method: str, path: str, fault: Fault, *, once: bool = False) -> Rule:
        rule = Rule(method.upper(), re.compile(path), fault, once)
        with self._lock:
            self.rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self.rules.clear()
            self.seen.clear()

    def _match(self, method: str, target: str) -> Fault | None:
        with self._lock:
            self.seen.append((method, target))
            for rule in self.rules:
                if rule.matches(method, target):
                    rule.hits += 1
                    if rule.once:
                        self.rules.remove(rule)
                    return rule.fault
        return None

    def requests(self, method: str, path: str) -> list[str]:
        """Targets of the requests seen so far with this method whose target matches `path`."""
        pattern = re.compile(path)
        with self._lock:
            return [t for m, t in self.seen if m == method.upper() and pattern.search(t)]

    # -- running -----------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        # A short folder of our own: a unix socket path must stay under 108 bytes.
        if self._dir is None:
            self._dir = Path(tempfile.mkdtemp(prefix="ldfp-", dir="/tmp"))
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            try:
                asyncio.run(self._serve(ready))
            except BaseException as exc:  # reported to start()'s caller
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=run, name="fault-proxy", daemon=True)
        self._thread.start()
        ready.wait(10)
        if failure:
            raise RuntimeError(f"the fault proxy did not start: {failure[0]!r}")
        return self

    def stop(self) -> None:
        self.go_away()
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def go_away(self) -> None:
        """The engine vanishes for its clients, socket file and all, as when dockerd stops; `start()`
        brings it back at the same address."""
        if self._loop is not None and self._stopping is not None:
            with contextlib.suppress(RuntimeError):  # its loop already ended
                self._loop.call_soon_threadsafe(self._stopping.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None
        if self._dir is not None:
            (self._dir / "docker.sock").unlink(missing_ok=True)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def _serve(self, ready: threading.Event) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        connections: set[asyncio.Task[None]] = set()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            connections.add(task)
            try:
                await self._handle(reader, writer)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                pass  # a client that went away or spoke nonsense: nothing to answer
            finally:
                connections.discard(task)
                _close(writer)

        server = await asyncio.start_unix_server(on_connect, path=str(self.socket_path), limit=HEAD_LIMIT)
        ready.set()
        async with server:
            await self._stopping.wait()
            for task in list(connections):
                task.cancel()
            await asyncio.gather(*connections, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        request_line, *header_lines = head.decode("latin-1").split("\r\n")
        method, target, _ = request_line.split(" ", 2)
        fault = self._match(method, target)
        if fault is None or fault.kind == "truncate":
            await self._forward(head, header_lines, reader, writer, cut=fault is not None)
            return
        await _read_body(reader, header_lines)
        if fault.kind == "hang":
            await reader.read()  # until the client gives up (or the proxy stops)
        elif fault.kind == "error":
            await _answer(writer, fault.status, json.dumps({"message": fault.message}).encode())
        elif fault.kind == "garbage":
            await _answer(writer, 200, b'[{"Id": "0123')
        # "close": nothing answered; on_connect closes the connection

    async def _forward(
        self,
        head: bytes,
        header_lines: list[str],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        cut: bool,
    ) -> None:
        up_reader, up_writer = await asyncio.open_unix_connection(self.upstream.removeprefix("unix://"))
        try:
            up_writer.write(_one_request_per_connection(head, header_lines))
            await up_writer.drain()
            if cut:
                await _read_body(reader, header_lines, forward_to=up_writer)
                await _relay_cut(up_reader, writer)
                return
            upload = asyncio.ensure_future(_pipe(reader, up_writer))
            try:
                await _pipe(up_reader, writer)  # Docker's answer, streamed as it comes
            finally:
                upload.cancel()
                await asyncio.gather(upload, return_exceptions=True)
        finally:
            _close(up_writer)


def _one_request_per_connection(head: bytes, header_lines: list[str]) -> bytes:
    if any(line.lower().startswith("upgrade:") for line in header_lines):
        return head  # a hijacked stream (attach, exec): untouched
    request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
    kept = [line for line in header_lines if line and not line.lower().startswith("connection:")]
    return "\r\n".join([request_line, *kept, "Connection: close", "", ""]).encode("latin-1")


def _content_length(header_lines: list[str]) -> int:
    for line in header_lines:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            return int(value.strip() or 0)
    return 0


async def _read_body(
    reader: asyncio.StreamReader, header_lines: list[str], forward_to: asyncio.StreamWriter | None = None
) -> None:
    """Read (and maybe pass on) a request body of known length; Docker's clients send JSON bodies so."""
    length = _content_length(header_lines)
    if length:
        body = await reader.readexactly(length)
        if forward_to is not None:
            forward_to.write(body)
            await forward_to.drain()


async def _answer(writer: asyncio.StreamWriter, status: int, body: bytes) -> None:
    reason = http.HTTPStatus(status).phrase
    head = (
        f"HTTP/1.1 {status} {reason}\r\nApi-Version: 1.41\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    )
    writer.write(head.encode() + body)
    await writer.drain()


async def _relay_cut(up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Docker's answer head, then half its body (at least a byte short), then the connection closes."""
    head = await up_reader.readuntil(b"\r\n\r\n")
    length = _content_length(head.decode("latin-1").split("\r\n")[1:])
    body = await up_reader.read(max(1, length) if length else 64)
    keep = min(len(body) - 1, max(1, length // 2)) if length else min(len(body), 4)
    writer.write(head + body[: max(0, keep)])
    await writer.drain()


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while chunk := await reader.read(1 << 16):
            writer.write(chunk)
            await writer.drain()
    except OSError:
        return
    with contextlib.suppress(OSError):
        if writer.can_write_eof():
            writer.write_eof()


def _close(writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError, RuntimeError):
        writer.close()


@contextlib.contextmanager
def running(upstream: str) -> Iterator[FaultProxy]:
    proxy = FaultProxy(upstream).start()
    try:
        yield proxy
    finally:
        proxy.stop()
