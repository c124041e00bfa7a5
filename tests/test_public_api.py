"""The public surface is deliberate: pinned export lists and unique, stable error codes."""

from __future__ import annotations

import trustroom
import trustroom.attestation as attestation
import trustroom.cleanroom as cleanroom
import trustroom.enclave as enclave
import trustroom.evidence as evidence
import trustroom.guest as guest
import trustroom.kbs as kbs
import trustroom.ledger as ledger
import trustroom.mpc as mpc
import trustroom.ratls
import trustroom.sealfs as sealfs
import trustroom.tee
from trustroom import TrustroomError


def test_top_level_exports() -> None:
    assert trustroom.__all__ == ["TrustroomError", "__version__"]


def test_evidence_exports_are_pinned() -> None:
    assert evidence.__all__ == [
        "CertificateExpired",
        "ChainInvalid",
        "Collateral",
        "CollateralExpired",
        "CollateralMismatch",
        "CollateralMissing",
        "CollateralUnavailable",
        "CrlExpired",
        "DcapCollateral",
        "Evidence",
        "EvidenceError",
        "ExpectationFailed",
        "Expired",
        "InternalError",
        "ParseError",
        "QeIdentityMismatch",
        "Revoked",
        "SignatureInvalid",
        "SnpCollateral",
        "TcbLevelNotFound",
        "TcbMismatch",
        "TcbStatus",
        "TdxModuleMismatch",
        "UnsupportedFormat",
        "UntrustedRoot",
        "VerificationResult",
        "Verifier",
        "is_evidence",
        "is_sim_evidence",
        "parse",
    ]


def _subclasses(cls: type) -> list[type]:
    return [cls, *(s for sub in cls.__subclasses__() for s in _subclasses(sub))]


def test_attestation_exports_are_pinned() -> None:
    assert sorted(attestation.__all__) == [
        "Appraisal", "AttestationError", "CLAIMS", "EAR_PROFILE", "KeyWarning",
        "NO_REFERENCE_POLICY_ID", "ReferenceValues", "ReferenceValuesInvalid", "STATUSES",
        "SigningKey", "SigningKeyInvalid", "SigningKeyUnavailable", "SigningKeys",
        "SubmodClaims", "TCB_STATUS_ORDER", "TokenAudienceMismatch", "TokenClaims", "TokenError",
        "TokenExpired", "TokenInvalid", "TokenIssuer", "TokenNotYetValid",
        "TokenUntrustedIssuer", "appraise", "verify_token",
    ]  # fmt: skip


def test_kbs_exports_are_pinned() -> None:
    assert sorted(kbs.__all__) == [
        "AdminAuthFailed", "BindingMismatch", "DEFAULT_POLICY", "EvidenceRejected",
        "InvalidRequest", "KbsAdmin", "KbsClient", "KbsError", "KbsRemoteError", "KbsStore",
        "KeyBroker", "NonceReplayed", "PROTOCOL_VERSION", "PolicyDecision", "PolicyDenied",
        "PolicyInvalid", "ProtocolVersionMismatch", "ResourceCipher", "ResourceKeyInvalid",
        "ResourceNotFound", "ResponseInvalid", "SessionExpired", "SessionNotFound",
        "StoreUnavailable", "TokenInvalid", "UnsupportedTee", "attestation_message",
        "canonical_json", "create_app", "decrypt_response", "generate_resource_key",
        "mint_admin_token", "new_tee_key", "runtime_data_digest", "runtime_report_data",
    ]  # fmt: skip


def test_sealfs_exports_are_pinned() -> None:
    assert sealfs.__all__ == [
        "DEFAULT_NODE_SIZE", "CheckProblem", "CheckReport", "DirectoryNotEmpty", "FileExists",
        "FileInfo", "FileMisplaced", "FileNotFound", "FileRolledBack", "FileTruncated",
        "InvalidPath", "IsADirectory", "ManifestInvalid", "NodeInvalid", "NotADirectory",
        "SealedFile", "SealfsError", "Volume", "VolumeInvalid", "VolumeKey", "VolumeLocked",
        "VolumeRolledBack", "WrongKey",
    ]  # fmt: skip


