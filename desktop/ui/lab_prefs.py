"""JupyterLab preferences we set on a notebook's server before the first page load.

JupyterLab 4 asks "Would you like to get notified about official Jupyter news?" on first load unless the
`fetchNews` setting is decided; the server already runs with news off (--LabApp.news_url=None), so we
answer "false" through the settings REST API. The user's other notification settings are kept.
The request carries the token, so it never goes through an HTTP proxy, whatever the environment says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from urllib.parse import parse_qs, urlsplit, urlunsplit

log = logging.getLogger(__name__)

NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"
# An empty ProxyHandler: http_proxy / all_proxy (and the system's proxy settings) do not apply.
_DIRECT = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def split_token(url_with_token: str) -> tuple[str, str | None]:
    """('http://127.0.0.1:9000/', token) from 'http://127.0.0.1:9000/lab?token=...'."""
    parts = urlsplit(url_with_token)
    token = parse_qs(parts.query).get("token", [None])[0]
    path = parts.path.removesuffix("lab")
    return urlunsplit((parts.scheme, parts.netloc, path, "", "")), token


def _request(url: str, token: str, method: str = "GET", body: bytes | None = None) -> dict[str, object]:
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("Authorization", f"token {token}")
    if body is not None:
        request.add_header("Content-Type", "application/json")
    with _DIRECT.open(request, timeout=5) as response:
        text = response.read().decode() or "{}"
    data = json.loads(text)
    return data if isinstance(data, dict) else {}


def _turn_off_news(base_url: str, token: str) -> None:
    url = f"{base_url}lab/api/settings/{NOTIFICATION_PLUGIN}"
    current = _request(url, token).get("settings")
    user = dict(current) if isinstance(current, dict) else {}
    if user.get("fetchNews") in ("true", "false"):
        return
    user["fetchNews"] = "false"
    _request(url, token, "PUT", json.dumps({"raw": json.dumps(user)}).encode())


async def turn_off_news(url_with_token: str) -> None:
    """Best effort: a server that refuses only means the user sees JupyterLab's own question."""
    base_url, token = split_token(url_with_token)
    if token is None:
        return
    try:
        await asyncio.to_thread(_turn_off_news, base_url, token)
    except (OSError, ValueError) as exc:
        log.info("could not turn off JupyterLab news on %s: %s", base_url, exc)
