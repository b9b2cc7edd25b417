"""How the CLI calls Sift's knowledge-base operations: in this process through ``chalicelib.api.operations.invoke``
(the same parsing, validation, authorization and envelope as an HTTP request), or over HTTP to a running stage.

Either way a call returns the envelope's ``Data``, or raises ``ServiceFailure`` with the envelope's ``Code`` and
``Message``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from chalicelib.core.services import Services


class ServiceFailure(Exception):
    """An answer in the error envelope (or no answer at all: ``code`` says which)."""

    def __init__(self, code: str, message: str, *, status: str = "", request_id: str = "",
                 envelope: Mapping[str, Any] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.request_id = request_id
        self.envelope = dict(envelope) if envelope is not None else {
            "Code": code, "Message": message, "RequestId": request_id, "Status": status, "Success": False}


class Client(Protocol):
    in_process: bool

    def call(self, operation: str, workspace_id: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        """The ``Data`` of a successful call; ``ServiceFailure`` otherwise."""


def _data(body: Mapping[str, Any], status: int | str) -> dict[str, Any]:
    if body.get("Success") is True and isinstance(body.get("Data"), dict):
        return body["Data"]
    raise ServiceFailure(str(body.get("Code") or "Error"), str(body.get("Message") or "(no message)"),
                         status=str(body.get("Status") or status), request_id=str(body.get("RequestId") or ""),
                         envelope=body)


class InProcessClient:
    """The local stage's services on its data directory (``SIFT_DATA_DIR``), in this process.

    The caller is the stage's operator, as ``scripts.seed_demo`` is: the services are built with ``SIFT_AUTH=none``
    and local files readable whatever the environment says, since whoever runs this can read the data directory and
    their own disk already.
    """

    in_process = True

    def __init__(self) -> None:
        self._services: Services | None = None

    def services(self) -> Services:
        """Built on first use (loading the embedder); a configuration error is raised here, outside any envelope."""
        if self._services is None:
            from chalicelib.composition import build_services
            from chalicelib.settings import Settings

            settings = Settings.from_environment()
            self._services = build_services(dataclasses.replace(settings, auth="none", local_files=True))
        return self._services

    def call(self, operation: str, workspace_id: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        from chalicelib.api.operations import BY_NAME, invoke

        self.services()
        # The service logs to whatever sys.stdout is; the CLI's stdout is for results.
        with contextlib.redirect_stdout(sys.stderr):
            response = invoke(self.services, BY_NAME[operation], path_params={"WorkspaceId": workspace_id},
                              body=dict(parameters))
        return _data(response.body, response.status)


class HttpClient:
    """A running stage at ``endpoint`` (``http://127.0.0.1:8000``), on the operations' own routes: JSON bodies for
    POST, the query string for GET (as text, which the stage reads as each parameter's documented type)."""

    in_process = False

    def __init__(self, endpoint: str, *, timeout_s: float = 3600.0) -> None:
        parsed = urllib.parse.urlparse(endpoint)
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ValueError(f"--endpoint must be an http(s) URL such as http://127.0.0.1:8000, not {endpoint!r}")
        self._endpoint = endpoint.rstrip("/")
        self._timeout_s = timeout_s

    def call(self, operation: str, workspace_id: str, parameters: Mapping[str, Any]) -> dict[str, Any]:
        from chalicelib.api.operations import BY_NAME

        spec = BY_NAME[operation]
        url = self._endpoint + spec.path.replace("{WorkspaceId}", urllib.parse.quote(workspace_id, safe=""))
        data: bytes | None = None
        headers = {"Accept": "application/json"}
        if spec.method == "GET":
            url += "?" + urllib.parse.urlencode({key: _as_text(value) for key, value in parameters.items()})
        else:
            data = json.dumps(dict(parameters)).encode()
            headers["Content-Type"] = "application/json"
        request = urllib.request.Request(url, data=data, headers=headers, method=spec.method)
        try:
            with urllib.request.urlopen(request, timeout=self._timeout_s) as reply:  # http(s) only: checked above
                status, raw = reply.status, reply.read()
        except urllib.error.HTTPError as error:  # an error envelope, most likely
            status, raw = error.code, error.read()
        except (urllib.error.URLError, OSError) as error:
            reason = getattr(error, "reason", error)
            raise ServiceFailure("Unreachable", f"cannot reach {self._endpoint}: {reason}") from None
        try:
            body = json.loads(raw)
        except ValueError:
            raise ServiceFailure("BadResponse", f"{url} answered HTTP {status} with no JSON envelope",
                                 status=str(status)) from None
        if not isinstance(body, dict):
            raise ServiceFailure("BadResponse", f"{url} answered HTTP {status} with no JSON envelope",
                                 status=str(status))
        return _data(body, status)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, dict)):
        return json.dumps(value)
    return str(value)
