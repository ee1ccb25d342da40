"""uvicorn's websocket protocol, without permessage-deflate on the console's websocket.

Every message of the web console's websocket (``/console/ws``) is small: a keystroke, a TTY's
echo, a line of output. Deflating each costs more time than it saves bytes, on both ends, and
it is on the path of every keystroke of an exec session (the page to the remote TTY and back);
``plat exec`` declines compression for the same reason (``tui.exec_session.connect``). Other
websockets (``logs --follow`` from the CLI) keep it: their lines compress well over a slow link.

Imported by ``platd.daemon`` only when it serves (uvicorn is not a light import).
"""

from __future__ import annotations

from typing import Any

from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

UNCOMPRESSED = ("/console/ws",)  # paths whose websocket never negotiates permessage-deflate


class Protocol(WebSocketsSansIOProtocol):
    def handle_connect(self, event: Any) -> None:
        if event.path.split("?", 1)[0] in UNCOMPRESSED:
            self.conn.available_extensions = []  # the handshake then accepts none
        super().handle_connect(event)
