"""boxlite: an embeddable sandbox runtime.

>>> import asyncio, boxlite, tempfile
>>> async def main(home):
...     rt = boxlite.Boxlite(boxlite.Options(home_dir=home))
...     box = await rt.create(boxlite.BoxOptions(image="oci:/nowhere/image"), name="demo")
...     return box.info().status
>>> asyncio.run(main(tempfile.mkdtemp()))
'configured'
"""

import atexit

from . import _boxlite, errors
from ._boxlite import (
    BoxInfo,
    BoxLimits,
    BoxMetrics,
    BoxOptions,
    BoxPort,
    BoxStateInfo,
    CopyOptions,
    CopyStats,
    ExecStream,
    FileEntry,
    ImageInfo,
    ImagePruneReport,
    ImageRegistry,
    RuntimeMetrics,
    error_codes,
    status_names,
)
from ._boxlite import ExecResult as ExecutionResult
from .codebox import CodeBox
from .errors import (
    AlreadyExistsError,
    BadWorkingDirError,
    BoxliteError,
    CommandNotFoundError,
    DatabaseError,
    EngineError,
    ExecError,
    ExecutionError,
    ImageError,
    InternalError,
    InvalidArgumentError,
    InvalidStateError,
    IoError,
    NotExecutableError,
    NotFoundError,
    ParseError,
    TimeoutError,
    UnauthorizedError,
    UnavailableError,
)
from .exec import ExecResult
from .execution import ExecOutput, ExecStderr, ExecStdin, ExecStdout, Execution
from .images import ImageHandle
from .runtime import Box, Boxlite, Options
from .simplebox import SimpleBox
from .sync_api import (
    SyncBox,
    SyncBoxlite,
    SyncCodeBox,
    SyncExecStderr,
    SyncExecStdin,
    SyncExecStdout,
    SyncExecStream,
    SyncExecution,
    SyncImageHandle,
    SyncSimpleBox,
)

# Before the interpreter finalizes, stop the native runtime's tasks from taking the GIL: a
# thread that asks for it during finalization aborts the process (see src/bridge.rs).
atexit.register(_boxlite._at_exit)

__all__ = [
    "AlreadyExistsError",
    "BadWorkingDirError",
    "Box",
    "BoxInfo",
    "BoxLimits",
    "BoxMetrics",
    "BoxOptions",
    "BoxPort",
    "BoxStateInfo",
    "Boxlite",
    "BoxliteError",
    "CodeBox",
    "CommandNotFoundError",
    "CopyOptions",
    "CopyStats",
    "DatabaseError",
    "EngineError",
    "ExecError",
    "ExecOutput",
    "ExecResult",
    "ExecStderr",
    "ExecStdin",
    "ExecStdout",
    "ExecStream",
    "Execution",
    "ExecutionError",
    "ExecutionResult",
    "FileEntry",
    "ImageError",
    "ImageHandle",
    "ImageInfo",
    "ImagePruneReport",
    "ImageRegistry",
    "InternalError",
    "InvalidArgumentError",
    "InvalidStateError",
    "IoError",
    "NotExecutableError",
    "NotFoundError",
    "Options",
    "ParseError",
    "RuntimeMetrics",
    "SimpleBox",
    "SyncBox",
    "SyncBoxlite",
    "SyncCodeBox",
    "SyncExecStderr",
    "SyncExecStdin",
    "SyncExecStdout",
    "SyncExecStream",
    "SyncExecution",
    "SyncImageHandle",
    "SyncSimpleBox",
    "TimeoutError",
    "UnauthorizedError",
    "UnavailableError",
    "error_codes",
    "errors",
    "status_names",
]
