"""The async API: :class:`Boxlite` (a runtime on a home directory) and :class:`Box`."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Optional, Union

from . import _boxlite
from ._boxlite import BoxInfo, BoxOptions

PathLike = Union[str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Options:
    """How to open a runtime. ``home_dir=None`` means ``$BOXLITE_HOME``, else ``~/.boxlite``."""

    home_dir: Optional[PathLike] = None


class Box:
    """A handle to one box. :meth:`info` always reads the database."""

    def __init__(self, native: _boxlite.Box) -> None:
        self._native = native

    @property
    def id(self) -> str:
        return self._native.id

    @property
    def name(self) -> Optional[str]:
        return self._native.name

    async def info(self) -> BoxInfo:
        return await self._native.info()

    def __repr__(self) -> str:
        return f"Box(id={self.id!r}, name={self.name!r})"


class Boxlite:
    """A runtime: an open home directory with its state database.

    Several processes (and several ``Boxlite`` objects) may use one home at once.
    """

    def __init__(self, options: Optional[Options] = None) -> None:
        home = (options or Options()).home_dir
        self._native = _boxlite.Runtime.open(os.fspath(home) if home is not None else None)

    @classmethod
    def default(cls) -> "Boxlite":
        """The runtime on ``$BOXLITE_HOME``, else ``~/.boxlite``."""
        return cls()

    @property
    def home_dir(self) -> str:
        return os.fspath(self._native.home_dir)

    async def create(self, options: BoxOptions, name: Optional[str] = None) -> Box:
        """Persists a ``configured`` box; nothing runs yet."""
        return Box(await self._native.create(options, name))

    async def get(self, id_or_name: str) -> Optional[Box]:
        """The box with this id, name or unique id prefix, or ``None``."""
        native = await self._native.get(id_or_name)
        return Box(native) if native is not None else None

    async def get_info(self, id_or_name: str) -> Optional[BoxInfo]:
        return await self._native.get_info(id_or_name)

    async def list_info(self) -> list[BoxInfo]:
        """Every box, newest first."""
        return await self._native.list_info()

    async def get_or_create(self, options: BoxOptions, name: str) -> tuple[Box, bool]:
        """The box named ``name``, created from ``options`` if missing; the flag says which."""
        native, created = await self._native.get_or_create(options, name)
        return Box(native), created

    async def remove(self, id_or_name: str, force: bool = False) -> None:
        """Deletes the box and its files; an active box needs ``force=True``."""
        await self._native.remove(id_or_name, force)
