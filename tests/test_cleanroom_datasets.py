"""Datasets sealed for a job, and the key broker policy that releases their keys only to the
programs their owners approved."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from trustroom.cleanroom import Dataset, DatasetInvalid, release_policy, seal_dataset
from trustroom.kbs._policy import check_policy, evaluate_policy, policy_data
from trustroom.ledger import digest_of
from trustroom.sealfs import Volume, VolumeKey, WrongKey

TABLE = b"id,balance,defaulted\nc-001,5200.5,0\nc-002,130,1\nc-003,870,0\n"


def test_a_dataset_is_sealed_under_a_fresh_key(tmp_path: Path) -> None:
    source = tmp_path / "bank.csv"
    source.write_bytes(TABLE)
    dataset, key = seal_dataset(source, tmp_path / "vol", owner="bank", name="customers")
    assert dataset == Dataset(
        "customers", "bank", digest_of(TABLE), ("id", "balance", "defaulted"), 3
    )
    assert dataset.resource == "bank/dataset-key/customers"
    assert Dataset.from_dict(dataset.to_dict()) == dataset
    with Volume(tmp_path / "vol", VolumeKey.raw(key)) as volume:
        assert volume.read_bytes("/data.csv") == TABLE
    stored = b"".join(p.read_bytes() for p in (tmp_path / "vol").rglob("*") if p.is_file())
    assert b"c-001" not in stored and b"balance" not in stored
    with pytest.raises(WrongKey):
        Volume(tmp_path / "vol", VolumeKey.raw(bytes(32)))
    _, other = seal_dataset(source, tmp_path / "vol2", owner="bank", name="customers")
    assert other != key


def test_a_parquet_table_is_sealed_as_it_is(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    table = pa.table({"id": ["c-001", "c-002"], "balance": [5200.5, 130.0]})
    pq.write_table(table, tmp_path / "bank.parquet")
    data = (tmp_path / "bank.parquet").read_bytes()
    dataset, key = seal_dataset(tmp_path / "bank.parquet", tmp_path / "vol", owner="bank",
                                name="accounts")  # fmt: skip
    assert (dataset.columns, dataset.rows, dataset.format) == (("id", "balance"), 2, "parquet")
    assert dataset.digest == digest_of(data) and dataset.file == "/data.parquet"
    with Volume(tmp_path / "vol", VolumeKey.raw(key)) as volume:
        assert volume.read_bytes("/data.parquet") == data
    (tmp_path / "broken.parquet").write_bytes(data[:-20])
    with pytest.raises(DatasetInvalid, match="not a Parquet file"):
        seal_dataset(tmp_path / "broken.parquet", tmp_path / "v2", owner="bank", name="x")


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "no header"),
        (b"id,,x\n1,2,3\n", "no header"),
        (b"\xff\xfe", "not a CSV"),
        (b"id,x\n1,2\n3\n", "line 3: 1 fields, not 2"),
        (b"id,id\n1,2\n", "names a column twice"),
    ],
)
def test_what_is_not_a_table_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    source = tmp_path / "t.csv"
    source.write_bytes(content)
    with pytest.raises(DatasetInvalid, match=message):
        seal_dataset(source, tmp_path / "vol", owner="bank", name="t")
    assert not (tmp_path / "vol").exists()


def test_a_registration_that_does_not_check_is_refused() -> None:
    good = Dataset("t", "bank", digest_of(b""), ("id",), 0).to_dict()
    for broken in (
        {**good, "rows": -1},
        {**good, "columns": "id"},
        {**good, "format": "xlsx"},
        {"name": "t"},
    ):
        with pytest.raises(DatasetInvalid):
            Dataset.from_dict(broken)


M = "ab" * 32
POLICY = release_policy({"bank/dataset-key/customers": [f"sha256:{M}"]}, allow_sim=True)


def claims(measurement: str, failed: tuple[str, ...] = ("simulated_tee",)) -> dict[str, Any]:
    evidence = {"sim": {"measurements": {"mrenclave": measurement}}, "report_data": ""}
    return {
        "submods": {
            "cpu0": {
                "trustroom.reasons": [{"rule": rule} for rule in failed],
                "ear.veraison.annotated-evidence": evidence,
            }
        }
    }


@pytest.mark.parametrize(
    ("token", "resource", "reason"),
    [
        (claims(M), "bank/dataset-key/customers", None),
        (claims("cd" * 32), "bank/dataset-key/customers", f"measurement {'cd' * 32} is not one"),
        (claims(M), "retailer/dataset-key/customers", "no approved job reads retailer/"),
        (claims(M, ("simulated_tee", "mrenclave")), "bank/dataset-key/customers", "rule mrenclave"),
        ({}, "bank/dataset-key/customers", "no cpu0 appraisal"),
    ],
    ids=["approved", "other-program", "other-dataset", "appraisal-failed", "no-token"],
)
def test_a_key_goes_only_to_an_approved_program(
    token: dict[str, Any], resource: str, reason: str | None
) -> None:
    check_policy(POLICY)
    decision = evaluate_policy(POLICY, token, policy_data(*resource.split("/")))
    assert decision.allow is (reason is None)
    if reason is not None:
        assert any(reason in r for r in decision.reasons), decision.reasons


def test_the_simulated_tee_is_refused_unless_allowed() -> None:
    strict = release_policy({"bank/dataset-key/customers": [f"sha256:{M}"]})
    decision = evaluate_policy(strict, claims(M), policy_data("bank", "dataset-key", "customers"))
    assert not decision.allow
    assert (
        "the evidence comes from the simulated TEE, which this broker refuses" in decision.reasons
    )
