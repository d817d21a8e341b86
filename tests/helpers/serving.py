"""An ASGI app served by a real uvicorn on port 0 in a thread, for the tests that need a browser or a
real HTTP client in front of it: the system picks the port, so two workers never race for one."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

WAIT_S = 20.0


@contextmanager
def serving(config: uvicorn.Config) -> Iterator[str]:
    """uvicorn on `config` (give it port 0) in a thread; yields its base URL, stops it at the end."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + WAIT_S
    while not server.started:
        assert thread.is_alive(), "the server stopped before it started"
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(WAIT_S)


def serving_app(app: Any) -> Any:
    """The collector's app as the dashboard tests serve it: loopback, port 0, no lifespan."""
    return serving(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
