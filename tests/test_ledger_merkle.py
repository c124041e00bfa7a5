"""The Merkle toolkit against outside ground truth (transparency-dev/merkle's probes and the
RFC 6962 test tree), then against itself over random trees, proofs and corruptions."""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from vector_loader import ROOT

from trustroom.ledger._errors import ProofInvalid
from trustroom.ledger._merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    CompactRange,
    NodeId,
    StoreRun,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    node_hash,
    nodes_for_consistency,
    nodes_for_inclusion,
    root_of,
    verify_consistency,
    verify_inclusion,
)

# -- transparency-dev/merkle's verification probes (vectors/ledger, Apache-2.0) ------------------

PROBES = ROOT / "ledger" / "rfc9162-probes"
INCLUSION = sorted((PROBES / "inclusion").rglob("*.json"))
CONSISTENCY = sorted((PROBES / "consistency").rglob("*.json"))


def _probe_id(path: Path) -> str:
    return path.relative_to(PROBES).with_suffix("").as_posix()


def _probe(path: Path) -> dict[str, Any]:
    probe: dict[str, Any] = json.loads(path.read_text())
    return probe


def _b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


@pytest.mark.parametrize("files", [INCLUSION, CONSISTENCY], ids=["inclusion", "consistency"])
def test_probe_sets_are_complete(files: list[Path]) -> None:
    # Parametrizing over an empty directory would skip silently; this fails instead.
    wanted = [_probe(path)["wantErr"] for path in files]
    assert (wanted.count(False), wanted.count(True)) == (6, 92)


