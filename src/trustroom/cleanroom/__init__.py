"""Clean-room jobs: parties compute together on data none of them hands over.

Data owners approve a job spec (which program, on whose data, who receives what) with their
member keys, the same identities the ledger's consortium governs; outputs are sealed to each
named recipient; every step is a ledger entry. This package holds the parts every mode
shares: the spec, approvals and sealed outputs (docs/cleanroom.md).
"""

from trustroom.cleanroom._approval import approve, check_approvals
from trustroom.cleanroom._datasets import Dataset, DatasetInvalid, seal_dataset
from trustroom.cleanroom._errors import ApprovalRefused, CleanroomError, SpecInvalid
from trustroom.cleanroom._outputs import open_output
from trustroom.cleanroom._policy import release_policy
from trustroom.cleanroom._spec import Input, JobSpec, Output, Program

__all__ = [
    "ApprovalRefused",
    "CleanroomError",
    "Dataset",
    "DatasetInvalid",
    "Input",
    "JobSpec",
    "Output",
    "Program",
    "SpecInvalid",
    "approve",
    "check_approvals",
    "open_output",
    "release_policy",
    "seal_dataset",
]
