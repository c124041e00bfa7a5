"""RFC 9162 Merkle trees for the transparency log: hashing, the growing tree, proofs.

The hashing is RFC 6962 §2.1 (kept by RFC 9162): a leaf is SHA-256(0x00 || data), an inner
node SHA-256(0x01 || left || right), and a tree of n leaves splits at the largest power of
two below n. The log stores only the hashes of *perfect* subtrees (node ``(level, index)``
covers leaves ``[index * 2**level, (index + 1) * 2**level)``), which never change once
complete; :class:`CompactRange` grows the tree from its right edge, a batch at a time, and
reports the nodes each batch completes, and proofs are built from those nodes alone::

    nodes = {}

    def store(level, first, hashes):
        for index, digest in enumerate(hashes, start=first):
            nodes[level, index] = digest

    tree = CompactRange()
    tree.extend([leaf_hash(e) for e in entries], store)
    # A database would first fetch nodes_for_inclusion(3, tree.size) in one query.
    proof = inclusion_proof(3, tree.size, lambda level, index: nodes[level, index])
    verify_inclusion(leaf_hash(entries[3]), 3, tree.size, proof, tree.root())  # or ProofInvalid

Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 step by step, and refuses anything it
cannot check with :class:`ProofInvalid`, never another exception.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from typing import NamedTuple

from trustroom.ledger._errors import ProofInvalid

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "CompactRange",
    "NodeId",
    "StoreRun",
    "consistency_proof",
    "inclusion_proof",
    "leaf_hash",
    "node_hash",
    "nodes_for_consistency",
    "nodes_for_inclusion",
    "root_of",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

NodeId = tuple[int, int]
"""A perfect subtree: (level, index), level 0 being the leaves."""

StoreRun = Callable[[int, int, Sequence[bytes]], None]
"""Receives a run of new perfect-subtree hashes: level, index of the first, the hashes."""

_sha256 = hashlib.sha256


def leaf_hash(data: bytes) -> bytes:
    """The hash of a leaf holding ``data``: SHA-256(0x00 || data)."""
    return _sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """The hash of an inner node over its two children: SHA-256(0x01 || left || right)."""
    return _sha256(b"\x01" + left + right).digest()


def root_of(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH of a whole tree given its leaf hashes, level by level (for tests and small trees).

    Carrying an unpaired last node up a level unchanged gives RFC 9162's largest-power-of-two
    split, without recursion.
    """
    row = list(leaf_hashes)
    if not row:
        return EMPTY_ROOT
    while len(row) > 1:
        paired = [node_hash(row[i], row[i + 1]) for i in range(0, len(row) - 1, 2)]
        if len(row) % 2:
            paired.append(row[-1])
        row = paired
    return row[0]


class CompactRange:
    """The right edge of a tree of ``size`` leaves: the roots of its perfect subtrees, left to
    right, one per set bit of ``size`` (transparency-dev/merkle's ``compact.Range``).

    It is all a log needs to keep to append leaves in O(log n) each and to compute the root.
    """

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"a tree size is not negative, not {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"a tree of size {size} has {size.bit_count()} edge hashes, not {len(hashes)}"
            )
        if any(len(h) != HASH_SIZE for h in hashes):
            raise ValueError(f"edge hashes are {HASH_SIZE} bytes")
        self._size = size
        self._hashes = list(hashes)

    @property
    def size(self) -> int:
        """The number of leaves."""
        return self._size

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The perfect subtrees' roots, largest (leftmost) first."""
        return tuple(self._hashes)

    def append(self, leaf_hash: bytes, store: StoreRun | None = None) -> None:
        """Add one leaf (its hash); see :meth:`extend`."""
        self.extend([leaf_hash], store)

    def extend(self, leaf_hashes: Sequence[bytes], store: StoreRun | None = None) -> None:
        """Add leaves (their hashes); ``store(level, first, hashes)`` sees, once per level,
        bottom up, the run of perfect subtrees they complete (the leaves themselves at level
        0), so that the caller can store them.

        The tree grows a level at a time, each level's new nodes hashed in one pass, rather
        than leaf by leaf: a log integrates batches of thousands.
        """
        if any(len(h) != HASH_SIZE for h in leaf_hashes):
            raise ValueError(f"leaf hashes are {HASH_SIZE} bytes")
        old, new = self._size, self._size + len(leaf_hashes)
        old_edge = dict(zip(_set_bits(old), self._hashes, strict=True))
        new_edge: dict[int, bytes] = {}
        row, first, level = list(leaf_hashes), old, 0
        sha256 = _sha256
        while row:
            # ``row`` holds the level's new nodes, from index ``first``.
            if store is not None:
                store(level, first, row)
            if (new >> level) & 1:
                new_edge[level] = row[-1]
            if first & 1:
                # The left sibling of the first new node is complete already: on the edge.
                row.insert(0, old_edge[level])
                first -= 1
            # An odd last node waits for its sibling in a later batch.
            pairs = zip(row[::2], row[1::2], strict=False)
            row = [sha256(b"\x01" + a + b).digest() for a, b in pairs]
            first >>= 1
            level += 1
        # Levels above the last new node keep their edge hashes.
        self._hashes = [new_edge.get(lv) or old_edge[lv] for lv in _set_bits(new)]
        self._size = new

    def root(self) -> bytes:
        """MTH of the tree: the edge hashes folded from the right; EMPTY_ROOT when empty."""
        if not self._hashes:
            return EMPTY_ROOT
        digest = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            digest = node_hash(left, digest)
        return digest


