"""Exceptions raised by boxlite: one class per stable error code of the core.

The native module calls :func:`from_code` for every error, so :data:`ERROR_CLASSES` is the
only place a code becomes a Python class. Every class is a :class:`RuntimeError` (upstream
BoxLite's native errors are, and user code catches them so) and, where one fits, also the
natural builtin: ``except LookupError`` catches a missing box, ``except ValueError`` a bad
option, ``except TimeoutError`` a timeout.
"""

from __future__ import annotations

import builtins

__all__ = [
    "AlreadyExistsError",
    "BadWorkingDirError",
    "BoxliteError",
    "CommandNotFoundError",
    "ConfigError",
    "DatabaseError",
    "ERROR_CLASSES",
    "EngineError",
    "ExecError",
    "ExecutionError",
    "ImageError",
    "InternalError",
    "InvalidArgumentError",
    "InvalidStateError",
    "IoError",
    "NotExecutableError",
    "NotFoundError",
    "ParseError",
    "StoppedError",
    "StorageError",
    "TimeoutError",
    "UnauthorizedError",
    "UnavailableError",
    "from_code",
]


class BoxliteError(RuntimeError):
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
    """A name, option or reference is malformed, or an option is not implemented yet."""

    code = "invalid_argument"


class NotFoundError(BoxliteError, LookupError):
    """The box, image or file does not exist."""

    code = "not_found"


class AlreadyExistsError(BoxliteError):
    """A box with that name exists already."""

    code = "already_exists"


class InvalidStateError(BoxliteError):
    """The box's status (or the runtime's: shut down, from another process) does not allow
    the operation."""

    code = "invalid_state"


class TimeoutError(BoxliteError, builtins.TimeoutError):
    """An operation, or a command run with a timeout, ran past its deadline."""

    code = "timeout"


class ImageError(BoxliteError):
    """An image could not be resolved, fetched or unpacked."""

    code = "image"


class EngineError(BoxliteError):
    """The isolation engine failed to build or run the box."""

    code = "engine"


class ExecutionError(BoxliteError):
    """A command inside the box could not be started (the subclasses say why, when known)."""

    code = "exec"


class DatabaseError(BoxliteError):
    """The state database failed."""

    code = "database"


class IoError(BoxliteError, OSError):
    """A host filesystem or OS call failed."""

    code = "io"


class InternalError(BoxliteError):
    """An invariant of boxlite itself did not hold (a bug)."""

    code = "internal"


class CommandNotFoundError(ExecutionError, FileNotFoundError):
    """The command of an exec does not exist in the box."""

    code = "command_not_found"


class NotExecutableError(ExecutionError, PermissionError):
    """The command of an exec exists but cannot be executed."""

    code = "not_executable"


class BadWorkingDirError(ExecutionError, NotADirectoryError):
    """The working directory of an exec does not exist or cannot be entered."""

    code = "bad_working_dir"


class UnauthorizedError(BoxliteError, PermissionError):
    """A registry refused the credentials given, or wants credentials and none were given."""

    code = "unauthorized"


class UnavailableError(BoxliteError, ConnectionError):
    """A registry (or another service boxlite needs) could not be reached or did not answer."""

    code = "unavailable"


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
        ExecutionError,
        DatabaseError,
        IoError,
        InternalError,
        CommandNotFoundError,
        NotExecutableError,
        BadWorkingDirError,
        UnauthorizedError,
        UnavailableError,
    )
}


def from_code(code: str, message: str) -> BoxliteError:
    """The exception for a core error code; an unknown code still keeps its code."""
    cls = ERROR_CLASSES.get(code)
    if cls is None:
        return BoxliteError(message, code)
    return cls(message)


# Raised by the Python layer itself, not mapped from a core code.


class ExecError(BoxliteError):
    """A command ran and failed (non-zero exit), where the caller needed it to succeed
    (``CodeBox.run``, ``CodeBox.install_package``)."""

    code = "exec_failed"

    def __init__(self, command: str, exit_code: int, stderr: str) -> None:
        self.command = command
        self.exit_code = exit_code
        self.stderr = stderr
        detail = stderr.strip()
        super().__init__(
            f"command {command!r} failed with exit code {exit_code}"
            + (f": {detail}" if detail else "")
        )


class ParseError(BoxliteError, ValueError):
    """Output of a command could not be parsed as expected."""

    code = "parse"


# Upstream BoxLite's names for the same failures, so its users' `except` clauses keep working.
ConfigError = InvalidArgumentError
StorageError = IoError
StoppedError = InvalidStateError
