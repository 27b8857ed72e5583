"""hello v2: a tiny HTTP service, one release directory of the sample service."""

import argparse
import os
import signal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

VERSION = "v2"


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/":
            self.reply(200, f"hello from {VERSION}\n")
        elif self.path == "/health":
            self.reply(200, "ok\n")
        elif self.path == "/version":
            self.reply(200, f'{{"version": "{VERSION}"}}\n', "application/json")
        else:
            self.reply(404, "not found\n")

    def do_POST(self):
        # A cache-flush style endpoint for the shipped runbook flush-hello-cache.
        if self.path == "/cache/flush":
            self.reply(200, '{"flushed": 3}\n', "application/json")
        else:
            self.reply(404, "not found\n")

    def reply(self, status, text, content_type="text/plain; charset=utf-8"):
        body = text.encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def stop(signum, frame):
    # Unwinds serve_forever() so the finally block below closes the socket.
    raise SystemExit(0)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8080")))
    port = parser.parse_args().port
    server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
    signal.signal(signal.SIGTERM, stop)
    print(f"hello {VERSION} listening on 127.0.0.1:{port}", flush=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()
        print(f"hello {VERSION} stopped", flush=True)


if __name__ == "__main__":
    main()
