"""The image store of a runtime: ``Boxlite.images`` (upstream BoxLite's ``runtime.images``)."""

from __future__ import annotations

from typing import Optional

from . import _boxlite
from ._boxlite import ImageInfo, ImagePruneReport


class ImageHandle:
    """Pulls, lists, inspects, removes and prunes the images of one home.

    ``ImageInfo.cached_at`` is an RFC 3339 UTC string, as ``BoxInfo.created_at`` is.
    """

    def __init__(self, native: _boxlite.ImageHandle) -> None:
        self._native = native

    async def pull(self, reference: str) -> ImageInfo:
        """Pulls ``reference`` (``alpine:3.20``, ``127.0.0.1:5000/x@sha256:...``) from its
        registry, or loads ``oci:DIR[:TAG]``, ``oci-archive:FILE[:TAG]`` or
        ``docker-archive:FILE[:REF]``, and unpacks it. A tag is always looked up anew."""
        return await self._native.pull(reference)

    async def list(self) -> list[ImageInfo]:
        """Every cached image, newest first."""
        return await self._native.list()

    async def inspect(self, reference: str) -> Optional[ImageInfo]:
        """The cached image named by a reference or an image id (or a unique prefix of at
        least 12 hex digits), or ``None`` when it is not cached."""
        return await self._native.inspect(reference)

    async def remove(self, reference: str, force: bool = False) -> None:
        """Removes a cached image and the blobs only it used. Refused with
        :class:`~boxlite.InvalidStateError` while a box uses it, unless ``force``."""
        await self._native.remove(reference, force)

    async def prune(self) -> ImagePruneReport:
        """Removes every blob and unpacked root filesystem no image or box uses."""
        return await self._native.prune()

    def __repr__(self) -> str:
        return "ImageHandle()"


__all__ = ["ImageHandle", "ImageInfo", "ImagePruneReport"]
