"""The one web server of the tests (http, youtube and mirror sources), on 127.0.0.1: files of a folder with
Range support, plus scripted faults (stalls, truncated bodies, slow responses), a request log and
the most requests it had in flight at once."""

from __future__ import annotations

import re
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path


class MediaServer(ThreadingHTTPServer):
    def __init__(self, root: Path):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.stall: set[str] = set()  # names whose body stops after 100 bytes until shutdown
        self.truncate: dict[str, int] = {}  # name -> how many more responses send half the body
        self.delay_s = 0.0  # before every response
        self.log: list[tuple[str, str | None, float]] = []  # (name, Range header, time)
        self.in_flight = self.max_in_flight = 0
        self.lock, self.released = threading.Lock(), threading.Event()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def names(self) -> list[str]:
        return sorted(name for name, _, _ in self.log)

    def requests(self) -> list[tuple[str, str | None]]:
        """(name, Range header) of every request, in order."""
        return [(name, byte_range) for name, byte_range, _ in self.log]

    def __enter__(self) -> "MediaServer":
        threading.Thread(target=self.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()


class _Handler(BaseHTTPRequestHandler):
    server: MediaServer

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        srv, name = self.server, self.path.lstrip("/")
        with srv.lock:
            srv.log.append((name, self.headers.get("Range"), time.monotonic()))
            srv.in_flight += 1
            srv.max_in_flight = max(srv.max_in_flight, srv.in_flight)
        try:
            time.sleep(srv.delay_s)
            self._respond(srv, name)
        finally:
            with srv.lock:
                srv.in_flight -= 1

    def _respond(self, srv: MediaServer, name: str) -> None:
        path = srv.root / name
        if not path.is_file():
            self.send_error(404)
            return
        data = path.read_bytes()
        start = (
            int(re.match(r"bytes=(\d+)-", self.headers["Range"]).group(1)) if self.headers.get("Range") else 0
        )
        self.send_response(206 if start else 200)
        self.send_header("Content-Type", "video/mp4" if name.endswith(".mp4") else "application/octet-stream")
        self.send_header("Content-Length", str(len(data) - start))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        body = data[start:]
        if name in srv.stall:
            self.wfile.write(body[:100])
            self.wfile.flush()
            srv.released.wait(30)
            return
        with srv.lock:
            cut = srv.truncate.get(name, 0) > 0
            if cut:
                srv.truncate[name] -= 1
        self.wfile.write(body[: len(body) // 2] if cut else body)
