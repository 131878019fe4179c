"""The outcome of :meth:`boxlite.SimpleBox.exec`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

__all__ = ["ExecResult"]


@dataclass
class ExecResult:
    """What a command did: its exit code (minus the signal number when a signal ended it) and
    its whole stdout and stderr, decoded as UTF-8."""

    exit_code: int
    stdout: str
    stderr: str
    #: Why there is no exit status, when there is none.
    error_message: Optional[str] = None
    #: The command's timeout expired (SimpleBox raises TimeoutError instead of returning one).
    timed_out: bool = False
    #: The kernel's OOM killer killed the command (the box hit its memory limit).
    oom_killed: bool = False
