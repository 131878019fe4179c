"""A running command: :class:`Execution`, its output streams and its stdin."""

from __future__ import annotations

import codecs
from collections import deque

from . import _boxlite
from ._boxlite import ExecResult


class ExecOutput:
    """One output stream of an execution as an async iterator of decoded lines.

    Each line keeps its ``"\\n"`` (the last one may have none), so ``"".join(lines)`` is the
    output exactly; bytes that are not UTF-8 become U+FFFD.
    """

    def __init__(self, native: _boxlite.ExecStream) -> None:
        self._native = native
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._lines: deque[str] = deque()
        self._partial = ""
        self._ended = False

    def __aiter__(self) -> ExecOutput:
        return self

    async def __anext__(self) -> str:
        while not self._lines:
            if self._ended:
                raise StopAsyncIteration
            chunk = await self._native.read()
            if chunk is None:
                self._ended = True
                rest = self._partial + self._decoder.decode(b"", final=True)
                self._partial = ""
                if rest:
                    self._lines.append(rest)
                continue
            pieces = (self._partial + self._decoder.decode(chunk)).split("\n")
            self._partial = pieces.pop()
            self._lines.extend(piece + "\n" for piece in pieces)
        return self._lines.popleft()

    async def _read_to_end(self) -> str:
        """Everything not read yet, decoded in one go (cheaper than line by line)."""
        text = "".join(self._lines) + self._partial
        self._lines.clear()
        self._partial = ""
        chunks: list[bytes] = []
        while not self._ended:
            chunk = await self._native.read()
            if chunk is None:
                self._ended = True
            else:
                chunks.append(chunk)
        return text + self._decoder.decode(b"".join(chunks), final=True)


# Upstream BoxLite's names for the two streams.
ExecStdout = ExecOutput
ExecStderr = ExecOutput


class ExecStdin:
    """The stdin of an execution."""

    def __init__(self, native: _boxlite.ExecStdin) -> None:
        self._native = native

    async def send_input(self, data: bytes) -> None:
        """Writes ``data`` to the command's stdin."""
        await self._native.send_input(data)

    async def close(self) -> None:
        """Closes stdin: the command reads end-of-file. Closing twice is fine."""
        await self._native.close()


class Execution:
    """A command running in a box (from :meth:`boxlite.Box.exec`)."""

    def __init__(self, native: _boxlite.Execution) -> None:
        self._native = native

    @property
    def id(self) -> str:
        return self._native.id

    def stdout(self) -> ExecOutput:
        """The stdout lines; the stream can be taken once. Read stdout and stderr concurrently
        (or neither): a full stream that nobody reads holds back the other."""
        return ExecOutput(self._native.stdout())

    def stderr(self) -> ExecOutput:
        """The stderr lines; the stream can be taken once (a TTY exec has none)."""
        return ExecOutput(self._native.stderr())

    def stdin(self) -> ExecStdin:
        """The stdin writer; it can be taken once."""
        return ExecStdin(self._native.stdin())

    async def wait(self) -> ExecResult:
        """Waits for the command to end. Streams not taken by now are discarded and an
        untaken stdin is closed. Cancelling the wait (``asyncio.wait_for``) loses nothing."""
        return await self._native.wait()

    async def kill(self) -> None:
        """SIGKILL to the command's process group."""
        await self._native.kill()

    async def signal(self, signal: int) -> None:
        """Sends ``signal`` to the command's process group."""
        await self._native.signal(signal)

    async def resize_tty(self, rows: int, cols: int) -> None:
        """Sets the terminal size of a TTY exec."""
        await self._native.resize_tty(rows, cols)

    def __repr__(self) -> str:
        return repr(self._native)
