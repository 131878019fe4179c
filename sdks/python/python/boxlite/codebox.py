"""CodeBox: a SimpleBox that runs Python code."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional, Union

from .errors import ExecError
from .exec import ExecResult
from .runtime import Boxlite
from .simplebox import SimpleBox

__all__ = ["CodeBox", "DEFAULT_IMAGE"]

#: Upstream's default, pulled from Docker Hub (or a mirror configured for docker.io); any
#: image with ``python3`` on its PATH works (``image="oci:PATH"``, ``rootfs_path=PATH``, …).
DEFAULT_IMAGE = "python:slim"


class CodeBox(SimpleBox):
    """A box for running Python code with the image's ``python3``."""

    def __init__(
        self,
        image: Optional[str] = DEFAULT_IMAGE,
        memory_mib: Optional[int] = None,
        cpus: Optional[float] = None,
        runtime: Optional[Boxlite] = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("rootfs_path") is not None and image == DEFAULT_IMAGE:
            image = None
        super().__init__(image, memory_mib=memory_mib, cpus=cpus, runtime=runtime, **kwargs)

    async def _checked(self, what: str, *argv: str, timeout: Optional[float] = None) -> ExecResult:
        result = await self.exec(*argv, timeout=timeout)
        if result.exit_code != 0:
            raise ExecError(what, result.exit_code, result.stderr)
        return result

    async def run(self, code: str, timeout: Optional[float] = None) -> str:
        """Runs ``code`` with ``python3 -c`` and returns its stdout; a non-zero exit raises
        :class:`~boxlite.errors.ExecError` carrying stderr."""
        result = await self._checked("python3 -c <code>", "python3", "-c", code, timeout=timeout)
        return result.stdout

    async def run_script(self, script_path: Union[str, Path]) -> str:
        """Runs the Python file at ``script_path`` on the host, like :meth:`run`."""
        return await self.run(Path(script_path).read_text())

    async def install_package(self, package: str) -> str:
        """``pip install package`` in the box; returns pip's output (stdout and stderr)."""
        return await self.install_packages(package)

    async def install_packages(self, *packages: str) -> str:
        """``pip install packages...`` in the box; returns pip's output (stdout and stderr)."""
        # No prompts and no version check: a box may have no network, and nobody to answer.
        argv = ("python3", "-m", "pip", "install", "--no-input", "--disable-pip-version-check",
                *packages)
        result = await self._checked(" ".join(argv[2:]), *argv)
        return result.stdout + result.stderr
