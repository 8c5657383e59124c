"""Secret values: secret environment variables and the tokens of stable-address notebooks.

They live in the system keyring through the `keyring` library (Secret Service, i.e. GNOME Keyring or
KWallet, on a Linux desktop). Where no keyring answers (a server, a container, the tests) they live in
a fallback file under the config folder, created 0600 and saying in its own first field what it is;
the log warns once and `labdock ls` says so. Specs, labels, logs and messages carry secret names only.

LABDOCK_SECRETS=file chooses the file (the tests set it: no Secret Service there); =keyring refuses to
fall back. Every call blocks (D-Bus, file locks): callers on an event loop use a worker thread.
"""

from __future__ import annotations

import json
import logging
import os
import secrets as random
from collections.abc import Mapping
from typing import Any

from desktop.core.errors import LabdockError
from desktop.core.models import NotebookSpec
from desktop.store import Paths, install_id, locked, read_json, write_atomic

log = logging.getLogger(__name__)

ENV_CHOICE = "LABDOCK_SECRETS"
FALLBACK_NOTE = (
    "Labdock's fallback secret store: no system keyring (Secret Service) answered, so secret values are "
    "kept here, readable only by you (mode 0600) but not encrypted."
)
TOKEN_BYTES = 32


class SecretStore:
    """Values by key. The keyring is asked lazily, once per process, whether it can be used."""

    def __init__(self, paths: Paths, choice: str | None = None) -> None:
        self.paths = paths
        self.file = paths.config_dir / "secrets.json"
        self._choice = choice
        self._backend: Any = None
        self._decided = False
        self._warned = False

    # -- backend ---------------------------------------------------------------------------------

    def _keyring(self) -> Any:
        """The keyring backend, or None when the fallback file is in use."""
        if self._decided:
            return self._backend
        choice = self._choice or os.environ.get(ENV_CHOICE, "auto")
        backend = None if choice == "file" else _usable_keyring()
        if backend is None and choice == "keyring":
            raise LabdockError(f"no system keyring answers (Secret Service); unset {ENV_CHOICE} to use a private file")
        self._backend, self._decided = backend, True
        return backend

    @property
    def uses_file(self) -> bool:
        return self._keyring() is None

    def notice(self) -> str | None:
        """One line for `labdock ls` while the fallback file holds secrets; None otherwise (and then the
        keyring is not even asked: listing stays fast)."""
        if not self._read_file():
            return None
        return f"secrets: kept in {self.file} (no system keyring; readable only by you, not encrypted)"

    def _service(self) -> str:
        return f"labdock:{install_id(self.paths)}"  # two Labdock homes never share values

    # -- values ----------------------------------------------------------------------------------

    def get(self, key: str) -> str | None:
        """From the keyring, else from the file (where it was kept while no keyring answered)."""
        backend = self._keyring()
        if backend is not None:
            value = _keyring_call(lambda: backend.get_password(self._service(), key))
            if value is not None:
                return str(value)
        value = self._read_file().get(key)
        return value if isinstance(value, str) else None

    def set(self, key: str, value: str) -> None:
        backend = self._keyring()
        if backend is None:
            if not self._warned:
                log.warning("no system keyring answers: secret values are kept in %s (0600, not encrypted)", self.file)
                self._warned = True
            self._update_file({key: value}, ())
            return
        _keyring_call(lambda: backend.set_password(self._service(), key, value))
        self._update_file({}, (key,))  # an older value in the file must not come back

    def delete(self, *keys: str) -> None:
        """No error for a key that is not there."""
        self._update_file({}, keys)
        backend = self._keyring()
        if backend is None:
            return
        from keyring.errors import PasswordDeleteError

        for key in keys:
            try:
                backend.delete_password(self._service(), key)
            except PasswordDeleteError:
                continue  # not there
            except Exception as exc:
                raise _refused(exc) from exc

    # -- the fallback file -----------------------------------------------------------------------

    def _read_file(self) -> dict[str, Any]:
        data = read_json(self.file)
        values = data.get("secrets") if isinstance(data, dict) else None
        return values if isinstance(values, dict) else {}

    def _update_file(self, put: Mapping[str, str], drop: tuple[str, ...]) -> None:
        if not put and not self.file.exists():
            return
        with locked(self.file):
            values = self._read_file()
            if not put and not any(key in values for key in drop):
                return  # nothing to change: the file is not even made
            values.update(put)
            for key in drop:
                values.pop(key, None)
            # write_atomic's temporary file is created 0600 and renamed over: the file is never wider.
            write_atomic(self.file, json.dumps({"note": FALLBACK_NOTE, "secrets": values}, indent=2) + "\n")
            os.chmod(self.file, 0o600)


