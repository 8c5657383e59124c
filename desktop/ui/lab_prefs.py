"""JupyterLab preferences we set on a notebook's server before a page loads.

JupyterLab 4 asks "Would you like to get notified about official Jupyter news?" on first load unless the
`fetchNews` setting is decided; the server already runs with news off (--LabApp.news_url=None), so we
answer "false" through the settings REST API. Its theme follows Labdock's (light or dark), set the same
way. The user's other settings are kept. The requests carry the token, so they never go through an HTTP
proxy, whatever the environment says.
"""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from urllib.parse import parse_qs, urlsplit, urlunsplit

log = logging.getLogger(__name__)

NOTIFICATION_PLUGIN = "@jupyterlab/apputils-extension:notification"
THEMES_PLUGIN = "@jupyterlab/apputils-extension:themes"
LIGHT_THEME, DARK_THEME = "JupyterLab Light", "JupyterLab Dark"
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


def _set_theme(base_url: str, token: str, dark: bool) -> None:
    url = f"{base_url}lab/api/settings/{THEMES_PLUGIN}"
    current = _request(url, token).get("settings")
    user = dict(current) if isinstance(current, dict) else {}
    wanted = DARK_THEME if dark else LIGHT_THEME
    if user.get("theme") == wanted and user.get("adaptive-theme") is False:
        return
    user["theme"] = wanted
    user["adaptive-theme"] = False  # ours decides, not the page's own idea of the system's scheme
    _request(url, token, "PUT", json.dumps({"raw": json.dumps(user)}).encode())


async def prepare_lab(url_with_token: str, dark: bool) -> None:
    """News off and the theme set, before a page loads. Best effort: a server that refuses only means
    the user sees JupyterLab's own question, or its default theme."""
    base_url, token = split_token(url_with_token)
    if token is None:
        return

    def run() -> None:
        _turn_off_news(base_url, token)
        _set_theme(base_url, token, dark)

    try:
        await asyncio.to_thread(run)
    except (OSError, ValueError) as exc:
        log.info("could not set JupyterLab's preferences on %s: %s", base_url, exc)


async def turn_off_news(url_with_token: str) -> None:
    """Best effort: a server that refuses only means the user sees JupyterLab's own question."""
    base_url, token = split_token(url_with_token)
    if token is None:
        return
    try:
        await asyncio.to_thread(_turn_off_news, base_url, token)
    except (OSError, ValueError) as exc:
        log.info("could not turn off JupyterLab news on %s: %s", base_url, exc)