def test_enclave_exports_are_pinned() -> None:
    assert enclave.__all__ == [
        "FORMAT", "MANIFEST_NAME", "WORKDIR", "EnclaveError", "Image", "ImageNotBuilt",
        "ImageSignature", "ImageSignatureInvalid", "Limits", "Manifest", "ManifestInvalid",
        "OutputUnreadable", "Outputs", "SealedMount", "Secret", "TrustedFileChanged", "build",
        "default_key_path", "load_image", "load_manifest", "load_signature", "open_output",
        "seal_output", "sign", "signing_key", "verified_image",
    ]  # fmt: skip


def test_ledger_exports_are_pinned() -> None:
    assert sorted(ledger.__all__) == [
        "ACTIONS", "Checkpoint", "CheckpointInvalid", "CheckpointRefused", "CompactRange",
        "Consortium", "CosignatureSigner", "CosignatureVerifier", "EMPTY_ROOT", "EntryNotFound",
        "GovernanceRefused", "KINDS", "KeyInvalid", "Ledger", "LedgerClient", "LedgerError",
        "LedgerStore",
        "LogExists", "LogNotFound", "MAX_RECORD_SIZE", "MemberKey", "NoteInvalid", "NoteSigner",
        "NoteVerifier", "ProofInvalid", "Receipt", "ReceiptInvalid", "Record", "RecordInvalid",
        "StoreUnavailable", "SubmissionRefused", "TreeStateInvalid", "VerifiedCheckpoint",
        "VerifiedReceipt",
        "WitnessPolicyUnmet",
        "check_log_key", "cosign", "digest_of", "genesis", "leaf_hash", "node_hash", "open_note",
        "proposal_id", "replay", "root_of", "sign_checkpoint", "sign_note", "verify_checkpoint",
        "verify_consistency", "verify_inclusion", "verify_receipt",
    ]  # fmt: skip


def test_cleanroom_exports_are_pinned() -> None:
    assert cleanroom.__all__ == [
        "ApprovalRefused", "CleanroomError", "Dataset", "DatasetInvalid", "Input", "JobSpec",
        "Output", "Program", "ResultInvalid", "SpecInvalid", "TeeRun", "approval_record",
        "approve", "check_approvals", "check_result", "grants", "measurement_of", "open_output",
        "open_shares", "release_policy", "result_record", "run_mpc_party", "run_tee_job",
        "seal_dataset", "start_record", "tee_program",
    ]  # fmt: skip


def test_guest_exports_are_pinned() -> None:
    assert guest.__all__ == ["API", "GuestApiError", "evidence", "info", "resource", "token"]


def test_every_error_has_its_own_code_and_a_hint() -> None:
    # Every subpackage is imported above, so this is every error a user can meet.
    errors = _subclasses(TrustroomError)
    assert {
        evidence.EvidenceError, attestation.AttestationError, kbs.KbsError, sealfs.SealfsError,
        enclave.EnclaveError, guest.GuestApiError, ledger.LedgerError, mpc.MpcError,
        cleanroom.CleanroomError,
    } <= set(errors)  # fmt: skip
    codes = [c.code for c in errors]
    assert len(codes) == len(set(codes))
    for cls in errors:
        assert cls.code.islower() and " " not in cls.code
        assert cls.default_hint


def test_issue_required_codes_exist() -> None:
    codes = {c.code for c in _subclasses(evidence.EvidenceError)}
    assert codes >= {
        "parse_error", "unsupported_format", "signature_invalid", "chain_invalid",
        "certificate_expired", "crl_expired", "collateral_expired", "revoked",
        "tcb_level_not_found", "tcb_mismatch", "qe_identity_mismatch", "untrusted_root",
    }  # fmt: skip


def test_error_to_dict() -> None:
    err = evidence.CrlExpired("PCK CRL is expired", item="PCK CRL")
    assert err.to_dict() == {
        "code": "crl_expired",
        "message": "PCK CRL is expired",
        "hint": evidence.CrlExpired.default_hint,
        "item": "PCK CRL",
    }
