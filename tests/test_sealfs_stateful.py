"""Random reads, writes, truncations, commits and reopenings, against a plain bytes model."""

from __future__ import annotations

import tempfile
from pathlib import Path

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sealfs_helpers import KEY, SMALL_NODES

from trustroom.sealfs import SealedFile, Volume

# Past two tree nodes of 4 KiB nodes (64 data nodes each): growing and cutting the tree.
LIMIT = 3 * 64 * SMALL_NODES
offsets = st.one_of(
    st.integers(0, 3 * SMALL_NODES),
    st.integers(0, LIMIT).map(lambda n: n - n % SMALL_NODES),  # node starts
    st.builds(lambda k, d: k * 64 * SMALL_NODES + d, st.integers(0, 3), st.integers(-2, 2)).map(
        abs
    ),  # tree node boundaries
    st.integers(0, LIMIT),
)


class SealedFileMatchesModel(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.directory = Path(tempfile.mkdtemp()) / "vol"
        self.volume = Volume.create(self.directory, KEY, node_size=SMALL_NODES)
        self.file: SealedFile = self.volume.open("/f", "w+b")
        self.model = bytearray()
        self.committed = b""

    @rule(offset=offsets, data=st.binary(max_size=3 * SMALL_NODES) | st.just(bytes(SMALL_NODES)))
    def write(self, offset: int, data: bytes) -> None:
        self.file.seek(offset)
        assert self.file.write(data) == len(data)
        if offset > len(self.model):
            self.model.extend(bytes(offset - len(self.model)))
        self.model[offset : offset + len(data)] = data

    @rule(size=offsets)
    def truncate(self, size: int) -> None:
        self.file.truncate(size)
        del self.model[size:]
        self.model.extend(bytes(size - len(self.model)))

    @rule(offset=offsets, length=st.integers(0, 3 * SMALL_NODES))
    def read(self, offset: int, length: int) -> None:
        self.file.seek(offset)
        assert self.file.read(length) == bytes(self.model[offset : offset + length])

    @rule()
    def commit(self) -> None:
        self.file.flush()
        assert self.volume.check().ok  # what is on disk, read afresh, authenticates
        self.committed = bytes(self.model)

    @precondition(lambda self: len(self.model) < LIMIT)
    @rule()
    def reopen(self) -> None:
        """Closing commits; a new process sees exactly what was committed."""
        self.file.close()
        self.volume.close()
        self.volume = Volume(self.directory, KEY)
        assert self.volume.read_bytes("/f") == bytes(self.model)
        assert self.volume.check().ok
        self.file = self.volume.open("/f", "r+b")
        self.committed = bytes(self.model)

    @invariant()
    def size_matches(self) -> None:
        assert self.volume.stat("/f").size == len(self.model)

    def teardown(self) -> None:
        self.file.close()
        self.volume.close()
        with Volume(self.directory, KEY) as volume:
            assert volume.read_bytes("/f") == bytes(self.model)
            assert volume.check().ok


SealedFileMatchesModel.TestCase.settings = settings(
    max_examples=80, stateful_step_count=30, deadline=None
)
test_sealed_file_matches_model = SealedFileMatchesModel.TestCase
