"""Exceptions raised by boxlite, one class per stable error code of the core.

The native module calls :func:`from_code` for every error, so this table is the only place a
code becomes a Python class.
"""

from __future__ import annotations

import builtins


class BoxliteError(Exception):
    """Base of every boxlite error. ``code`` is the stable code shared by all SDKs."""

    code: str = "internal"

    def __init__(self, message: str, code: str | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""


class InvalidArgumentError(BoxliteError, ValueError):
    """A name, option or reference is malformed."""

    code = "invalid_argument"


class NotFoundError(BoxliteError, LookupError):
    """The box, image or file does not exist."""

    code = "not_found"


class AlreadyExistsError(BoxliteError):
    """A box with that name exists already."""

    code = "already_exists"


class InvalidStateError(BoxliteError):
    """The box's status does not allow the operation."""

    code = "invalid_state"


class TimeoutError(BoxliteError, builtins.TimeoutError):
    """An operation ran past its deadline."""

    code = "timeout"


class ImageError(BoxliteError):
    """An image could not be resolved, fetched or unpacked."""

    code = "image"


class EngineError(BoxliteError):
    """The isolation engine failed to build or run the box."""

    code = "engine"


class ExecError(BoxliteError):
    """A command inside the box could not be started."""

    code = "exec"


class DatabaseError(BoxliteError):
    """The state database failed."""

    code = "database"


class IoError(BoxliteError):
    """A host filesystem or OS call failed."""

    code = "io"


class InternalError(BoxliteError):
    """An invariant of boxlite itself did not hold (a bug)."""

    code = "internal"


class CommandNotFoundError(BoxliteError, FileNotFoundError):
    """The command of an exec does not exist in the box."""

    code = "command_not_found"


class NotExecutableError(BoxliteError, PermissionError):
    """The command of an exec exists but cannot be executed."""

    code = "not_executable"


class BadWorkingDirError(BoxliteError, NotADirectoryError):
    """The working directory of an exec does not exist or cannot be entered."""

    code = "bad_working_dir"


ERROR_CLASSES: dict[str, type[BoxliteError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        InvalidStateError,
        TimeoutError,
        ImageError,
        EngineError,
        ExecError,
        DatabaseError,
        IoError,
        InternalError,
        CommandNotFoundError,
        NotExecutableError,
        BadWorkingDirError,
    )
}


def from_code(code: str, message: str) -> BoxliteError:
    """The exception for a core error code; an unknown code still keeps its code."""
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        return BoxliteError(message, code)
    return cls(message)
