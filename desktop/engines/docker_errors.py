"""The Docker error boundary: whatever the docker SDK, requests or urllib3 raise becomes one LabdockError.

Pure functions over the exception (no Docker calls), so every mapping can be read and tested on its own.
An answer with an error status keeps its status (`DockerRefused.status`) because the engine gives 404
and 409 a meaning (absent, already so); everything else is a one-line message a user can act on.
"""

from __future__ import annotations

import http.client
import json
import struct
from collections.abc import Iterator

import requests
import urllib3.exceptions
from docker.errors import APIError, DockerException, StreamParseError

from desktop.core.errors import EngineTimeout, EngineUnavailable, LabdockError

MAX_MESSAGE = 300  # characters of Docker's explanation kept in a message

# What the SDK and the HTTP stack beneath it raise for trouble with the engine (not for our own bugs).
SDK_ERRORS: tuple[type[BaseException], ...] = (
    DockerException,
    requests.RequestException,
    urllib3.exceptions.HTTPError,
    http.client.HTTPException,
    OSError,
    json.JSONDecodeError,
    StreamParseError,
    struct.error,  # a log stream cut inside a frame header
)

_TIMEOUTS = (TimeoutError, requests.Timeout, urllib3.exceptions.TimeoutError)
_UNREACHABLE = (FileNotFoundError, ConnectionRefusedError)
_CUT_OFF = (
    http.client.RemoteDisconnected,
    http.client.IncompleteRead,
    ConnectionResetError,
    ConnectionAbortedError,
    BrokenPipeError,
    urllib3.exceptions.ProtocolError,
    requests.exceptions.ChunkedEncodingError,
    struct.error,
)
_UNREADABLE = (json.JSONDecodeError, StreamParseError)


# A path component with an upper-case letter, before any tag or digest (`repo:Tag` is fine).
class DockerRefused(LabdockError):
    """Docker answered the request with an error status; `status` lets callers treat 404/409 as states."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def one_line(text: str, limit: int = MAX_MESSAGE) -> str:
    """Docker's text as one line a message can carry."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_of(exc: BaseException) -> int | None:
    if isinstance(exc, DockerRefused):
        return exc.status
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    if isinstance(exc, APIError | requests.HTTPError) and isinstance(code, int):
        return code
    return None


def causes(exc: BaseException, depth: int = 8) -> Iterator[BaseException]:
    """The exception and what it wraps (requests and urllib3 nest the socket error in args or .reason)."""
    seen: set[int] = set()
    todo = [exc]
    while todo and len(seen) < depth * 4:
        current = todo.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        linked = [current.__cause__, current.__context__, getattr(current, "reason", None), *current.args]
        todo.extend(item for item in linked if isinstance(item, BaseException))


def to_labdock_error(
    exc: BaseException,
    *,
    where: str,
    timeout: float,
    doing: str | None = None,
    image: str | None = None,
    product: str = "Docker",
) -> LabdockError:
    """One LabdockError for any exception out of an SDK call; `doing` says what was asked ('create the
    container'), `image` names the image the call was about, `where` where the engine was looked for
    (Endpoint.where), `product` what answered there ("Podman" once its /version said so)."""
    if isinstance(exc, LabdockError):
        return exc
    status = status_of(exc)
    if status is not None:
        explanation = explanation_of(exc)
        if status == 500 and "is already in use" in explanation:
            status = 409  # Podman's answer to a taken container name; Docker's is 409 Conflict
        return refused(status, explanation, doing=doing, image=image, product=product)
    chain = list(causes(exc))
    asked = f" (asked to {doing})" if doing else ""
    if any(isinstance(e, _TIMEOUTS) for e in chain):
        return EngineTimeout(f"{product} did not answer within {timeout:g} s{asked}")
    if any(isinstance(e, PermissionError) for e in chain):
        if product == "Podman":  # its system socket is root's: a user runs their own
            return EngineUnavailable(
                f"Podman at {where} refused access: use your own Podman socket "
                "(systemctl --user enable --now podman.socket)"
            )
        return EngineUnavailable(
            f"Docker at {where} refused access: add yourself to the 'docker' group "
            "(sudo usermod -aG docker $USER) and log in again"
        )
    not_reachable = f"{product} is not reachable at {where}: is the {product} engine installed and running?"
    if any(isinstance(e, _UNREACHABLE) for e in chain):
        return EngineUnavailable(not_reachable)
    if any(isinstance(e, _CUT_OFF) for e in chain):
        return EngineUnavailable(f"{product} at {where} closed the connection before it had answered{asked}; try again")
    if any(isinstance(e, _UNREADABLE) for e in chain):
        return EngineUnavailable(
            f"{product} at {where} sent an answer that was cut off or unreadable{asked}; try again"
        )
    if isinstance(exc, DockerException) and not isinstance(exc, requests.RequestException):
        return EngineUnavailable(f"{product} at {where} cannot be used: {one_line(str(exc))}")
    return EngineUnavailable(not_reachable)


def explanation_of(exc: BaseException) -> str:
    text = getattr(exc, "explanation", None) if isinstance(exc, APIError) else None
    if isinstance(text, bytes):
        text = text.decode(errors="replace")
    return one_line(str(text or exc))


def refused(
    status: int, explanation: str, *, doing: str | None = None, image: str | None = None, product: str = "Docker"
) -> DockerRefused:
    """The engine's error answer as a message: 400 for an upper-case image gets its own line."""
    if status == 400 and "must be lowercase" in explanation:
        target = f" '{image}'" if image else ""
        return DockerRefused(f"invalid image reference{target}: use lower case", status)
    if doing:
        prefix = f"{product} could not {doing}"
    elif status >= 500:
        prefix = f"{product} failed"
    else:
        prefix = f"{product} refused the request"
    return DockerRefused(f"{prefix}: {explanation or f'HTTP {status}'}", status)


def with_context(error: LabdockError, prefix: str) -> LabdockError:
    """The same kind of error with `prefix: ` before its message (EngineTimeout stays EngineTimeout)."""
    if isinstance(error, DockerRefused):
        return DockerRefused(f"{prefix}: {error}", error.status)
    if type(error) in (LabdockError, EngineUnavailable, EngineTimeout):
        return type(error)(f"{prefix}: {error}")
    return error
