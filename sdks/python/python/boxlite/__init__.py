"""boxlite: an embeddable sandbox runtime.

>>> import asyncio, boxlite, tempfile
>>> async def main(home):
...     rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
...     box = await rt.create(boxlite.BoxOptions("alpine:3.20"), name="demo")
...     return (await box.info()).status
>>> asyncio.run(main(tempfile.mkdtemp()))
'configured'
"""

from ._boxlite import BoxInfo, BoxOptions, BoxStateInfo, error_codes, status_names
from .errors import (
    AlreadyExistsError,
    BoxliteError,
    DatabaseError,
    EngineError,
    ExecError,
    ImageError,
    InternalError,
    InvalidArgumentError,
    InvalidStateError,
    IoError,
    NotFoundError,
    TimeoutError,
)
from .runtime import Box, Boxlite, Options

__all__ = [
    "AlreadyExistsError",
    "Box",
    "BoxInfo",
    "BoxOptions",
    "BoxStateInfo",
    "Boxlite",
    "BoxliteError",
    "DatabaseError",
    "EngineError",
    "ExecError",
    "ImageError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidStateError",
    "IoError",
    "NotFoundError",
    "Options",
    "TimeoutError",
    "error_codes",
    "status_names",
]
