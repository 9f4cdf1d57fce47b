"""The loopback server answers small requests without a Nagle/delayed-ACK stall."""

import socket

from bsg_simulator.server import _bind


def test_listener_is_tcp_so_asyncio_sets_nodelay_on_accepted_sockets():
    sock = _bind("127.0.0.1", 0)
    try:
        assert sock.proto == socket.IPPROTO_TCP
    finally:
        sock.close()
