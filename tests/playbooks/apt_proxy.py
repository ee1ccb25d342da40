"""The only way out of the test's network namespace: apt's HTTP proxy, allowed to the mirror only.

The chroot target runs inside a network namespace the test creates, so that what the playbook
does to the kernel (sysctl forwarding, the nftables table) stays there. apt inside still needs
Debian's mirror. Two processes bridge that gap without giving the namespace any route:

    python apt_proxy.py relay PORT SOCKET        inside the namespace: 127.0.0.1:PORT -> SOCKET
    python apt_proxy.py proxy SOCKET LOG HOST... outside: HTTP proxy on the unix socket, GET and
                                                 HEAD to the listed mirror hosts only

A unix socket is a file, so it crosses network namespaces; nothing else does. Every request is
appended to LOG (host and path), so the test can show what left the namespace.
"""

from __future__ import annotations

import asyncio
import http.client
import os
import socketserver
import sys
import urllib.parse
from http.server import BaseHTTPRequestHandler


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        writer.close()


async def relay(port: int, socket_path: str) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_unix_connection(socket_path)
        except OSError:
            writer.close()
            return
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))

    server = await asyncio.start_server(handle, "127.0.0.1", port)
    print("ready", flush=True)
    async with server:
        await server.serve_forever()


def proxy(socket_path: str, log_path: str, allowed: set[str]) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:
            pass

        def _forward(self) -> None:
            url = urllib.parse.urlsplit(self.path)
            with open(log_path, "a") as log:
                log.write(f"{self.command} {url.hostname} {url.path}\n")
            if url.scheme != "http" or url.hostname not in allowed:
                self.send_error(403, "only the Debian mirror")
                return
            upstream = http.client.HTTPConnection(url.hostname, url.port or 80, timeout=60)
            try:
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("proxy-connection", "connection", "host")}
                upstream.request(self.command, url.path + (f"?{url.query}" if url.query else ""),
                                 headers=headers)
                answer = upstream.getresponse()
                body = answer.read()
            except OSError as e:
                self.send_error(502, str(e))
                return
            finally:
                upstream.close()
            self.send_response(answer.status, answer.reason)
            for key, value in answer.getheaders():
                if key.lower() not in ("transfer-encoding", "connection", "content-length"):
                    self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        do_GET = do_HEAD = _forward

    class Server(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
        daemon_threads = True

        def get_request(self):  # type: ignore[no-untyped-def]
            request, _ = super().get_request()
            return request, ("unix", 0)  # BaseHTTPRequestHandler wants a (host, port)

    if os.path.exists(socket_path):
        os.unlink(socket_path)
    with Server(socket_path, Handler) as server:
        print("ready", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    if sys.argv[1] == "relay":
        asyncio.run(relay(int(sys.argv[2]), sys.argv[3]))
    else:
        proxy(sys.argv[2], sys.argv[3], set(sys.argv[4:]))
