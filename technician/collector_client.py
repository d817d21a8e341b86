"""The collector's HTTP API as rating-tech's commands use it (fleet, retire, label, ota): one small
client with a bearer token read from a file, and one error type whose message says what to check.

Where: RATING_TECH_COLLECTOR_URL, else the collector's own RATING_HTTP_HOST/_PORT (this laptop is
usually the collector's machine). The token: RATING_TECH_TOKEN_FILE, else
$RATING_DATA_DIR/secrets/admin-token (what `make run` writes). Reading needs any token; retire
needs the admin role (`rating-collector token create --name technician --role admin`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

import httpx

from technician.settings import TechSettings

# Binding to every address is a server's choice; a client reaches such a server on loopback.
_ANY_ADDRESS = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}
# The most of an error body quoted back (a stranger's server could answer anything).
_QUOTED_MAX = 300


class CollectorError(RuntimeError):
    """The collector could not be asked, or refused: the message says what to check. `status` is the
    HTTP status when it answered (404: no such box, ...), else None."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


def collector_url(settings: TechSettings) -> str:
    """The collector's base URL, without a trailing slash."""
    if settings.collector_url:
        return settings.collector_url.rstrip("/")
    c = settings.collector
    host = _ANY_ADDRESS.get(c.http_host, c.http_host)
    return f"http://{f'[{host}]' if ':' in host else host}:{c.http_port}"


def token_file(settings: TechSettings) -> Path:
    return settings.token_file or settings.collector.data_dir / "secrets" / "admin-token"


def read_token(path: Path) -> str:
    """The token in a file (its first line); never printed."""
    try:
        token = path.read_text(encoding="utf-8").strip().split("\n")[0].strip()
    except FileNotFoundError:
        raise CollectorError(f"no collector token: {path} does not exist. Make one with `rating-collector token "
                             "create --name technician --role admin`, write it to a file (mode 0600) and set "
                             "RATING_TECH_TOKEN_FILE") from None
    except (OSError, UnicodeDecodeError) as error:
        raise CollectorError(f"cannot read the collector token in {path}: {error}") from None
    if not token:
        raise CollectorError(f"the collector token file {path} is empty")
    return token


def _detail(response: httpx.Response) -> str:
    """What the collector said was wrong (FastAPI's `detail`), else the start of the body."""
    try:
        detail = response.json().get("detail")
    except (ValueError, AttributeError):
        detail = None
    if isinstance(detail, list):
        detail = "; ".join(item.get("msg", str(item)) if isinstance(item, dict) else str(item) for item in detail)
    text = str(detail) if detail else response.text
    return " ".join(text.split())[:_QUOTED_MAX] or response.reason_phrase


class CollectorClient:
    def __init__(self, url: str, token: str, *, token_source: str = "the token", timeout: float = 10.0,
                 transport: httpx.BaseTransport | None = None):
        self.url = url.rstrip("/")
        self._token_source = token_source  # said in errors (a file name), never the token itself
        self._http = httpx.Client(base_url=self.url, headers={"Authorization": f"Bearer {token}"},
                                  timeout=timeout, transport=transport, follow_redirects=False)

    @classmethod
    def from_settings(cls, settings: TechSettings) -> CollectorClient:
        path = token_file(settings)
        return cls(collector_url(settings), read_token(path), token_source=f"the token in {path}",
                   timeout=settings.collector_timeout_s)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def get(self, path: str, **params: Any) -> Any:
        """GET an API path (e.g. /api/v1/devices/status); the decoded JSON body."""
        return self.request("GET", path, params=params or None)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        where = f"{method} {self.url}{path}"
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TimeoutException:
            raise CollectorError(f"the collector at {self.url} did not answer {method} {path} in time; is it "
                                 "running and is RATING_TECH_COLLECTOR_URL right?") from None
        except httpx.HTTPError as error:  # refused, unknown host, TLS, a broken connection
            raise CollectorError(f"cannot reach the collector at {self.url} ({error or type(error).__name__}); is "
                                 "it running and is RATING_TECH_COLLECTOR_URL right?") from None
        status = response.status_code
        if status == 401:
            raise CollectorError(f"the collector refused {self._token_source} ({_detail(response)}): unknown or "
                                 "revoked; make one with `rating-collector token create`", status)
        if status == 403:
            raise CollectorError(f"{where}: not allowed for {self._token_source} ({_detail(response)})", status)
        if status >= 400:
            raise CollectorError(f"{where}: {status} {_detail(response)}", status)
        if not 200 <= status < 300:
            raise CollectorError(f"{where}: unexpected {status} {response.reason_phrase}; is "
                                 "RATING_TECH_COLLECTOR_URL the collector's address?", status)
        try:
            return response.json()
        except ValueError:
            raise CollectorError(f"{where} answered something that is not JSON "
                                 f"({response.headers.get('content-type', 'no content type')}); is "
                                 "RATING_TECH_COLLECTOR_URL the collector's address?", status) from None
