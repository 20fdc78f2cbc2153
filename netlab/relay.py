"""Loopback relays: the harness (host namespace) reaches netlab's devices on 127.0.0.1.

Each relay listens on 127.0.0.1:PORT in the host namespace and opens its
upstream socket inside netlab's management namespace, so no address outside
loopback is ever used on the host and nothing of the host's network changes.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time

from . import ns

CONNECT_TIMEOUT = 5.0
UDP_IDLE = 120.0  # a client's upstream socket is dropped after this much silence


class TcpRelay:
    def __init__(self, netns: str, listen_port: int, target: tuple[str, int]) -> None:
        self.netns, self.target = netns, target
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", listen_port))
        self.server.listen(64)
        self.port = self.server.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, name=f"relay-tcp-{self.port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        upstream = ns.netns_socket(self.netns, socket.AF_INET, socket.SOCK_STREAM)
        upstream.settimeout(CONNECT_TIMEOUT)
        try:
            upstream.connect(self.target)
        except OSError:
            client.close()
            upstream.close()
            return
        upstream.settimeout(None)
        for sock in (client, upstream):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=_pump, args=(client, upstream), daemon=True).start()
        _pump(upstream, client)

    def close(self) -> None:
        self._closed = True
        self.server.close()


def _pump(src: socket.socket, dst: socket.socket) -> None:
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for sock, how in ((dst, socket.SHUT_WR), (src, socket.SHUT_RD)):
            try:
                sock.shutdown(how)
            except OSError:
                pass


class UdpRelay:
    def __init__(self, netns: str, listen_port: int, target: tuple[str, int]) -> None:
        self.netns, self.target = netns, target
        self.server = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.server.bind(("127.0.0.1", listen_port))
        self.port = self.server.getsockname()[1]
        self.selector = selectors.DefaultSelector()
        self.selector.register(self.server, selectors.EVENT_READ, None)
        self.clients: dict[tuple[str, int], tuple[socket.socket, float]] = {}
        self._closed = False
        threading.Thread(target=self._run, name=f"relay-udp-{self.port}", daemon=True).start()

    def _run(self) -> None:
        while not self._closed:
            try:
                events = self.selector.select(timeout=5.0)
            except (OSError, ValueError):
                return
            now = time.monotonic()
            for key, _ in events:
                try:
                    if key.data is None:
                        data, client = self.server.recvfrom(65536)
                        upstream = self._upstream(client, now)
                        upstream.send(data)
                    else:
                        data = key.fileobj.recv(65536)  # type: ignore[union-attr]
                        self.server.sendto(data, key.data)
                        self.clients[key.data] = (key.fileobj, now)  # type: ignore[assignment]
                except OSError:
                    continue
            for client, (sock, seen) in list(self.clients.items()):
                if now - seen > UDP_IDLE:
                    self.selector.unregister(sock)
                    sock.close()
                    del self.clients[client]

    def _upstream(self, client: tuple[str, int], now: float) -> socket.socket:
        entry = self.clients.get(client)
        if entry is None:
            sock = ns.netns_socket(self.netns, socket.AF_INET, socket.SOCK_DGRAM)
            sock.connect(self.target)
            self.selector.register(sock, selectors.EVENT_READ, client)
        else:
            sock = entry[0]
        self.clients[client] = (sock, now)
        return sock

    def close(self) -> None:
        self._closed = True
        self.server.close()
        for sock, _ in self.clients.values():
            sock.close()
