"""An in-memory stand-in for ObjectStoragePath on an object store, for unit tests."""

from __future__ import annotations

import io


class FakeObjectPath:
    """``/``, ``open``, ``iterdir``, ``unlink`` over a dict of key -> bytes; writes appear whole on close.

    :param objects: the store's objects, shared by every path made from this one.
    :param path: this path's key, e.g. ``s3://bucket/ledger``.
    """

    protocol = "s3"

    def __init__(self, objects: dict[str, bytes], path: str) -> None:
        self.objects = objects
        self.path = path
        self.name = path.rsplit("/", 1)[-1]

    def __truediv__(self, name: str) -> FakeObjectPath:
        return FakeObjectPath(self.objects, f"{self.path}/{name}")

    def iterdir(self) -> list[FakeObjectPath]:
        prefix = self.path + "/"
        return [FakeObjectPath(self.objects, key) for key in self.objects if key.startswith(prefix)]

    def open(self, mode: str):
        if mode == "rb":
            if self.path not in self.objects:
                raise FileNotFoundError(self.path)
            return io.BytesIO(self.objects[self.path])
        assert mode == "wb", mode
        objects, path = self.objects, self.path

        class Upload(io.BytesIO):
            def close(self) -> None:
                objects[path] = self.getvalue()  # the object appears whole, on completion
                super().close()

        return Upload()

    def unlink(self) -> None:
        if self.path not in self.objects:
            raise FileNotFoundError(self.path)
        del self.objects[self.path]

    def __str__(self) -> str:
        return self.path
