"""Streaming safetensors reading and writing, one tensor at a time.

The format is an 8-byte little-endian header length, a JSON header mapping each name to its
dtype, shape and byte range, then the raw little-endian data. Reading a tensor with `readinto`
into its final buffer (rather than memory-mapping the file) keeps the process's resident memory
at the size of the model: mapped file pages would count twice while being copied. Writing takes
the header first (all shapes are known up front) and then each tensor's bytes as produced, so a
13 GB checkpoint is written with the memory of its largest tensor.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import torch

from gossamer.errors import CheckpointError
from gossamer.model import hugepages

DTYPES: dict[str, torch.dtype] = {
    "BF16": torch.bfloat16,
    "F16": torch.float16,
    "F32": torch.float32,
    "F64": torch.float64,
    "U8": torch.uint8,
    "I8": torch.int8,
    "I16": torch.int16,
    "I32": torch.int32,
    "I64": torch.int64,
    "BOOL": torch.bool,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
_MAX_HEADER_BYTES = 100 * 1024 * 1024


@dataclass(frozen=True)
class TensorInfo:
    name: str
    dtype_name: str  # safetensors spelling, e.g. "BF16"
    shape: tuple[int, ...]
    begin: int  # absolute file offsets
    end: int

    @property
    def dtype(self) -> torch.dtype | None:
        return DTYPES.get(self.dtype_name)


class SafetensorsFile:
    """The header of one .safetensors file, validated against the file's size; reads on demand."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            size = self.path.stat().st_size
            with open(self.path, "rb") as f:
                prefix = f.read(8)
                if len(prefix) < 8:
                    raise CheckpointError(f"{self.path}: truncated safetensors file (no header)")
                (header_len,) = struct.unpack("<Q", prefix)
                if header_len > min(_MAX_HEADER_BYTES, size - 8):
                    raise CheckpointError(f"{self.path}: truncated or corrupt safetensors header")
                raw = json.loads(f.read(header_len))
        except OSError as exc:
            raise CheckpointError(f"{self.path}: cannot read ({exc.strerror})") from exc
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise CheckpointError(f"{self.path}: corrupt safetensors header ({exc})") from exc
        if not isinstance(raw, dict):
            raise CheckpointError(f"{self.path}: corrupt safetensors header")
        self.metadata: dict[str, str] = raw.pop("__metadata__", None) or {}
        data_start = 8 + header_len
        self.tensors: dict[str, TensorInfo] = {}
        for name, entry in raw.items():
            try:
                begin, end = (data_start + int(o) for o in entry["data_offsets"])
                shape = tuple(int(d) for d in entry["shape"])
                info = TensorInfo(name, str(entry["dtype"]), shape, begin, end)
            except (KeyError, TypeError, ValueError) as exc:
                raise CheckpointError(f"{self.path}: corrupt header entry for tensor '{name}'") from exc
            if info.end > size:
                raise CheckpointError(
                    f"{self.path}: truncated file: tensor '{name}' needs bytes up to {info.end}, "
                    f"the file has {size}"
                )
            self.tensors[name] = info

    def read(self, name: str, out: torch.Tensor | None = None) -> torch.Tensor:
        """Read tensor `name` into a fresh CPU tensor (or into `out`, a contiguous CPU tensor)."""
        info = self.tensors[name]
        dtype = info.dtype
        if dtype is None:
            raise CheckpointError(f"{self.path}: tensor '{name}' has unsupported dtype {info.dtype_name}")
        if out is None:
            out = hugepages.empty(info.shape, dtype)
        assert out.is_contiguous() and out.dtype == dtype and tuple(out.shape) == info.shape
        nbytes = out.numel() * out.element_size()
        if nbytes != info.end - info.begin:
            raise CheckpointError(
                f"{self.path}: tensor '{name}' occupies {info.end - info.begin} bytes, "
                f"its dtype and shape need {nbytes}"
            )
        if nbytes:
            view = memoryview(out.view(-1).view(torch.uint8).numpy())
            with open(self.path, "rb") as f:
                f.seek(info.begin)
                got = f.readinto(view)
                hugepages.release_file_pages(f.fileno(), info.begin, got or 0)
            if got != nbytes:
                raise CheckpointError(f"{self.path}: truncated file while reading tensor '{name}'")
        return out


@dataclass(frozen=True)
class TensorSpec:
    """A tensor to be written: its name, dtype and shape (the bytes come later)."""

    name: str
    dtype: torch.dtype
    shape: tuple[int, ...]

    @property
    def nbytes(self) -> int:
        numel = 1
        for d in self.shape:
            numel *= d
        return numel * torch.empty((), dtype=self.dtype).element_size()


class SafetensorsWriter:
    """Writes one file whose tensors are all declared up front and then supplied in order."""

    def __init__(self, path: str | Path, specs: list[TensorSpec], metadata: dict[str, str] | None = None):
        self.path = Path(path)
        self.specs = specs
        header: dict[str, object] = {"__metadata__": metadata or {"format": "pt"}}
        offset = 0
        for spec in specs:
            header[spec.name] = {
                "dtype": DTYPE_NAMES[spec.dtype],
                "shape": list(spec.shape),
                "data_offsets": [offset, offset + spec.nbytes],
            }
            offset += spec.nbytes
        encoded = json.dumps(header, separators=(",", ":")).encode()
        encoded += b" " * (-len(encoded) % 8)  # keep the data 8-byte aligned, as safetensors does
        self._file: BinaryIO = open(self.path, "wb")  # noqa: SIM115 - closed in close()
        self._file.write(struct.pack("<Q", len(encoded)) + encoded)
        self._next = 0

    def write(self, name: str, tensor: torch.Tensor) -> None:
        self.write_chunks(name, [tensor])

    def write_chunks(
        self, name: str, chunks: Iterable[torch.Tensor], on_bytes: Callable[[int], None] | None = None
    ) -> None:
        """Write the next declared tensor from consecutive slices along its dim 0."""
        spec = self.specs[self._next]
        assert name == spec.name, (name, spec.name)
        rows = 0
        for chunk in chunks:
            assert chunk.dtype == spec.dtype and tuple(chunk.shape[1:]) == spec.shape[1:], (spec, chunk.shape)
            data = chunk.detach().to("cpu").contiguous().view(-1).view(torch.uint8).numpy()
            self._file.write(memoryview(data))
            rows += chunk.shape[0] if chunk.dim() else 1
            if on_bytes is not None:
                on_bytes(data.nbytes)
        assert rows == (spec.shape[0] if spec.shape else 1), f"{name}: wrote {rows} rows of {spec.shape}"
        self._next += 1

    def close(self) -> None:
        assert self._next == len(self.specs), f"{self.path}: wrote {self._next} of {len(self.specs)} tensors"
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()

    def __enter__(self) -> SafetensorsWriter:
        return self

    def __exit__(self, exc_type: object, *_: object) -> None:
        if exc_type is None:
            self.close()
        else:
            self._file.close()


def iter_safetensors_files(directory: Path) -> Iterator[Path]:
    yield from sorted(directory.glob("*.safetensors"))
