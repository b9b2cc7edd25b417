"""The official Alibaba Cloud SDKs pointed at Sift, as a migrating user points them: only the endpoint changes.

Two transports, the same clients:

* ``LocalServer``: a real ``chalice local`` on a free port, in its own process, with the test's data directory; the
  SDKs talk HTTP to it.
* ``routed_through``: the SDKs' one HTTP call (``darabonba.core.DaraCore.do_action``) answered by a
  ``chalice.test.Client`` in this process, so the requests the SDKs encode meet the app without a socket.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alibabacloud_bailian20231229.client import Client as BailianClient
from alibabacloud_imm20200930.client import Client as ImmClient
from alibabacloud_tea_openapi.models import Config
from darabonba.core import DaraCore
from darabonba.response import DaraResponse

REPO_ROOT = Path(__file__).resolve().parents[2]
ACCESS_KEY_ID = "sift-test-key"
ACCESS_KEY_SECRET = "sift-test-secret"


def _config(endpoint: str, key_id: str, secret: str) -> Config:
    # No retries: a refused request must surface as the error Sift answered, once.
    return Config(access_key_id=key_id, access_key_secret=secret, endpoint=endpoint,
                  protocol="http", read_timeout=60_000, connect_timeout=5_000)


def bailian_client(endpoint: str, key_id: str = ACCESS_KEY_ID, secret: str = ACCESS_KEY_SECRET) -> BailianClient:
    return BailianClient(_config(endpoint, key_id, secret))


def imm_client(endpoint: str, key_id: str = ACCESS_KEY_ID, secret: str = ACCESS_KEY_SECRET) -> ImmClient:
    return ImmClient(_config(endpoint, key_id, secret))


def signed_json(client: BailianClient, method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    """Sift's JSON form of a knowledge-base operation, signed by the SDK's own generic caller (``call_api``), as a
    client of an operation the SDK has no method for (a Sift extension such as SourceURIs) would send it."""
    from alibabacloud_tea_openapi import utils_models
    from alibabacloud_tea_openapi.exceptions import ClientException
    from darabonba.runtime import RuntimeOptions

    params = utils_models.Params(action="SiftJson", version="2023-12-29", protocol="HTTP", pathname=path,
                                 method=method, auth_type="AK", style="ROA", req_body_type="json", body_type="json")
    try:
        reply = client.call_api(params, utils_models.OpenApiRequest(body=body), RuntimeOptions())
    except ClientException as error:
        return int(error.status_code or 0), error.data
    return int(reply["statusCode"]), reply["body"]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class LocalServer:
    """``chalice local --stage local`` on 127.0.0.1:<free port>, serving ``data_dir`` with the hashing embedder."""

    def __init__(self, data_dir: Path, log: Path, environment: dict[str, str] | None = None) -> None:
        self.port = _free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.url = f"http://{self.endpoint}"
        env = {
            **os.environ,
            "SIFT_DATA_DIR": str(data_dir),
            "SIFT_EMBEDDER": "hashing",
            "SIFT_EMBEDDING_CACHE": "off",
            "PYTHONUNBUFFERED": "1",
            **(environment or {}),
        }
        chalice = Path(sys.executable).with_name("chalice")
        self._log = log.open("wb")
        self._process = subprocess.Popen(
            [str(chalice), "local", "--stage", "local", "--host", "127.0.0.1", "--port", str(self.port),
             "--no-autoreload"],
            cwd=REPO_ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
        )
        self._wait_until_serving(log)

    def _wait_until_serving(self, log: Path, timeout_s: float = 60.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"chalice local exited: {log.read_text(errors='replace')[-2000:]}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                return
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chalice local did not start in {timeout_s} s")

    def post_json(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """Sift's own JSON form, for set-up the SDKs have no operation for (a Sift extension such as SourceURIs)."""
        import json

        request = urllib.request.Request(self.url + path, data=json.dumps(body).encode(), method="POST",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def upload(self, url: str, headers: dict[str, str], data: bytes) -> tuple[int, Any]:
        """PUT a file to an upload lease's URL, as a user of the SDK does with any HTTP client."""
        import json

        request = urllib.request.Request(url, data=data, method="PUT", headers=headers)
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read())

    def stop(self) -> None:
        self._process.terminate()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
        self._log.close()


@dataclass(frozen=True)
class SdkRequest:
    """One request as an official SDK sends it, signed: taken at its one HTTP call (``DaraCore.do_action``)."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes

    @property
    def path(self) -> str:
        return urllib.parse.urlsplit(self.url).path

    @property
    def query(self) -> dict[str, list[str]]:
        return urllib.parse.parse_qs(urllib.parse.urlsplit(self.url).query, keep_blank_values=True)

    @property
    def target(self) -> str:
        """The path with its query string, as an HTTP request line names it."""
        parts = urllib.parse.urlsplit(self.url)
        return parts.path + (f"?{parts.query}" if parts.query else "")


def dara_response(status: int, headers: dict[str, str], body: bytes) -> DaraResponse:
    response = DaraResponse()
    response.status_code, response.status_message, response.headers, response.body = status, "", headers, body
    return response


@contextlib.contextmanager
def sdk_requests(answer: Callable[[SdkRequest], DaraResponse] | None = None) -> Iterator[list[SdkRequest]]:
    """Record every request the SDKs send while it is open; ``answer`` replies to each in place of the network (None:
    each is sent as usual)."""
    sent: list[SdkRequest] = []
    original = DaraCore.do_action

    def do_action(request: Any, runtime_option: Any = None) -> DaraResponse:
        body = request.body.encode("utf-8") if isinstance(request.body, str) else (request.body or b"")
        captured = SdkRequest(request.method.upper(), DaraCore.compose_url(request), dict(request.headers), body)
        sent.append(captured)
        return original(request, runtime_option) if answer is None else answer(captured)

    DaraCore.do_action = staticmethod(do_action)  # type: ignore[method-assign]
    try:
        yield sent
    finally:
        DaraCore.do_action = original  # type: ignore[method-assign]


@contextlib.contextmanager
def routed_through(http: Any) -> Iterator[str]:
    """Answer every SDK request with ``http`` (a ``chalice.test.Client().http``); yields the endpoint to configure."""
    def answer(request: SdkRequest) -> DaraResponse:
        reply = http.request(request.method, request.target, headers=request.headers, body=request.body)
        return dara_response(reply.status_code, {key.lower(): value for key, value in reply.headers.items()},
                             reply.body)

    with sdk_requests(answer):
        yield "sift.test"
