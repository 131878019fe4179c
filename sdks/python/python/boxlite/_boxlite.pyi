# Type stubs of the native module; checked against it with `python -m mypy.stubtest`.
import os
from collections.abc import Awaitable
from typing import Optional, final

__all__ = [
    "Box",
    "BoxInfo",
    "BoxOptions",
    "BoxStateInfo",
    "Runtime",
    "error_codes",
    "status_names",
]

@final
class BoxOptions:
    image: str
    env: list[tuple[str, str]]
    working_dir: Optional[str]
    cmd: Optional[list[str]]
    entrypoint: Optional[list[str]]
    user: Optional[str]
    cpus: Optional[float]
    memory_mib: Optional[int]
    auto_remove: bool
    detach: bool
    def __new__(
        cls,
        image: str,
        *,
        env: list[tuple[str, str]] = ...,
        working_dir: Optional[str] = None,
        cmd: Optional[list[str]] = None,
        entrypoint: Optional[list[str]] = None,
        user: Optional[str] = None,
        cpus: Optional[float] = None,
        memory_mib: Optional[int] = None,
        auto_remove: bool = False,
        detach: bool = False,
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
    def pid(self) -> Optional[int]: ...
    @property
    def exit_code(self) -> Optional[int]: ...
    @property
    def error_reason(self) -> Optional[str]: ...
    @property
    def state(self) -> BoxStateInfo: ...

@final
class Box:
    @property
    def id(self) -> str: ...
    @property
    def name(self) -> Optional[str]: ...
    def info(self) -> Awaitable[BoxInfo]: ...

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
    def get_or_create(self, options: BoxOptions, name: str) -> Awaitable[tuple[Box, bool]]: ...
    def remove(self, id_or_name: str, force: bool = False) -> Awaitable[None]: ...

def status_names() -> list[str]: ...
def error_codes() -> list[str]: ...
