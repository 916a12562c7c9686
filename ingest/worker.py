"""A local worker process: ``python -m memindex.ingest.worker FD LOG_LEVEL DRIVER_PID``, started by the ``local``
executor with one end of a socket pair. It analyzes the tasks it receives (``run_task``; its models load on
first use and stay for later tasks) and sends back progress events and results. A fresh interpreter, not a
fork or a re-import of the caller's main module: nothing of the driver's state is inherited.

Messages are pickles framed by an 8-byte length; the socket pair is private to the two processes."""

from __future__ import annotations

import logging
import os
import pickle
import signal
import socket
import sys
import threading
import time
from typing import Any

__all__ = ["Channel", "main"]

_HEADER = 8


class Channel:
    """Whole Python objects over a stream socket; ``send`` is safe from several threads."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self._lock = threading.Lock()

    def fileno(self) -> int:
        return self.sock.fileno()

    def send(self, obj: Any) -> None:
        data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            self.sock.sendall(len(data).to_bytes(_HEADER, "big") + data)

    def recv(self) -> Any:
        """The next object; EOFError when the other side is gone."""
        size = int.from_bytes(self._exactly(_HEADER), "big")
        return pickle.loads(self._exactly(size))

    def _exactly(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self.sock.recv(min(left, 1 << 20))
            if not chunk:
                raise EOFError("the other end of the channel closed")
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def close(self) -> None:
        self.sock.close()


def _watch_driver(driver: int) -> None:
    """A worker whose driver died (killed) exits within a second instead of finishing a task for nobody."""
    while os.getppid() == driver:
        time.sleep(1.0)
    os._exit(1)


def main(argv: list[str]) -> None:
    fd, level, driver = (int(a) for a in argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle
    logging.basicConfig(level=level, format="memindex worker %(process)d: %(levelname)s %(name)s: %(message)s")
    threading.Thread(target=_watch_driver, args=(driver,), name="memindex-driver-watch", daemon=True).start()
    from memindex.ingest.work import run_task

    chan = Channel(socket.socket(fileno=fd))

    def progress(event: Any) -> None:
        chan.send(("event", event))

    while True:
        try:
            task = chan.recv()
        except EOFError:
            return
        if task is None:
            return
        chan.send(("result", task.seq, run_task(task, progress)))


if __name__ == "__main__":
    main(sys.argv[1:])
