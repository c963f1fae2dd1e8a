"""A simulated day's rejected requests say why: the status and body, or the client's error."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from servers import free_port

from scheduler.simulate.traffic import MAX_REJECTIONS, Api, send_traffic


class _Overloaded(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers["Content-Length"]))
        body = b'{"detail": "overloaded"}'
        self.send_response(503)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_rejected_requests_are_counted_and_the_first_few_described():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Overloaded)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        api = Api(f"http://127.0.0.1:{server.server_port}", "key", "admin", proc=None)
        traffic = send_traffic(api, "2013-01-15", [{"x": i} for i in range(8)], [0] * 8, 2)
    finally:
        server.shutdown()
    assert traffic.rejected == 8 and traffic.request_ids == []
    assert len(traffic.rejections) == MAX_REJECTIONS
    assert all(r.startswith("HTTP 503: ") and "overloaded" in r for r in traffic.rejections)


def test_a_request_that_never_reaches_the_api_names_the_client_error():
    api = Api(f"http://127.0.0.1:{free_port()}", "key", "admin", proc=None)  # nothing listens

    traffic = send_traffic(api, "2013-01-15", [{"x": 1}], [0], 1)

    assert traffic.rejected == 1
    assert traffic.rejections[0].startswith("ConnectError")
