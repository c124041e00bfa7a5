"""Datasets: an owner's table sealed in a sealfs volume, its key for the key broker alone.

The owner seals its table (a CSV file with a header line, or a Parquet file, which needs
``pip install trustroom[parquet]``) into a new volume under a fresh random key, as
``/data.csv`` or ``/data.parquet``; it keeps the volume
wherever the job will run (ciphertext only: the disk, the operator and the worker see
nothing else), puts the key in the key broker under the resource ``OWNER/dataset-key/NAME``,
and registers the dataset's public description (its digest, columns and row count) with the
coordinator. The plaintext never leaves the owner's machine except inside an attested
program whose measurement the owner approved.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from trustroom.cleanroom._errors import CleanroomError
from trustroom.cleanroom._spec import check_name
from trustroom.ledger import digest_of
from trustroom.sealfs import SealfsError, Volume, VolumeKey

__all__ = ["FORMATS", "Dataset", "DatasetInvalid", "read_columns", "seal_dataset"]

FORMATS = ("csv", "parquet")


class DatasetInvalid(CleanroomError):
    """A file that cannot be sealed as a dataset, or a registration that does not check."""

    code = "cleanroom_dataset_invalid"
    default_hint = (
        "A dataset is a CSV file with a header line naming its columns, or a Parquet file "
        "(name it .parquet; pip install trustroom[parquet])."
    )


@dataclass(frozen=True)
class Dataset:
    """What an owner registers: the table's name, owner, digest, columns and row count."""

    name: str
    owner: str
    digest: str
    columns: tuple[str, ...]
    rows: int
    format: str = "csv"

    @property
    def file(self) -> str:
        """Where the table is in its volume (and under ``/inputs/NAME`` in an enclave)."""
        return f"/data.{self.format}"

    @property
    def resource(self) -> str:
        """The key broker resource holding the volume's key: ``OWNER/dataset-key/NAME``."""
        return f"{self.owner}/dataset-key/{self.name}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "owner": self.owner,
            "digest": self.digest,
            "columns": list(self.columns),
            "rows": self.rows,
            "format": self.format,
        }

    @classmethod
    def from_dict(cls, value: Mapping[str, Any]) -> Dataset:
        try:
            columns = value["columns"]
            if not isinstance(columns, list) or not all(isinstance(c, str) for c in columns):
                raise TypeError("columns are a list of names")
            rows = value["rows"]
            if not isinstance(rows, int) or isinstance(rows, bool) or rows < 0:
                raise TypeError("rows is a count")
            if value["format"] not in FORMATS:
                raise TypeError(f"format is one of {', '.join(FORMATS)}")
            return cls(
                check_name(value["name"], "name"),
                check_name(value["owner"], "owner"),
                str(value["digest"]),
                tuple(columns),
                rows,
                value["format"],
            )
        except (KeyError, TypeError) as exc:
            raise DatasetInvalid(f"not a dataset registration: {exc}") from exc


def seal_dataset(source: Path, volume: Path, *, owner: str, name: str) -> tuple[Dataset, bytes]:
    """Seal the table ``source`` (CSV, or Parquet when it is named ``.parquet``) into a new
    volume at ``volume`` (which must not exist) under a fresh random key: the dataset's
    registration, and the key (32 bytes) for the key broker."""
    check_name(owner, "owner")
    check_name(name, "name")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise DatasetInvalid(f"cannot read {source}: {exc.strerror}") from exc
    form = "parquet" if source.suffix.lower() == ".parquet" else "csv"
    columns = read_columns(data, form, str(source))
    rows = len(next(iter(columns.values()))) if columns else 0
    dataset = Dataset(name, owner, digest_of(data), tuple(columns), rows, form)
    key = os.urandom(32)
    try:
        with Volume.create(volume, VolumeKey.raw(key)) as sealed:
            sealed.write_bytes(dataset.file, data)
    except (OSError, SealfsError) as exc:
        raise DatasetInvalid(f"cannot create the volume {volume}: {exc}") from exc
    return dataset, key


def read_columns(data: bytes, form: str, source: str) -> dict[str, list[Any]]:
    """A table's columns, by name in order, as lists (CSV: strings; Parquet: its values);
    DatasetInvalid if it is not a table of that format."""
    if form == "parquet":
        return _parquet_columns(data, source)
    try:
        reader = csv.reader(io.StringIO(data.decode()))
        header = next(reader, None)
        if not header or any(not column.strip() for column in header):
            raise DatasetInvalid(f"{source} has no header line naming every column")
        columns: dict[str, list[Any]] = {column: [] for column in header}
        if len(columns) != len(header):
            raise DatasetInvalid(f"{source} names a column twice")
        for number, row in enumerate(reader, start=2):
            if len(row) != len(header):
                raise DatasetInvalid(
                    f"{source}, line {number}: {len(row)} fields, not {len(header)}"
                )
            for values, value in zip(columns.values(), row, strict=True):
                values.append(value)
        return columns
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetInvalid(f"{source} is not a CSV file: {exc}") from exc


def _parquet_columns(data: bytes, source: str) -> dict[str, list[Any]]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise DatasetInvalid(
            f"{source} is a Parquet file, and reading Parquet needs pyarrow",
            hint="pip install trustroom[parquet]",
        ) from None
    try:
        table = pq.read_table(pa.BufferReader(data))
    except (pa.ArrowException, OSError) as exc:
        raise DatasetInvalid(f"{source} is not a Parquet file: {exc}") from exc
    return {name: table.column(name).to_pylist() for name in table.column_names}