@pytest.mark.parametrize("path", INCLUSION, ids=_probe_id)
def test_inclusion_probe(path: Path) -> None:
    probe = _probe(path)
    args = (
        _b64(probe["leafHash"]),
        probe["leafIdx"],
        probe["treeSize"],
        [_b64(p) for p in probe["proof"] or []],
        _b64(probe["root"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofInvalid):
            verify_inclusion(*args)
    else:
        verify_inclusion(*args)


@pytest.mark.parametrize("path", CONSISTENCY, ids=_probe_id)
def test_consistency_probe(path: Path) -> None:
    probe = _probe(path)
    args = (
        probe["size1"],
        probe["size2"],
        [_b64(p) for p in probe["proof"] or []],
        _b64(probe["root1"]),
        _b64(probe["root2"]),
    )
    if probe["wantErr"]:
        with pytest.raises(ProofInvalid):
            verify_consistency(*args)
    else:
        verify_consistency(*args)


# -- the RFC 6962 test tree (transparency-dev/merkle testonly/constants.go, proof/verify_test.go)

KAT_LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
KAT_NODES = [  # KAT_NODES[level][index]: every perfect subtree of the 8-leaf tree
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]
KAT_ROOTS = [  # by tree size, from 0
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (leaf index, tree size) -> PATH, written as the KAT_NODES they are (the published hex).
KAT_INCLUSION = {
    (0, 8): [(0, 1), (1, 1), (2, 1)],
    (5, 8): [(0, 4), (1, 3), (2, 0)],
    (2, 3): [(1, 0)],
    (1, 5): [(0, 0), (1, 1), (0, 4)],
}
KAT_CONSISTENCY = {
    (1, 1): [],
    (1, 8): [(0, 1), (1, 1), (2, 1)],
    (6, 8): [(1, 2), (1, 3), (2, 0)],
    (2, 5): [(1, 1), (0, 4)],
    (6, 7): [(1, 2), (0, 6), (2, 0)],
}


def _kat_node(level: int, index: int) -> bytes:
    return bytes.fromhex(KAT_NODES[level][index])


def test_hashing_of_the_rfc6962_tree() -> None:
    assert HASH_SIZE == 32
    assert EMPTY_ROOT.hex() == KAT_ROOTS[0]
    leaves = [leaf_hash(data) for data in KAT_LEAVES]
    assert [h.hex() for h in leaves] == KAT_NODES[0]
    assert node_hash(leaves[0], leaves[1]).hex() == KAT_NODES[1][0]
    for size, root in enumerate(KAT_ROOTS):
        assert root_of(leaves[:size]).hex() == root


def _recording(nodes: dict[NodeId, bytes]) -> StoreRun:
    """A store for CompactRange that keeps every node it is given, each once."""

    def store(level: int, first: int, hashes: Sequence[bytes]) -> None:
        for index, digest in enumerate(hashes, start=first):
            assert (level, index) not in nodes
            nodes[level, index] = digest

    return store


def test_compact_range_grows_the_rfc6962_tree() -> None:
    visited: dict[NodeId, bytes] = {}
    tree = CompactRange()
    assert (tree.size, tree.hashes, tree.root().hex()) == (0, (), KAT_ROOTS[0])
    for size, data in enumerate(KAT_LEAVES, start=1):
        tree.append(leaf_hash(data), _recording(visited))
        assert tree.size == size
        assert tree.root().hex() == KAT_ROOTS[size]
        # One edge hash per set bit of the size, largest subtree first.
        edge = [
            KAT_NODES[level][(size >> level) - 1]
            for level in reversed(range(4))
            if size >> level & 1
        ]
        assert [h.hex() for h in tree.hashes] == edge
    assert {node: h.hex() for node, h in visited.items()} == {
        (level, i): h for level, row in enumerate(KAT_NODES) for i, h in enumerate(row)
    }


@pytest.mark.parametrize(("index", "size"), KAT_INCLUSION)
def test_published_inclusion_proofs(index: int, size: int) -> None:
    proof = inclusion_proof(index, size, _kat_node)
    assert proof == [_kat_node(*node) for node in KAT_INCLUSION[index, size]]
    leaf = leaf_hash(KAT_LEAVES[index])
    verify_inclusion(leaf, index, size, proof, bytes.fromhex(KAT_ROOTS[size]))


@pytest.mark.parametrize(("size1", "size2"), KAT_CONSISTENCY)
def test_published_consistency_proofs(size1: int, size2: int) -> None:
    proof = consistency_proof(size1, size2, _kat_node)
    assert proof == [_kat_node(*node) for node in KAT_CONSISTENCY[size1, size2]]
    roots = bytes.fromhex(KAT_ROOTS[size1]), bytes.fromhex(KAT_ROOTS[size2])
    verify_consistency(size1, size2, proof, *roots)


# -- random trees ----------------------------------------------------------------------------

PROPERTY = settings(max_examples=150, deadline=None)
BIG = 320


def _leaf(i: int) -> bytes:
    return leaf_hash(i.to_bytes(4, "big"))


@dataclass(frozen=True)
class _History:
    """A tree grown to BIG leaves: its stored nodes and the root at every size."""

    nodes: dict[NodeId, bytes]
    roots: list[bytes]


@cache
def _history() -> _History:
    nodes: dict[NodeId, bytes] = {}
    tree = CompactRange()
    roots = [tree.root()]
    for i in range(BIG):
        tree.append(_leaf(i), _recording(nodes))
        roots.append(tree.root())
    return _History(nodes, roots)


def _reader(size: int, reads: list[NodeId]) -> Callable[[int, int], bytes]:
    """Stored nodes as a log of ``size`` leaves has them; records what a proof reads."""
    nodes = _history().nodes

    def node(level: int, index: int) -> bytes:
        assert (index + 1) << level <= size, f"node {level}/{index} is not in a tree of {size}"
        reads.append((level, index))
        return nodes[level, index]

    return node


@PROPERTY
@given(size=st.integers(0, BIG), cuts=st.lists(st.integers(0, BIG), max_size=5))
def test_compact_range_is_the_tree(size: int, cuts: list[int]) -> None:
    leaves = [_leaf(i) for i in range(size)]
    visited: dict[NodeId, bytes] = {}
    visit = _recording(visited)
    # Grown in batches, each resumed from the stored edge of the one before, as a log does.
    tree = CompactRange()
    for start, stop in itertools.pairwise([0, *sorted(min(c, size) for c in cuts), size]):
        tree = CompactRange(tree.size, tree.hashes)
        tree.extend(leaves[start:stop], visit)

    assert tree.size == size
    assert tree.root() == root_of(leaves)
    expected = {
        (level, index) for level in range(size.bit_length()) for index in range(size >> level)
    }
    assert visited.keys() == expected
    for (level, index), digest in visited.items():
        assert digest == root_of(leaves[index << level : (index + 1) << level])


@st.composite
def _leaf_in_tree(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(1, BIG))
    return draw(st.integers(0, size - 1)), size


@st.composite
def _two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(2, BIG))
    return draw(st.integers(1, size2 - 1)), size2


def _flip(proof: list[bytes], which: int, bit: int) -> list[bytes]:
    flipped = list(proof)
    digest = bytearray(flipped[which])
    digest[bit // 8] ^= 1 << (bit % 8)
    flipped[which] = bytes(digest)
    return flipped


@PROPERTY
@given(
    case=_leaf_in_tree(),
    other=st.integers(0, BIG),
    which=st.integers(0, 63),
    bit=st.integers(0, 8 * HASH_SIZE - 1),
    extra=st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE),
)
def test_inclusion_proofs(
    case: tuple[int, int], other: int, which: int, bit: int, extra: bytes
) -> None:
    index, size = case
    roots = _history().roots
    reads: list[NodeId] = []
    proof = inclusion_proof(index, size, _reader(size, reads))
    assert len(reads) == len(set(reads))
    assert set(reads) == set(nodes_for_inclusion(index, size))
    verify_inclusion(_leaf(index), index, size, proof, roots[size])

    def refused(leaf: bytes, i: int, n: int, bad: list[bytes], root: bytes) -> None:
        with pytest.raises(ProofInvalid):
            verify_inclusion(leaf, i, n, bad, root)

    if proof:
        k = which % len(proof)
        refused(_leaf(index), index, size, _flip(proof, k, bit), roots[size])
        refused(_leaf(index), index, size, proof[:k] + proof[k + 1 :], roots[size])
    at = which % (len(proof) + 1)
    refused(_leaf(index), index, size, [*proof[:at], extra, *proof[at:]], roots[size])
    refused(_flip([_leaf(index)], 0, bit)[0], index, size, proof, roots[size])
    if other != index:
        refused(_leaf(index), other, size, proof, roots[size])
    if other not in (0, size):
        # Another size, with that size's true root: the proof does not lead there.
        refused(_leaf(index), index, other, proof, roots[other])


@PROPERTY
@given(
    sizes=_two_sizes(),
    other=st.integers(0, BIG),
    which=st.integers(0, 63),
    bit=st.integers(0, 8 * HASH_SIZE - 1),
    extra=st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE),
)
def test_consistency_proofs(
    sizes: tuple[int, int], other: int, which: int, bit: int, extra: bytes
) -> None:
    size1, size2 = sizes
    roots = _history().roots
    reads: list[NodeId] = []
    proof = consistency_proof(size1, size2, _reader(size2, reads))
    assert len(reads) == len(set(reads))
    assert set(reads) == set(nodes_for_consistency(size1, size2))
    verify_consistency(size1, size2, proof, roots[size1], roots[size2])
    assert consistency_proof(size2, size2, _reader(size2, [])) == []
    verify_consistency(size2, size2, [], roots[size2], roots[size2])

    def refused(n1: int, n2: int, bad: list[bytes], root1: bytes, root2: bytes) -> None:
        with pytest.raises(ProofInvalid):
            verify_consistency(n1, n2, bad, root1, root2)

    r1, r2 = roots[size1], roots[size2]
    k = which % len(proof)
    refused(size1, size2, _flip(proof, k, bit), r1, r2)
    refused(size1, size2, proof[:k] + proof[k + 1 :], r1, r2)
    at = which % (len(proof) + 1)
    refused(size1, size2, [*proof[:at], extra, *proof[at:]], r1, r2)
    refused(size1, size2, proof, _flip([r1], 0, bit)[0], r2)
    refused(size1, size2, proof, r1, _flip([r2], 0, bit)[0])
    if other != size1:
        refused(other, size2, proof, roots[other], r2)
    if other != size2:
        refused(size1, other, proof, r1, roots[other])


@PROPERTY
@given(size=st.integers(0, BIG))
def test_every_proof_of_a_tree(size: int) -> None:
    # Exhaustive over one tree, so that no (index, size) shape is left to chance.
    roots = _history().roots
    for index in range(size):
        proof = inclusion_proof(index, size, _reader(size, []))
        verify_inclusion(_leaf(index), index, size, proof, roots[size])
    for size1 in range(1, size + 1):
        proof = consistency_proof(size1, size, _reader(size, []))
        verify_consistency(size1, size, proof, roots[size1], roots[size])


def test_proofs_at_a_large_size() -> None:
    # Identical leaves make every perfect subtree of a level the same hash, so a tree far
    # larger than memory is known whole: this checks arithmetic on big sizes, not soundness.
    level_hash = [leaf_hash(b"x")]
    for _ in range(64):
        level_hash.append(node_hash(level_hash[-1], level_hash[-1]))

    def node(level: int, index: int) -> bytes:
        return level_hash[level]

    for size in (1_000_000, 2**40 + 2**20 + 3, 2**63 - 1):
        edge = [level_hash[lv] for lv in reversed(range(size.bit_length())) if size >> lv & 1]
        root = CompactRange(size, edge).root()
        for index in (0, size // 3, size - 2, size - 1):
            proof = inclusion_proof(index, size, node)
            # At most one hash per level; the right edge's folded nodes at most double reads.
            assert len(proof) <= size.bit_length()
            assert len(nodes_for_inclusion(index, size)) <= 2 * size.bit_length()
            verify_inclusion(level_hash[0], index, size, proof, root)
        old = size // 3 + 1
        old_edge = [level_hash[lv] for lv in reversed(range(old.bit_length())) if old >> lv & 1]
        proof = consistency_proof(old, size, node)
        verify_consistency(old, size, proof, CompactRange(old, old_edge).root(), root)


# -- misuse ----------------------------------------------------------------------------------

HASHES = st.binary(max_size=40) | st.binary(min_size=HASH_SIZE, max_size=HASH_SIZE)
SIZES = st.integers() | st.integers(-2, 10) | st.sampled_from([2**64 - 1, 2**64, 2**63])


@settings(max_examples=300, deadline=None)
@given(
    leaf=HASHES,
    index=SIZES,
    size=SIZES,
    proof=st.lists(HASHES, max_size=70),
    root=HASHES,
)
def test_inclusion_refuses_anything_with_proof_invalid(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    with contextlib.suppress(ProofInvalid):
        verify_inclusion(leaf, index, size, proof, root)


@settings(max_examples=300, deadline=None)
@given(size1=SIZES, size2=SIZES, proof=st.lists(HASHES, max_size=70), root1=HASHES, root2=HASHES)
def test_consistency_refuses_anything_with_proof_invalid(
    size1: int, size2: int, proof: list[bytes], root1: bytes, root2: bytes
) -> None:
    with contextlib.suppress(ProofInvalid):
        verify_consistency(size1, size2, proof, root1, root2)


@settings(max_examples=200, deadline=None)
@given(case=_leaf_in_tree(), index=SIZES, size=SIZES)
def test_a_real_proof_at_arbitrary_positions(case: tuple[int, int], index: int, size: int) -> None:
    """A genuine proof, claimed for any index and size: it verifies only where it is true."""
    true_index, true_size = case
    roots = _history().roots
    proof = inclusion_proof(true_index, true_size, _reader(true_size, []))
    try:
        verify_inclusion(_leaf(true_index), index, size, proof, roots[true_size])
    except ProofInvalid:
        return
    # Sizes with the same path shape accept it (the root, not the size, is what is signed).
    assert index == true_index


def test_generation_refuses_what_has_no_proof() -> None:
    for index, size in [(0, 0), (3, 3), (-1, 4)]:
        with pytest.raises(ValueError):
            nodes_for_inclusion(index, size)
    for size1, size2 in [(0, 4), (5, 4), (-1, 2)]:
        with pytest.raises(ValueError):
            nodes_for_consistency(size1, size2)
    assert nodes_for_consistency(4, 4) == ()
    with pytest.raises(ValueError):
        CompactRange(3, [bytes(32)])
    with pytest.raises(ValueError):
        CompactRange(1, [bytes(31)])
    with pytest.raises(ValueError):
        CompactRange().append(b"short")