def _set_bits(size: int) -> list[int]:
    """The levels of the perfect subtrees on the right edge of a tree of ``size``, largest
    first."""
    return [level for level in range(size.bit_length() - 1, -1, -1) if (size >> level) & 1]


# -- proof generation ------------------------------------------------------------------------


class _Plan(NamedTuple):
    """The nodes a proof is made of, in proof order, where ``ids[fold_start:fold_end]`` (left
    to right) together cover one subtree on the tree's right edge that is not perfect; the
    proof holds their combined hash (transparency-dev/merkle's "ephemeral" node)."""

    ids: list[NodeId]
    fold_start: int
    fold_end: int


def _plan(level: int, index: int, size: int, *, with_seed: bool) -> _Plan:
    """The audit path from node (``level``, ``index``) to the root of a tree of ``size``
    leaves, which must contain that node (RFC 9162 PATH generalised, as in
    transparency-dev/merkle ``proof.nodes``)."""
    # The fork is the node's highest ancestor that is complete in this tree. Below it the
    # path's siblings are perfect; its own sibling is the rest of the tree, [end, size), not
    # perfect in general, so folded from the perfect subtrees covering it; above it every
    # ancestor holds leaf `size`, so its siblings are the perfect subtrees left of the fork.
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level = level + inner
    begin = (index >> inner) << fork_level
    end = begin + (1 << fork_level)

    ids: list[NodeId] = [(level, index)] if with_seed else []
    ids.extend((lv, (index >> (lv - level)) ^ 1) for lv in range(level, fork_level))
    fold_start = len(ids)
    _aligned_cover(end, size - end, ids)
    fold_end = len(ids)
    left: list[NodeId] = []
    _aligned_cover(0, begin, left)
    ids.extend(reversed(left))  # nearest (lowest) subtree first: the proof climbs
    return _Plan(ids, fold_start, fold_end)


def _aligned_cover(start: int, count: int, out: list[NodeId]) -> None:
    """Append the perfect subtrees covering ``count`` leaves from ``start``, left to right.
    ``start`` is a multiple of a power of two greater than ``count``, so there is one subtree
    per set bit of ``count``, largest first."""
    for level in range(count.bit_length() - 1, -1, -1):
        if (count >> level) & 1:
            out.append((level, start >> level))
            start += 1 << level


def _inclusion_plan(index: int, size: int) -> _Plan:
    if not 0 <= index < size:
        raise ValueError(f"no leaf {index} in a tree of size {size}")
    return _plan(0, index, size, with_seed=False)


def _consistency_plan(size1: int, size2: int) -> _Plan:
    if not 0 < size1 <= size2:
        raise ValueError(f"no consistency proof from size {size1} to size {size2}")
    if size1 == size2:
        return _Plan([], 0, 0)
    # RFC 9162 SUBPROOF reduces to the path from the largest perfect subtree ending at size1;
    # when that subtree is the whole old tree, the verifier has its hash already (root1).
    level = (size1 & -size1).bit_length() - 1
    index = (size1 - 1) >> level
    return _plan(level, index, size2, with_seed=index != 0)


def _build(plan: _Plan, node: Callable[[int, int], bytes]) -> list[bytes]:
    hashes = [node(level, index) for level, index in plan.ids]
    start, end = plan.fold_start, plan.fold_end
    if end - start > 1:
        digest = hashes[end - 1]
        for i in range(end - 2, start - 1, -1):
            digest = node_hash(hashes[i], digest)
        hashes[start:end] = [digest]
    return hashes


