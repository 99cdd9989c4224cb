"""The upload route's state machine over the streamed form (api/upload_body.py): text fields before
the file part may name the type and file name; the file part's bytes go to a ModelUpload
(catalog/uploads.py) in blocks, each written from a worker thread so the event loop never waits on
the disk."""

from __future__ import annotations

from anyio import to_thread

from sdcpp_rest.api.upload_body import FormEvent
from sdcpp_rest.catalog.service import ModelView
from sdcpp_rest.catalog.uploads import ModelUpload, ModelUploads
from sdcpp_rest.errors import InvalidParameters

# Bytes collected before one write: large enough that thread hand-offs cost nothing, small enough
# that memory stays flat.
WRITE_BLOCK_BYTES = 4 * 1024 * 1024
NAMED_FIELDS = ("type", "filename")


class StreamedUpload:
    def __init__(
        self, uploads: ModelUploads, kind: str | None, filename: str | None, declared: int | None
    ) -> None:
        self._uploads = uploads
        self._fields: dict[str, str] = {}
        self._kind, self._filename, self._declared = kind, filename, declared
        self._upload: ModelUpload | None = None
        self._ended = False
        self._block = bytearray()

    async def take(self, events: list[FormEvent]) -> None:
        for event in events:
            if event.kind == "field":
                if event.name in NAMED_FIELDS and self._upload is not None:
                    raise InvalidParameters(f"the '{event.name}' field must come before the file part")
                self._fields[event.name] = event.value
            elif event.kind == "file_begin":
                await self._begin(event)
            elif event.kind == "file_data":
                self._block += event.data
                if len(self._block) >= WRITE_BLOCK_BYTES:
                    await self._flush()
            else:
                await self._flush()
                self._ended = True

    async def _begin(self, event: FormEvent) -> None:
        if self._upload is not None or event.name != "file":
            raise InvalidParameters("the form takes one file part, named 'file'", field="file")
        kind = self._kind or self._fields.get("type") or "checkpoint"
        name = self._filename or self._fields.get("filename") or event.value
        self._upload = await to_thread.run_sync(self._uploads.begin, kind, name, self._declared)

    async def _flush(self) -> None:
        if self._upload is not None and self._block:
            block, self._block = bytes(self._block), bytearray()
            await to_thread.run_sync(self._upload.write, block)

    async def finish(self) -> ModelView:
        if self._upload is None or not self._ended:
            raise InvalidParameters("the form has no complete file part named 'file'", field="file")
        return await to_thread.run_sync(self._upload.finish)

    async def abort(self) -> None:
        if self._upload is not None:
            await to_thread.run_sync(self._upload.abort)
