"""SimpleBox: one box as an async context manager, with ``exec`` returning whole outputs."""

from __future__ import annotations

import asyncio
from types import TracebackType
from typing import Any, Optional, Union

from ._boxlite import BoxInfo, BoxMetrics, BoxOptions, CopyOptions, CopyStats, FileEntry
from .errors import InvalidStateError, TimeoutError
from .exec import ExecResult
from .runtime import Box, Boxlite, PathLike

__all__ = ["SimpleBox"]


class SimpleBox:
    """A box created (or, with ``reuse_existing``, found by name) and started on entry, and
    stopped on exit (with the default ``auto_remove=True`` that also removes it).

    ``runtime`` defaults to :meth:`Boxlite.default`. Other keyword arguments are
    :class:`BoxOptions` fields (``env``, ``working_dir``, ``user``, ``detach``, ...).
    """

    def __init__(
        self,
        image: Optional[str] = None,
        rootfs_path: Optional[str] = None,
        memory_mib: Optional[int] = None,
        cpus: Optional[float] = None,
        runtime: Optional[Boxlite] = None,
        name: Optional[str] = None,
        auto_remove: bool = True,
        reuse_existing: bool = False,
        **kwargs: Any,
    ) -> None:
        self._options = BoxOptions(
            image=image,
            rootfs_path=rootfs_path,
            cpus=cpus,
            memory_mib=memory_mib,
            auto_remove=auto_remove,
            **kwargs,
        )
        self._runtime = runtime
        self._name = name
        self._reuse_existing = reuse_existing
        self._box: Optional[Box] = None
        self._created: Optional[bool] = None

    def _started_box(self) -> Box:
        if self._box is None:
            raise InvalidStateError(
                "SimpleBox is not started: use 'async with SimpleBox(...) as box:' or "
                "'await box.start()' first"
            )
        return self._box

    @property
    def id(self) -> str:
        return self._started_box().id

    @property
    def name(self) -> Optional[str]:
        return self._started_box().name

    @property
    def created(self) -> Optional[bool]:
        """True when entering created the box, False when an existing one was reused, None
        before that."""
        return self._created

    def info(self) -> BoxInfo:
        """The box's info, read now (``await box.info()`` works as well)."""
        return self._started_box().info()

    async def metrics(self) -> BoxMetrics:
        """The box's counters now (``Box.metrics``)."""
        return await self._started_box().metrics()

    async def copy_in(
        self,
        host_path: PathLike,
        container_dest: str,
        copy_options: Optional[CopyOptions] = None,
    ) -> CopyStats:
        """Copies a host file or tree into the box (``Box.copy_in``)."""
        return await self._started_box().copy_in(host_path, container_dest, copy_options)

    async def copy_out(
        self,
        container_src: str,
        host_dest: PathLike,
        copy_options: Optional[CopyOptions] = None,
    ) -> CopyStats:
        """Copies a box file or tree to the host (``Box.copy_out``)."""
        return await self._started_box().copy_out(container_src, host_dest, copy_options)

    async def read_file(self, path: str) -> bytes:
        """The bytes of a box file (``Box.read_file``)."""
        return await self._started_box().read_file(path)

    async def write_file(self, path: str, data: Union[bytes, str], mode: int = 0o644) -> None:
        """Replaces a box file (``Box.write_file``)."""
        await self._started_box().write_file(path, data, mode)

    async def list_dir(self, path: str) -> list[FileEntry]:
        """The entries of a box directory (``Box.list_dir``)."""
        return await self._started_box().list_dir(path)

    async def start(self) -> SimpleBox:
        """Creates (or reuses) and starts the box; calling it again does nothing."""
        if self._box is not None:
            return self
        runtime = self._runtime if self._runtime is not None else Boxlite.default()
        if self._reuse_existing and self._name is not None:
            box, self._created = await runtime.get_or_create(self._options, name=self._name)
        else:
            box, self._created = await runtime.create(self._options, name=self._name), True
        await box.start()
        self._box = box
        return self

    async def stop(self) -> None:
        """Stops the box (removing it when ``auto_remove``); ``start()`` may follow."""
        box = self._started_box()
        self._box = None
        await box.stop()

    async def shutdown(self) -> None:
        """The same as :meth:`stop` (upstream's alias)."""
        await self.stop()

    async def __aenter__(self) -> SimpleBox:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        if self._box is not None:
            await self.stop()

    async def exec(
        self,
        cmd: str,
        *args: str,
        env: Optional[dict[str, str]] = None,
        user: Optional[str] = None,
        timeout: Optional[float] = None,
        cwd: Optional[str] = None,
    ) -> ExecResult:
        """Runs ``cmd *args`` to completion and returns its exit code and whole outputs.

        A non-zero exit is a result, not an error; a command that cannot start raises (for
        instance :class:`~boxlite.errors.CommandNotFoundError`); running past ``timeout``
        seconds kills it and raises :class:`~boxlite.errors.TimeoutError`. Its stdin is
        /dev/null.
        """
        box = self._started_box()
        execution = await box.exec(
            cmd, list(args), env, user=user, timeout_secs=timeout, cwd=cwd, stdin=False
        )
        # Both at once: a command that fills one stream while nobody reads it would stall.
        stdout, stderr = await asyncio.gather(
            execution.stdout()._read_to_end(), execution.stderr()._read_to_end()
        )
        result = await execution.wait()
        if result.timed_out:
            shown = " ".join((cmd, *args))
            raise TimeoutError(
                f"command {shown!r} in box {box.id} timed out after {timeout:g} s and was killed"
            )
        return ExecResult(
            result.exit_code, stdout, stderr, result.error_message, oom_killed=result.oom_killed
        )

    def __repr__(self) -> str:
        return f"SimpleBox(box={self._box!r})"