def nodes_for_inclusion(index: int, size: int) -> tuple[NodeId, ...]:
    """The perfect subtrees :func:`inclusion_proof` reads for leaf ``index`` in a tree of
    ``size`` leaves, so that storage can fetch them at once. ValueError unless
    0 <= index < size."""
    return tuple(_inclusion_plan(index, size).ids)


def nodes_for_consistency(size1: int, size2: int) -> tuple[NodeId, ...]:
    """The perfect subtrees :func:`consistency_proof` reads from ``size1`` to ``size2``.
    ValueError unless 0 < size1 <= size2."""
    return tuple(_consistency_plan(size1, size2).ids)


def inclusion_proof(index: int, size: int, node: Callable[[int, int], bytes]) -> list[bytes]:
    """RFC 9162 PATH(index, D[size]): the inclusion proof of leaf ``index`` in the tree of
    ``size`` leaves, from ``node(level, index)``, the hash of a perfect subtree (only those of
    :func:`nodes_for_inclusion` are asked for). ValueError unless 0 <= index < size."""
    return _build(_inclusion_plan(index, size), node)


def consistency_proof(size1: int, size2: int, node: Callable[[int, int], bytes]) -> list[bytes]:
    """RFC 9162 PROOF(size1, D[size2]), from perfect subtree hashes as for
    :func:`inclusion_proof` (those of :func:`nodes_for_consistency`); empty when the sizes
    are equal. ValueError unless 0 < size1 <= size2."""
    return _build(_consistency_plan(size1, size2), node)


# -- verification ------------------------------------------------------------------------------


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofInvalid(f"{name} is {len(value)} bytes, not a {HASH_SIZE}-byte hash")


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, digest in enumerate(proof):
        if len(digest) != HASH_SIZE:
            raise ProofInvalid(f"proof hash {i} is {len(digest)} bytes, not {HASH_SIZE}")


def verify_inclusion(
    leaf_hash: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that the leaf ``leaf_hash`` is leaf ``index`` of the tree of ``size`` leaves
    whose root is ``root`` (RFC 9162 §2.1.3.2); ProofInvalid if not."""
    if not 0 <= index < size:
        raise ProofInvalid(f"leaf {index} is not in a tree of size {size}")
    _check_hash("the leaf hash", leaf_hash)
    _check_hash("the root", root)
    _check_proof(proof)
    fn, sn = index, size - 1
    r = leaf_hash
    for p in proof:
        if sn == 0:
            raise ProofInvalid(f"the inclusion proof is longer than a tree of size {size} needs")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid(f"the inclusion proof is shorter than a tree of size {size} needs")
    if r != root:
        raise ProofInvalid(f"the inclusion proof of leaf {index} does not lead to the root")


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of ``size1`` leaves and root ``root1`` is a prefix of the tree of
    ``size2`` leaves and root ``root2`` (RFC 9162 §2.1.4.2); ProofInvalid if not.

    Equal sizes need an empty proof and equal roots. From size 0 is refused, as by
    transparency-dev/merkle: every tree extends the empty one, so such a check proves nothing.
    """
    if size1 > size2:
        raise ProofInvalid(f"a tree of size {size2} cannot extend one of size {size1}")
    if size1 <= 0:
        raise ProofInvalid(f"no consistency proof starts from a tree of size {size1}")
    if size1 == size2:
        # Nothing to hash: the proof is the roots' equality, as in transparency-dev/merkle.
        if proof:
            raise ProofInvalid("a consistency proof between equal sizes is empty")
        if root1 != root2:
            raise ProofInvalid(f"two different roots for the tree of size {size1}")
        return
    _check_hash("root1", root1)
    _check_hash("root2", root2)
    _check_proof(proof)
    if not proof:
        raise ProofInvalid(f"the consistency proof from size {size1} to {size2} is empty")
    path = list(proof)
    if size1 & (size1 - 1) == 0:
        path.insert(0, root1)
    fn, sn = size1 - 1, size2 - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofInvalid(f"the consistency proof is longer than size {size2} needs")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofInvalid(f"the consistency proof is shorter than size {size2} needs")
    if fr != root1:
        raise ProofInvalid(f"the consistency proof does not lead to the root of size {size1}")
    if sr != root2:
        raise ProofInvalid(f"the consistency proof does not lead to the root of size {size2}")
