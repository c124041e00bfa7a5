"""uvicorn's HTTP/1.1 protocol with Nagle's algorithm off on every connection.

Under ``--workers N`` uvicorn binds the listening socket itself with protocol number 0, and
asyncio switches Nagle off only on sockets that say IPPROTO_TCP; every keep-alive response
after the first then waits about 40 ms for the client's delayed ACK (uvicorn #3149).
"""

from __future__ import annotations

import asyncio
import socket

from uvicorn.protocols.http.h11_impl import H11Protocol

__all__ = ["NoDelayH11Protocol"]


class NoDelayH11Protocol(H11Protocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        super().connection_made(transport)