def _usable_keyring() -> Any:
    """The keyring's chosen backend when it is a real one (not keyring's 'fail' or 'null' stand-ins)."""
    try:
        import keyring
        from keyring.backends import chainer, fail

        backend = keyring.get_keyring()
    except Exception as exc:  # a broken keyring install must not stop Labdock: the file works
        log.info("the system keyring cannot be used: %s", exc)
        return None
    if isinstance(backend, fail.Keyring) or getattr(backend, "priority", 0) < 1:
        return None
    if isinstance(backend, chainer.ChainerBackend) and not backend.backends:
        return None
    return backend


def _keyring_call(fn: Any) -> Any:
    try:
        return fn()
    except Exception as exc:
        raise _refused(exc) from exc


def _refused(exc: Exception) -> LabdockError:
    # Keyring errors name the service and key at most, never the value: their first line is safe to show.
    first = (str(exc).strip().splitlines() or [""])[0]
    return LabdockError(f"the system keyring refused: {type(exc).__name__}{': ' + first if first else ''}")


# -- what Labdock keeps per notebook ---------------------------------------------------------------------


def env_key(notebook: str, name: str) -> str:
    return f"notebook/{notebook}/env/{name}"


def token_key(notebook: str) -> str:
    return f"notebook/{notebook}/token"


def put_env(store: SecretStore, notebook: str, values: Mapping[str, str]) -> None:
    for name, value in values.items():
        store.set(env_key(notebook, name), value)


def secret_env(store: SecretStore, spec: NotebookSpec) -> dict[str, str]:
    """The values of the spec's secret variables; a missing one is an error naming it (and how to fix it)."""
    values: dict[str, str] = {}
    for name in spec.secret_names:
        value = store.get(env_key(spec.name, name))
        if value is None:
            raise LabdockError(
                f"the secret {name} of '{spec.name}' is no longer in the secret store: "
                f"set it again with 'labdock edit {spec.name} --secret {name}'"
            )
        values[name] = value
    return values


def missing_secrets(store: SecretStore, notebook: str, names: tuple[str, ...]) -> list[str]:
    return [name for name in names if store.get(env_key(notebook, name)) is None]


def stable_token(store: SecretStore, notebook: str) -> str:
    """The notebook's lasting token, made on first use."""
    token = store.get(token_key(notebook))
    if token is None:
        token = random.token_urlsafe(TOKEN_BYTES)
        store.set(token_key(notebook), token)
    return token


def launch_secrets(store: SecretStore, spec: NotebookSpec, fresh_token: str) -> tuple[str, dict[str, str]]:
    """The token a launch uses (the lasting one for a stable address, else `fresh_token`) and the secret
    variables' values."""
    token = stable_token(store, spec.name) if spec.stable_address else fresh_token
    return token, secret_env(store, spec)


def forget_notebook(store: SecretStore, spec: NotebookSpec, names: tuple[str, ...] | None = None) -> None:
    """Drop the notebook's secret values (`names`: only these variables, token kept). A notebook that has
    none is not looked up at all (a keyring may ask to be unlocked)."""
    if names is not None:
        store.delete(*(env_key(spec.name, name) for name in names))
        return
    if not spec.secret_names and not spec.stable_address:
        return
    store.delete(token_key(spec.name), *(env_key(spec.name, name) for name in spec.secret_names))


def copy_notebook(store: SecretStore, spec: NotebookSpec, new_name: str, with_token: bool) -> None:
    """The same secret values under another notebook's name (the token only when `with_token`)."""
    values = {name: store.get(env_key(spec.name, name)) for name in spec.secret_names}
    put_env(store, new_name, {name: value for name, value in values.items() if value is not None})
    token = store.get(token_key(spec.name)) if with_token and spec.stable_address else None
    if token is not None:
        store.set(token_key(new_name), token)
