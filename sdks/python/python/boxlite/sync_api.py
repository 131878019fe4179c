"""The sync API: the async classes with the same names and methods, usable without an event
loop. Every call runs on one background event-loop thread per process (started on first use,
and anew in a forked child) and blocks the caller until it is done.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine, Sequence
from concurrent.futures import Future
from types import TracebackType
from typing import Any, Optional, TypeVar, Union

from ._boxlite import (
    BoxInfo,
    BoxMetrics,
    BoxOptions,
    CopyOptions,
    CopyStats,
    ExecResult,
    FileEntry,
    ImageInfo,
    ImagePruneReport,
    RuntimeMetrics,
)
from .codebox import DEFAULT_IMAGE, CodeBox
from .errors import InvalidStateError
from .exec import ExecResult as SimpleExecResult
from .execution import ExecOutput, ExecStdin, Execution
from .images import ImageHandle
from .runtime import Box, Boxlite, EnvLike, Options, PathLike
from .simplebox import SimpleBox

__all__ = [
    "SyncBox",
    "SyncBoxlite",
    "SyncCodeBox",
    "SyncExecStdin",
    "SyncExecStream",
    "SyncExecution",
    "SyncImageHandle",
    "SyncSimpleBox",
]

T = TypeVar("T")


class _LoopThread:
    """An event loop running forever on a daemon thread."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self.loop = asyncio.new_event_loop()
        ready = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(ready,), name="boxlite-sync", daemon=True
        )
        self.thread.start()
        ready.wait()

    def _run(self, ready: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.call_soon(ready.set)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        if threading.current_thread() is self.thread:
            coro.close()
            raise InvalidStateError(
                "a boxlite sync call was made from boxlite's own event-loop thread (from async "
                "code?): use the async API there"
            )
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result()
        except BaseException:
            # Ctrl-C while waiting: do not leave the operation running unobserved.
            future.cancel()
            raise


_loop_lock = threading.Lock()
_loop_thread: Optional[_LoopThread] = None


def _run(coro: Coroutine[Any, Any, T]) -> T:
    """Runs ``coro`` on this process's boxlite loop thread and returns its result."""
    global _loop_thread
    with _loop_lock:
        if _loop_thread is None or _loop_thread.pid != os.getpid():
            _loop_thread = _LoopThread()
        current = _loop_thread
    return current.run(coro)


def _after_fork_in_child() -> None:
    # The loop thread does not exist in the child, and the lock may have been held.
    global _loop_lock, _loop_thread
    _loop_lock = threading.Lock()
    _loop_thread = None


os.register_at_fork(after_in_child=_after_fork_in_child)


class SyncExecStream:
    """An output stream of a :class:`SyncExecution`: an iterator of decoded lines."""

    def __init__(self, stream: ExecOutput) -> None:
        self._stream = stream

    def __iter__(self) -> SyncExecStream:
        return self

    def __next__(self) -> str:
        try:
            return _run(self._stream.__anext__())
        except StopAsyncIteration:
            raise StopIteration from None


SyncExecStdout = SyncExecStream
SyncExecStderr = SyncExecStream


class SyncExecStdin:
    """The stdin of a :class:`SyncExecution`."""

    def __init__(self, stdin: ExecStdin) -> None:
        self._stdin = stdin

    def send_input(self, data: bytes) -> None:
        _run(self._stdin.send_input(data))

    def close(self) -> None:
        _run(self._stdin.close())


class SyncExecution:
    """:class:`~boxlite.execution.Execution` with blocking methods."""

    def __init__(self, execution: Execution) -> None:
        self._execution = execution

    @property
    def id(self) -> str:
        return self._execution.id

    def stdout(self) -> SyncExecStream:
        """The stdout lines. Read one stream to its end while the other is large and unread,
        and the command stalls: read them from two threads, or use SyncSimpleBox."""
        return SyncExecStream(self._execution.stdout())

    def stderr(self) -> SyncExecStream:
        return SyncExecStream(self._execution.stderr())

    def stdin(self) -> SyncExecStdin:
        return SyncExecStdin(self._execution.stdin())

    def wait(self) -> ExecResult:
        return _run(self._execution.wait())

    def kill(self) -> None:
        _run(self._execution.kill())

    def signal(self, signal: int) -> None:
        _run(self._execution.signal(signal))

    def resize_tty(self, rows: int, cols: int) -> None:
        _run(self._execution.resize_tty(rows, cols))


class _SyncFiles:
    """The file methods SyncBox and SyncSimpleBox share, over the async object in
    ``_files`` (a Box or a SimpleBox, which have the same file methods)."""

    @property
    def _files(self) -> Union[Box, SimpleBox]:
        raise NotImplementedError

    def copy_in(
        self,
        host_path: PathLike,
        container_dest: str,
        copy_options: Optional[CopyOptions] = None,
    ) -> CopyStats:
        return _run(self._files.copy_in(host_path, container_dest, copy_options))

    def copy_out(
        self,
        container_src: str,
        host_dest: PathLike,
        copy_options: Optional[CopyOptions] = None,
    ) -> CopyStats:
        return _run(self._files.copy_out(container_src, host_dest, copy_options))

    def read_file(self, path: str) -> bytes:
        return _run(self._files.read_file(path))

    def write_file(self, path: str, data: Union[bytes, str], mode: int = 0o644) -> None:
        _run(self._files.write_file(path, data, mode))

    def list_dir(self, path: str) -> list[FileEntry]:
        return _run(self._files.list_dir(path))


class SyncBox(_SyncFiles):
    """:class:`~boxlite.Box` with blocking methods; a context manager that starts and stops
    the box."""

    def __init__(self, box: Box) -> None:
        self._box = box

    @property
    def _files(self) -> Box:
        return self._box

    @property
    def id(self) -> str:
        return self._box.id

    @property
    def name(self) -> Optional[str]:
        return self._box.name

    def info(self) -> BoxInfo:
        return self._box.info()

    def metrics(self) -> BoxMetrics:
        return _run(self._box.metrics())

    def start(self) -> None:
        _run(self._box.start())

    def stop(self, timeout_secs: Optional[float] = None) -> None:
        _run(self._box.stop(timeout_secs))

    def exec(
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
    ) -> SyncExecution:
        execution = _run(
            self._box.exec(command, args, env, tty, user, timeout_secs, cwd, stdin=stdin)
        )
        return SyncExecution(execution)

    def __enter__(self) -> SyncBox:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"Sync{self._box!r}"


class SyncImageHandle:
    """:class:`~boxlite.images.ImageHandle` with blocking methods."""

    def __init__(self, images: ImageHandle) -> None:
        self._images = images

    def pull(self, reference: str) -> ImageInfo:
        return _run(self._images.pull(reference))

    def list(self) -> list[ImageInfo]:
        return _run(self._images.list())

    def inspect(self, reference: str) -> Optional[ImageInfo]:
        return _run(self._images.inspect(reference))

    def remove(self, reference: str, force: bool = False) -> None:
        _run(self._images.remove(reference, force))

    def prune(self) -> ImagePruneReport:
        return _run(self._images.prune())

    def __repr__(self) -> str:
        return "SyncImageHandle()"


class SyncBoxlite:
    """:class:`~boxlite.Boxlite` with blocking methods. As a context manager it closes the
    runtime on exit (stopping the boxes it started)."""

    def __init__(self, options: Optional[Options] = None) -> None:
        self._runtime = Boxlite(options)

    @classmethod
    def _wrap(cls, runtime: Boxlite) -> SyncBoxlite:
        wrapper = cls.__new__(cls)
        wrapper._runtime = runtime
        return wrapper

    @classmethod
    def default(cls) -> SyncBoxlite:
        """The process's shared default runtime (:meth:`Boxlite.default`)."""
        return cls._wrap(Boxlite.default())

    @staticmethod
    def init_default(options: Options) -> None:
        """Makes :meth:`default` use a runtime opened with ``options``."""
        Boxlite.init_default(options)

    @property
    def runtime(self) -> Boxlite:
        """The async runtime underneath."""
        return self._runtime

    @property
    def home_dir(self) -> str:
        return self._runtime.home_dir

    @property
    def images(self) -> SyncImageHandle:
        """The image store of this home, with blocking methods."""
        return SyncImageHandle(self._runtime.images)

    def create(self, options: BoxOptions, name: Optional[str] = None) -> SyncBox:
        return SyncBox(_run(self._runtime.create(options, name)))

    def get(self, id_or_name: str) -> Optional[SyncBox]:
        box = _run(self._runtime.get(id_or_name))
        return SyncBox(box) if box is not None else None

    def get_info(self, id_or_name: str) -> Optional[BoxInfo]:
        return _run(self._runtime.get_info(id_or_name))

    def list_info(self) -> list[BoxInfo]:
        return _run(self._runtime.list_info())

    def metrics(self) -> RuntimeMetrics:
        return _run(self._runtime.metrics())

    def get_or_create(
        self, options: BoxOptions, name: Optional[str] = None
    ) -> tuple[SyncBox, bool]:
        box, created = _run(self._runtime.get_or_create(options, name))
        return SyncBox(box), created

    def remove(self, id_or_name: str, force: bool = False) -> None:
        _run(self._runtime.remove(id_or_name, force))

    def shutdown(self, timeout: Optional[float] = None) -> None:
        _run(self._runtime.shutdown(timeout))

    def close(self) -> None:
        self._runtime.close()

    def start(self) -> SyncBoxlite:
        """For use without ``with``: nothing to do, returns self (upstream's name)."""
        return self

    def stop(self) -> None:
        """For use without ``with``: the same as :meth:`close` (upstream's name)."""
        self.close()

    def __enter__(self) -> SyncBoxlite:
        return self

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Sync{self._runtime!r}"


RuntimeLike = Union[SyncBoxlite, Boxlite, None]


def _async_runtime(runtime: RuntimeLike) -> Optional[Boxlite]:
    return runtime.runtime if isinstance(runtime, SyncBoxlite) else runtime


class SyncSimpleBox(_SyncFiles):
    """:class:`~boxlite.SimpleBox` with blocking methods; a context manager."""

    def __init__(
        self,
        image: Optional[str] = None,
        rootfs_path: Optional[str] = None,
        memory_mib: Optional[int] = None,
        cpus: Optional[float] = None,
        runtime: RuntimeLike = None,
        name: Optional[str] = None,
        auto_remove: bool = True,
        reuse_existing: bool = False,
        **kwargs: Any,
    ) -> None:
        self._simple = SimpleBox(
            image,
            rootfs_path,
            memory_mib,
            cpus,
            _async_runtime(runtime),
            name,
            auto_remove,
            reuse_existing,
            **kwargs,
        )

    @property
    def _files(self) -> SimpleBox:
        return self._simple

    @property
    def id(self) -> str:
        return self._simple.id

    @property
    def name(self) -> Optional[str]:
        return self._simple.name

    @property
    def created(self) -> Optional[bool]:
        return self._simple.created

    def info(self) -> BoxInfo:
        return self._simple.info()

    def metrics(self) -> BoxMetrics:
        return _run(self._simple.metrics())

    def start(self) -> SyncSimpleBox:
        _run(self._simple.start())
        return self

    def stop(self) -> None:
        _run(self._simple.stop())

    def exec(
        self,
        cmd: str,
        *args: str,
        env: Optional[dict[str, str]] = None,
        user: Optional[str] = None,
        timeout: Optional[float] = None,
        cwd: Optional[str] = None,
    ) -> SimpleExecResult:
        return _run(self._simple.exec(cmd, *args, env=env, user=user, timeout=timeout, cwd=cwd))

    def __enter__(self) -> SyncSimpleBox:
        return self.start()

    def __exit__(
        self,
        exc_type: Optional[type[BaseException]],
        exc: Optional[BaseException],
        tb: Optional[TracebackType],
    ) -> None:
        _run(self._simple.__aexit__(exc_type, exc, tb))


class SyncCodeBox(SyncSimpleBox):
    """:class:`~boxlite.CodeBox` with blocking methods; a context manager."""

    def __init__(
        self,
        image: Optional[str] = DEFAULT_IMAGE,
        memory_mib: Optional[int] = None,
        cpus: Optional[float] = None,
        runtime: RuntimeLike = None,
        **kwargs: Any,
    ) -> None:
        self._simple = self._code = CodeBox(
            image, memory_mib, cpus, _async_runtime(runtime), **kwargs
        )

    def run(self, code: str, timeout: Optional[float] = None) -> str:
        return _run(self._code.run(code, timeout))

    def run_script(self, script_path: Union[str, os.PathLike[str]]) -> str:
        return _run(self._code.run_script(os.fspath(script_path)))

    def install_package(self, package: str) -> str:
        return _run(self._code.install_package(package))

    def install_packages(self, *packages: str) -> str:
        return _run(self._code.install_packages(*packages))
