"""Clean-room jobs: parties compute together on data none of them hands over.

Data owners seal their tables (:func:`seal_dataset`) and approve a job spec (which program,
on whose data, who receives what) with their member keys, the same identities the ledger's
consortium governs. The job runs in an attested enclave that gets the data keys from the key
broker only under the owners' release policy (:func:`run_tee_job`), or by MPC between the
owners' own machines after a private set intersection (:func:`run_mpc_party`); outputs leave
sealed to their recipients only; approvals, start and result are ledger entries, and each
recipient checks its output against the result's receipt offline (:func:`check_result`).
See docs/cleanroom.md.
"""

from trustroom.cleanroom._approval import approve, check_approvals
from trustroom.cleanroom._datasets import Dataset, DatasetInvalid, seal_dataset
from trustroom.cleanroom._errors import ApprovalRefused, CleanroomError, SpecInvalid
from trustroom.cleanroom._mpc import open_shares, run_mpc_party
from trustroom.cleanroom._outputs import open_output
from trustroom.cleanroom._policy import release_policy
from trustroom.cleanroom._records import (
    ResultInvalid,
    approval_record,
    check_result,
    result_record,
    start_record,
)
from trustroom.cleanroom._spec import Input, JobSpec, Output, Program
from trustroom.cleanroom._tee import TeeRun, grants, measurement_of, run_tee_job, tee_program

__all__ = [
    "ApprovalRefused",
    "CleanroomError",
    "Dataset",
    "DatasetInvalid",
    "Input",
    "JobSpec",
    "Output",
    "Program",
    "ResultInvalid",
    "SpecInvalid",
    "TeeRun",
    "approval_record",
    "approve",
    "check_approvals",
    "check_result",
    "grants",
    "measurement_of",
    "open_output",
    "open_shares",
    "release_policy",
    "result_record",
    "run_mpc_party",
    "run_tee_job",
    "seal_dataset",
    "start_record",
    "tee_program",
]
