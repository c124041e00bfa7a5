"""Datasets: an owner's table sealed in a sealfs volume, its key for the key broker alone.

The owner seals its CSV file into a new volume under a fresh random key, keeps the volume
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

__all__ = ["DATA_FILE", "Dataset", "DatasetInvalid", "seal_dataset"]

DATA_FILE = "/data.csv"
"""Where a dataset's table is in its volume."""


class DatasetInvalid(CleanroomError):
    """A file that cannot be sealed as a dataset, or a registration that does not check."""

    code = "cleanroom_dataset_invalid"
    default_hint = "A dataset is a CSV file with a header line naming its columns."


@dataclass(frozen=True)
class Dataset:
    """What an owner registers: the table's name, owner, digest, columns and row count."""

    name: str
    owner: str
    digest: str
    columns: tuple[str, ...]
    rows: int

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
            return cls(
                check_name(value["name"], "name"),
                check_name(value["owner"], "owner"),
                str(value["digest"]),
                tuple(columns),
                rows,
            )
        except (KeyError, TypeError) as exc:
            raise DatasetInvalid(f"not a dataset registration: {exc}") from exc


def seal_dataset(source: Path, volume: Path, *, owner: str, name: str) -> tuple[Dataset, bytes]:
    """Seal the CSV file ``source`` into a new volume at ``volume`` (which must not exist)
    under a fresh random key: the dataset's registration, and the key (32 bytes) for the
    key broker."""
    check_name(owner, "owner")
    check_name(name, "name")
    try:
        data = source.read_bytes()
    except OSError as exc:
        raise DatasetInvalid(f"cannot read {source}: {exc.strerror}") from exc
    columns, rows = _shape(data, source)
    key = os.urandom(32)
    try:
        with Volume.create(volume, VolumeKey.raw(key)) as sealed:
            sealed.write_bytes(DATA_FILE, data)
    except (OSError, SealfsError) as exc:
        raise DatasetInvalid(f"cannot create the volume {volume}: {exc}") from exc
    return Dataset(name, owner, digest_of(data), columns, rows), key


def _shape(data: bytes, source: Path) -> tuple[tuple[str, ...], int]:
    try:
        reader = csv.reader(io.StringIO(data.decode()))
        header = next(reader, None)
        rows = sum(1 for _ in reader)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise DatasetInvalid(f"{source} is not a CSV file: {exc}") from exc
    if not header or any(not column.strip() for column in header):
        raise DatasetInvalid(f"{source} has no header line naming every column")
    return tuple(header), rows
