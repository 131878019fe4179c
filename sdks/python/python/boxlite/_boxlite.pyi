# Type stubs of the native module; checked against it with `python -m mypy.stubtest`.
import os
from collections.abc import Awaitable, Generator
from typing import Any, Optional, final

__all__ = [
    "Box",
    "BoxInfo",
    "BoxOptions",
    "BoxStateInfo",
    "ExecResult",
    "ExecStdin",
    "ExecStream",
    "Execution",
    "Runtime",
    "error_codes",
    "status_names",
]

@final
class BoxOptions:
    image: Optional[str]
    rootfs_path: Optional[str]
    cpus: Optional[float]
    memory_mib: Optional[int]
    disk_size_gb: Optional[Any]
    working_dir: Optional[str]
    env: list[tuple[str, str]]
    volumes: Optional[Any]
    network: Optional[Any]
    ports: Optional[Any]
    auto_remove: Optional[bool]
    detach: Optional[bool]
    entrypoint: Optional[list[str]]
    cmd: Optional[list[str]]
    user: Optional[str]
    advanced: Optional[Any]
    secrets: Optional[Any]
    def __new__(
        cls,
        image: Optional[str] = None,
        rootfs_path: Optional[str] = None,
        cpus: Optional[float] = None,
        memory_mib: Optional[int] = None,
        disk_size_gb: Optional[Any] = None,
        working_dir: Optional[str] = None,
        env: list[tuple[str, str]] = ...,
        volumes: Optional[Any] = None,
        network: Optional[Any] = None,
        ports: Optional[Any] = None,
        auto_remove: Optional[bool] = None,
        detach: Optional[bool] = None,
        entrypoint: Optional[list[str]] = None,
        cmd: Optional[list[str]] = None,
        user: Optional[str] = None,
        advanced: Optional[Any] = None,
        secrets: Optional[Any] = None,
    ) -> BoxOptions: ...

@final
class BoxStateInfo:
    @property
    def status(self) -> str: ...
    @property
    def running(self) -> bool: ...
    @property
    def pid(self) -> Optional[int]: ...
    @property
    def exit_code(self) -> Optional[int]: ...
    @property
    def error_reason(self) -> Optional[str]: ...

@final
class BoxInfo:
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> Optional[str]: ...
    @property
    def status(self) -> str: ...
    @property
    def image(self) -> str: ...
    @property
    def created_at(self) -> str: ...
    @property
    def cpus(self) -> Optional[float]: ...
    @property
    def memory_mib(self) -> Optional[int]: ...
    @property
    def pid(self) -> Optional[int]: ...
    @property
    def exit_code(self) -> Optional[int]: ...
    @property
    def error_reason(self) -> Optional[str]: ...
    @property
    def state(self) -> BoxStateInfo: ...
    def __await__(self) -> Generator[Any, Any, BoxInfo]: ...

@final
class ExecResult:
    @property
    def exit_code(self) -> int: ...
    @property
    def signal(self) -> Optional[int]: ...
    @property
    def timed_out(self) -> bool: ...
    @property
    def error_message(self) -> Optional[str]: ...

@final
class ExecStream:
    def read(self) -> Awaitable[Optional[bytes]]: ...

@final
class ExecStdin:
    def send_input(self, data: bytes) -> Awaitable[None]: ...
    def close(self) -> Awaitable[None]: ...

@final
class Execution:
    @property
    def id(self) -> str: ...
    def stdout(self) -> ExecStream: ...
    def stderr(self) -> ExecStream: ...
    def stdin(self) -> ExecStdin: ...
    def wait(self) -> Awaitable[ExecResult]: ...
    def kill(self) -> Awaitable[None]: ...
    def signal(self, signal: int) -> Awaitable[None]: ...
    def resize_tty(self, rows: int, cols: int) -> Awaitable[None]: ...

@final
class Box:
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> Optional[str]: ...
    def info(self) -> BoxInfo: ...
    def start(self) -> Awaitable[None]: ...
    def stop(self, timeout_secs: Optional[float] = None) -> Awaitable[None]: ...
    def exec(
        self,
        command: str,
        args: Optional[list[str]] = None,
        env: Optional[list[tuple[str, str]]] = None,
        tty: bool = False,
        user: Optional[str] = None,
        timeout_secs: Optional[float] = None,
        cwd: Optional[str] = None,
        *,
        stdin: bool = True,
    ) -> Awaitable[Execution]: ...

@final
class Runtime:
    @staticmethod
    def open(home_dir: Optional[str | os.PathLike[str]] = None) -> Runtime: ...
    @property
    def home_dir(self) -> str: ...
    def create(self, options: BoxOptions, name: Optional[str] = None) -> Awaitable[Box]: ...
    def get(self, id_or_name: str) -> Awaitable[Optional[Box]]: ...
    def get_info(self, id_or_name: str) -> Awaitable[Optional[BoxInfo]]: ...
    def list_info(self) -> Awaitable[list[BoxInfo]]: ...
    def get_or_create(
        self, options: BoxOptions, name: Optional[str] = None
    ) -> Awaitable[tuple[Box, bool]]: ...
    def remove(self, id_or_name: str, force: bool = False) -> Awaitable[None]: ...
    def shutdown(self, timeout: Optional[float] = None) -> Awaitable[None]: ...
    def close(self) -> None: ...

def status_names() -> list[str]: ...
def error_codes() -> list[str]: ...
