"""The async API: :class:`Boxlite` (a runtime on a home directory) and :class:`Box`."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import ClassVar, Optional, Union

from . import _boxlite
from ._boxlite import (
    BoxInfo,
    BoxMetrics,
    BoxOptions,
    CopyOptions,
    CopyStats,
    FileEntry,
    ImageRegistry,
    RuntimeMetrics,
)
from .errors import InvalidArgumentError
from .execution import Execution
from .images import ImageHandle

PathLike = Union[str, "os.PathLike[str]"]
EnvLike = Union[Mapping[str, str], Sequence[tuple[str, str]]]


@dataclass(frozen=True)
class Options:
    """How to open a runtime. ``home_dir=None`` means ``$BOXLITE_HOME``, else ``~/.boxlite``.

    ``image_registries`` (:class:`ImageRegistry` entries: transport, credentials, mirrors,
    search order) come before those of ``$BOXLITE_IMAGE_REGISTRIES`` and of the home's
    ``config.json``; the first entry naming a host decides its settings.
    """

    home_dir: Optional[PathLike] = None
    image_registries: list[ImageRegistry] = field(default_factory=list)

    def __post_init__(self) -> None:
        for i, entry in enumerate(self.image_registries):
            if not isinstance(entry, ImageRegistry):
                raise InvalidArgumentError(
                    f"Options.image_registries[{i}] is a {type(entry).__name__}, not a "
                    "boxlite.ImageRegistry"
                )


def env_pairs(env: Optional[EnvLike]) -> Optional[list[tuple[str, str]]]:
    """Upstream passes env as a list of pairs; a mapping is accepted too."""
    if env is None:
        return None
    if isinstance(env, Mapping):
        return list(env.items())
    return list(env)


class Box:
    """A handle to one box. It holds the id only: :meth:`info` always reads the database."""

    def __init__(self, native: _boxlite.Box) -> None:
        self._native = native

    @property
    def id(self) -> str:
        return self._native.id

    @property
    def name(self) -> Optional[str]:
        return self._native.name

    def info(self) -> BoxInfo:
        """The box's info, read now. Upstream's ``info()`` is sync; ``await box.info()`` works
        as well."""
        return self._native.info()

    async def metrics(self) -> BoxMetrics:
        """The box's usage now, read on the host (CPU, memory, pids, block io from its cgroup;
        its network's bytes and packets; each ``None`` while it does not run or when its source
        is missing), and this runtime's exec counts and last start times. ``cpu_percent``
        covers the interval since this runtime's previous call, or since the box started."""
        return await self._native.metrics()

    async def copy_in(
        self,
        host_path: PathLike,
        container_dest: str,
        copy_options: Optional[CopyOptions] = None,
    ) -> CopyStats:
        """Copies the host file or directory tree ``host_path`` into the running box at
        ``container_dest``, as ``docker cp`` places it (``copy_options`` default:
        ``CopyOptions()``). Modes, mtimes and symlinks are kept; files belong to box root."""
        return await self._native.copy_in(host_path, container_dest, copy_options)

    async def copy_out(
        self,
        container_src: str,
        host_dest: PathLike,
        copy_options: Optional[CopyOptions] = None,
    ) -> CopyStats:
        """Copies the running box's file or tree ``container_src`` to the host at
        ``host_dest``; it belongs to the calling user, setuid bits cleared. A FIFO or device
        in the box fails the copy (:class:`~boxlite.errors.InvalidArgumentError`)."""
        return await self._native.copy_out(container_src, host_dest, copy_options)

    async def read_file(self, path: str) -> bytes:
        """The bytes of the box file ``path`` (at most 64 MiB; use :meth:`copy_out` beyond)."""
        return await self._native.read_file(path)

    async def write_file(self, path: str, data: Union[bytes, str], mode: int = 0o644) -> None:
        """Replaces the box file ``path`` with ``data`` (a ``str`` is written as UTF-8),
        making missing parent directories."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        await self._native.write_file(path, raw, mode)

    async def list_dir(self, path: str) -> list[FileEntry]:
        """The entries of the box directory ``path``, sorted by name."""
        return await self._native.list_dir(path)

    async def start(self) -> None:
        """Starts the box (a no-op when it runs; a failed box is retried)."""
        await self._native.start()

    async def stop(self, timeout_secs: Optional[float] = None) -> None:
        """Stops the box: SIGTERM to its processes, SIGKILL after ``timeout_secs`` (default 10).
        With ``auto_remove`` (the default) the box is then removed."""
        await self._native.stop(timeout_secs)

    async def exec(
        self,
        command: str,
        args: Optional[Sequence[str]] = None,
        env: Optional[EnvLike] = None,
        tty: bool = False,
        user: Optional[str] = None,
        timeout_secs: Optional[float] = None,
        cwd: Optional[str] = None,
        *,
        stdin: bool = True,
    ) -> Execution:
        """Starts ``command args...`` in the box (starting a configured or stopped box first).

        The command's stdin is a pipe (see :meth:`Execution.stdin`; ``wait()`` closes it when
        it was never taken) unless ``stdin=False``. With ``tty=True`` it runs on a terminal:
        all output arrives on stdout. After ``timeout_secs`` its process group is killed and
        the result says ``timed_out``.
        """
        native = await self._native.exec(
            command,
            list(args) if args is not None else None,
            env_pairs(env),
            tty,
            user,
            timeout_secs,
            cwd,
            stdin=stdin,
        )
        return Execution(native)

    async def __aenter__(self) -> Box:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        await self.stop()

    def __repr__(self) -> str:
        return f"Box(id={self.id!r}, name={self.name!r})"


class Boxlite:
    """A runtime: an open home directory with its state database.

    Several processes (and several ``Boxlite`` objects) may use one home at once. Each call
    that touches a box first reconciles it with the processes actually running. A process
    that forks gets an ``InvalidStateError`` from the parent's runtimes and opens its own.
    """

    _default: ClassVar[Optional[Boxlite]] = None
    _default_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, options: Optional[Options] = None) -> None:
        opts = options or Options()
        home = opts.home_dir
        self._native = _boxlite.Runtime.open(
            os.fspath(home) if home is not None else None, list(opts.image_registries)
        )
        self._pid = os.getpid()

    @classmethod
    def default(cls) -> Boxlite:
        """The runtime on ``$BOXLITE_HOME``, else ``~/.boxlite``, shared by every caller of
        ``default()`` in this process. After :meth:`close` or :meth:`shutdown` (or in a forked
        child) the next call opens a fresh one."""
        with cls._default_lock:
            current = cls._default
            if current is None or current._pid != os.getpid():
                current = cls._default = cls()
            return current

    @classmethod
    def init_default(cls, options: Options) -> None:
        """Makes :meth:`default` return a runtime opened with ``options`` (upstream's way to
        point the default runtime at another home)."""
        runtime = cls(options)
        with cls._default_lock:
            cls._default = runtime

    @property
    def home_dir(self) -> str:
        return os.fspath(self._native.home_dir)

    @property
    def images(self) -> ImageHandle:
        """The image store of this home: ``pull``, ``list``, ``inspect``, ``remove``,
        ``prune``."""
        return ImageHandle(self._native.images())

    async def create(self, options: BoxOptions, name: Optional[str] = None) -> Box:
        """Persists a ``configured`` box; nothing runs until ``start()`` or ``exec()``."""
        return Box(await self._native.create(options, name))

    async def get(self, id_or_name: str) -> Optional[Box]:
        """The box with this id, name or unique id prefix, or ``None``."""
        native = await self._native.get(id_or_name)
        return Box(native) if native is not None else None

    async def get_info(self, id_or_name: str) -> Optional[BoxInfo]:
        """The info of the box with this id, name or unique id prefix, or ``None``."""
        return await self._native.get_info(id_or_name)

    async def list_info(self) -> list[BoxInfo]:
        """Every box, newest first."""
        return await self._native.list_info()

    async def metrics(self) -> RuntimeMetrics:
        """This runtime's counters since it was opened: boxes created and failed, execs and
        exec errors; ``num_running_boxes`` counts every running box of the home."""
        return await self._native.metrics()

    async def get_or_create(
        self, options: BoxOptions, name: Optional[str] = None
    ) -> tuple[Box, bool]:
        """The box named ``name``, created from ``options`` if missing; the flag says whether
        it was created. Without a name a new box is created."""
        native, created = await self._native.get_or_create(options, name)
        return Box(native), created

    async def remove(self, id_or_name: str, force: bool = False) -> None:
        """Deletes the box and its files; an active box needs ``force=True``."""
        await self._native.remove(id_or_name, force)

    async def shutdown(self, timeout: Optional[float] = None) -> None:
        """Stops every box this runtime started (detached ones keep running), each with
        ``timeout`` seconds of grace (``None``: 10, ``-1``: no limit). Idempotent; any other
        call on this runtime then raises :class:`InvalidStateError`."""
        self._forget_default()
        await self._native.shutdown(timeout)

    def close(self) -> None:
        """:meth:`shutdown` with the default grace, blocking; ``Boxlite.default()`` opens a
        fresh runtime afterwards."""
        self._forget_default()
        self._native.close()

    def __enter__(self) -> Boxlite:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def _forget_default(self) -> None:
        with Boxlite._default_lock:
            if Boxlite._default is self:
                Boxlite._default = None

    def __repr__(self) -> str:
        return f"Boxlite({self._native!r})"


def _after_fork_in_child() -> None:
    # The parent's lock may have been held by a thread that does not exist here.
    Boxlite._default_lock = threading.Lock()
    Boxlite._default = None


os.register_at_fork(after_in_child=_after_fork_in_child)

__all__ = ["Box", "Boxlite", "Options"]
