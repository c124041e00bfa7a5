"""Images with [outputs]: results leave the sandbox only sealed to the recipients a measured
file names, and only when the program succeeds; the manifest's checks name the line."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from trustroom.enclave import (
    EnclaveError,
    ManifestInvalid,
    OutputUnreadable,
    TrustedFileChanged,
    build,
    load_image,
    load_manifest,
    open_output,
)
from trustroom.enclave._discover import needed_files
from trustroom.enclave._gramine import gramine_manifest
from trustroom.enclave._occlum import occlum_settings
from trustroom.enclave._run import run

needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

SH = "/usr/bin/sh"
TOOLS = ["/usr/bin/ls", "/usr/bin/ln", "/usr/bin/mkdir", "/usr/bin/chmod"]
BANK, ALGO, MALLORY = (Ed25519PrivateKey.generate() for _ in range(3))
OUTPUTS = '[outputs]\nfolder = "/outputs"\nrecipients = "recipients.json"\n'


def public(key: Ed25519PrivateKey) -> str:
    return base64.b64encode(key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)).decode()


def recipients(**outputs: dict[str, Ed25519PrivateKey]) -> str:
    named = {o: {r: public(k) for r, k in to.items()} for o, to in outputs.items()}
    return json.dumps({"context": "job-7", "outputs": named})


RECIPIENTS = recipients(**{"result.txt": {"bank": BANK, "algo": ALGO}})


def image(tmp_path: Path, script: str, listed: str = RECIPIENTS, extra: str = OUTPUTS) -> Path:
    folder = tmp_path / "image"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "main.sh").write_text(script)
    (folder / "recipients.json").write_text(listed)
    trusted = list(dict.fromkeys([SH, *TOOLS, *needed_files(SH), "main.sh", "recipients.json"]))
    for tool in TOOLS:
        trusted += [f for f in needed_files(tool) if f not in trusted]
    (folder / "trustroom.toml").write_text(
        '[enclave]\nname = "t"\nentrypoint = ["sh", "main.sh"]\n'
        f"[files]\ntrusted = {json.dumps(trusted)}\n{extra}"
    )
    build(folder).save()
    return folder


def run_cli(folder: Path, outputs: Path, scratch: Path) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trustroom", "enclave", "run", str(folder)]
    command += ["--outputs", str(outputs)]
    scratch.mkdir(exist_ok=True)  # the runner's private folder goes here: it must end empty
    environment = {**os.environ, "TMPDIR": str(scratch)}
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env=environment)


@needs_bwrap
def test_listed_results_leave_sealed_to_each_recipient_and_nothing_else(tmp_path: Path) -> None:
    host_secret = tmp_path / "host-secret.txt"
    host_secret.write_text("the host's own file")
    listed = recipients(
        **{
            "result.txt": {"bank": BANK, "algo": ALGO},
            "link.txt": {"bank": BANK},
            "folder": {"bank": BANK},
            "never-written.txt": {"algo": ALGO},
        }
    )
    folder = image(
        tmp_path,
        "ls -A /outputs; echo 'the model' > /outputs/result.txt; echo 'raw data' > "
        f"/outputs/stray.txt\nln -s {host_secret} /outputs/link.txt\n"
        "mkdir /outputs/folder; chmod 0 /outputs/folder\n",
        listed,
    )
    outputs, scratch = tmp_path / "released", tmp_path / "scratch"
    result = run_cli(folder, outputs, scratch)
    assert result.returncode == 0 and result.stdout == "", result.stderr  # /outputs was empty
    assert "withheld" in result.stderr and "'stray.txt'" in result.stderr
    assert "'link.txt'" in result.stderr and "'folder'" in result.stderr
    assert "raw data" not in result.stderr and "never-written.txt" in result.stderr
    envelopes = {p.name: p.read_bytes() for p in outputs.iterdir()}
    assert set(envelopes) == {"result.txt.bank.sealed", "result.txt.algo.sealed", "outputs.json"}
    for name, key in (("bank", BANK), ("algo", ALGO)):
        header, plain = open_output(envelopes[f"result.txt.{name}.sealed"], name, key)
        assert plain == b"the model\n"
        assert (header["context"], header["output"], header["recipient"]) == (
            "job-7",
            "result.txt",
            name,
        )
    with pytest.raises(OutputUnreadable):
        open_output(envelopes["result.txt.bank.sealed"], "bank", ALGO)
    index = json.loads(envelopes["outputs.json"])
    assert index == {
        "context": "job-7",
        "envelopes": {
            name: "sha256:" + hashlib.sha256(data).hexdigest()
            for name, data in envelopes.items()
            if name != "outputs.json"
        },
    }
    everything = b"".join(envelopes.values())
    assert b"the model" not in everything and b"raw data" not in everything
    assert b"the host's own file" not in everything
    assert list(scratch.iterdir()) == []  # the plaintext folder is gone


@needs_bwrap
def test_a_failed_program_releases_nothing(tmp_path: Path) -> None:
    folder = image(tmp_path, "echo 'half a model' > /outputs/result.txt; exit 1\n")
    outputs, scratch = tmp_path / "released", tmp_path / "scratch"
    result = run_cli(folder, outputs, scratch)
    assert result.returncode == 1
    assert "exited with status 1: no output released" in result.stderr
    assert list(outputs.iterdir()) == [] and list(scratch.iterdir()) == []


@pytest.mark.parametrize(
    "change",
    [
        recipients(**{"result.txt": {"bank": MALLORY, "algo": ALGO}}),  # a key swapped
        recipients(**{"result.txt": {"bank": BANK, "algo": ALGO}, "raw.csv": {"mallory": BANK}}),
        "{not json",
    ],
)
def test_a_changed_recipients_file_stops_the_start(tmp_path: Path, change: str) -> None:
    folder = image(tmp_path, "echo started; echo x > /outputs/result.txt\n")
    (folder / "recipients.json").write_text(change)
    with pytest.raises(TrustedFileChanged, match=r"/app/recipients\.json"):
        run(folder, outputs=tmp_path / "released")
    assert not (tmp_path / "released").exists()


def test_the_outputs_folder_is_asked_for(tmp_path: Path) -> None:
    folder = image(tmp_path, "true\n")
    with pytest.raises(EnclaveError, match="needs a folder of this host") as caught:
        run(folder)
    assert "--outputs DIR" in caught.value.hint
    plain = image(tmp_path / "plain", "true\n", extra="")
    with pytest.raises(EnclaveError, match=r"no \[outputs\] table"):
        run(plain, outputs=tmp_path / "released")


def test_other_runners_refuse_outputs_they_would_not_seal(tmp_path: Path) -> None:
    built = build(image(tmp_path, "true\n"))
    with pytest.raises(EnclaveError, match="not yet generated for Gramine"):
        gramine_manifest(built)
    with pytest.raises(EnclaveError, match="sealed outputs are not yet generated for Occlum"):
        occlum_settings(built)


def test_outputs_are_measured_only_when_present(tmp_path: Path) -> None:
    folder = image(tmp_path, "true\n")
    built = load_image(folder)  # the manifest's [outputs] travels in image.json
    assert built.manifest.outputs is not None
    assert (built.manifest.outputs.folder, built.manifest.outputs.recipients) == (
        "/outputs",
        "recipients.json",
    )
    assert built.measured["outputs"] == {"folder": "/outputs", "recipients": "/app/recipients.json"}
    assert built.trusted["/app/recipients.json"] == hashlib.sha256(RECIPIENTS.encode()).hexdigest()
    plain = build(image(tmp_path / "plain", "true\n", extra=""))
    assert "outputs" not in plain.measured and plain.manifest.outputs is None
    assert plain.measurement != built.measurement
    # An image.json written before [outputs] existed still loads.
    path = folder / "build" / "image.json"
    document = json.loads(path.read_text())
    del document["manifest"]["outputs"]
    path.write_text(json.dumps(document))
    assert load_image(folder).manifest.outputs is None


HEAD = """\
[enclave]
entrypoint = ["sh"]

[files]
trusted = ["/usr/bin/sh", "recipients.json"]

[[volumes]]
mount = "/data"
volume = "state"
key = "sealing"

[outputs]
folder = "/outputs"
recipients = "recipients.json"
"""


@pytest.mark.parametrize(
    ("old", "new", "line", "words"),
    [
        ('folder = "/outputs"', 'folder = "outputs"', 13, "absolute path other than /"),
        ('folder = "/outputs"', 'folder = "/"', 13, "absolute path other than /"),
        ('folder = "/outputs"', 'folder = "/data/out"', 13, "overlaps the mount of volumes[0]"),
        ('folder = "/outputs"', 'folder = "/tmp"', 13, "would hide /tmp"),
        ('folder = "/outputs"', 'folder = "/app"', 13, "would hide /app"),
        ('folder = "/outputs"', 'folder = "/dev/out"', 13, "overlaps /dev"),
        ('folder = "/outputs"', 'folder = "/usr/bin"', 5, "hidden by the outputs folder"),
        ('folder = "/outputs"', "folder = 1", 13, "must be a path inside the enclave"),
        ('folder = "/outputs"\n', "", 12, "folder is required"),
        ('folder = "/outputs"', 'folder = "/outputs"\nmode = "x"', 14, "unknown key"),
        ('recipients = "recipients.json"', 'recipients = "other.json"', 14, "not among the trust"),
        ('recipients = "recipients.json"', "recipients = []", 14, "must be a path"),
    ],
)
def test_bad_outputs_tables_point_at_the_line(
    tmp_path: Path, old: str, new: str, line: int, words: str
) -> None:
    assert old in HEAD
    (tmp_path / "trustroom.toml").write_text(HEAD.replace(old, new, 1))
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(tmp_path)
    assert caught.value.details["line"] == line, caught.value.message
    assert words in caught.value.message


def _document(**changes: object) -> str:
    document: dict[str, object] = {"context": "job-7", "outputs": {"model.json": {"bank": "K"}}}
    document.update(changes)
    return json.dumps(document).replace('"K"', json.dumps(public(BANK)))


def _key(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "not JSON"),
        ("[]", "must be a JSON object"),
        (_document(extra=1), "unknown key 'extra'"),
        (_document(context=""), "context must be a non-empty string"),
        (_document(context=None), "context must be a non-empty string"),
        (_document(outputs={}), "naming at least one output"),
        (_document(outputs=[]), "naming at least one output"),
        (_document(outputs={"../model.json": {"bank": "K"}}), "not a plain file name"),
        (_document(outputs={"a/b": {"bank": "K"}}), "not a plain file name"),
        (_document(outputs={".hidden": {"bank": "K"}}), "not a plain file name"),
        (_document(outputs={"model.json": {}}), "must name its recipients"),
        (_document(outputs={"model.json": ["bank"]}), "must name its recipients"),
        (_document(outputs={"model.json": {"a b": "K"}}), "is not a name"),
        (_document(outputs={"model.json": {"bank": "AAAA"}}), "not an Ed25519 public key"),
        (_document(outputs={"model.json": {"bank": "not base64!"}}), "not an Ed25519 public key"),
        (_document(outputs={"model.json": {"bank": _key(bytes(32))}}), "not an Ed25519"),
        (_document(outputs={"model.json": {"bank": _key(bytes(64))}}), "not an Ed25519"),
        (_document(outputs={"model.json": {"bank": 7}}), "not an Ed25519 public key"),
        (
            _document(outputs={"a.b": {"c": "K"}, "a": {"b.c": "K"}}),
            "would both be written to a.b.c.sealed",
        ),
        ('{"context": "a", "context": "b", "outputs": {}}', "'context' appears twice"),
    ],
)
def test_bad_recipients_files_fail_the_build_at_the_manifest_line(
    tmp_path: Path, text: str, words: str
) -> None:
    (tmp_path / "trustroom.toml").write_text(HEAD)
    (tmp_path / "recipients.json").write_text(text)
    with pytest.raises(ManifestInvalid) as caught:
        build(tmp_path)
    assert caught.value.details["line"] == 14, caught.value.message
    assert "outputs.recipients" in caught.value.message and words in caught.value.message


def test_the_recipients_file_must_be_a_file(tmp_path: Path) -> None:
    text = HEAD.replace('"recipients.json"]', '"keys"]').replace(
        'recipients = "recipients.json"', 'recipients = "keys"'
    )
    (tmp_path / "trustroom.toml").write_text(text)
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "a.json").write_text(RECIPIENTS)
    with pytest.raises(ManifestInvalid, match=r"line 14: .*is a folder"):
        build(tmp_path)
    # A file inside a trusted folder is measured with it: that will do.
    (tmp_path / "trustroom.toml").write_text(text.replace('= "keys"', '= "keys/a.json"'))
    assert build(tmp_path).measured["outputs"]["recipients"] == "/app/keys/a.json"
    (tmp_path / "trustroom.toml").write_text(text.replace('= "keys"', '= "keys/b.json"'))
    with pytest.raises(ManifestInvalid, match=r"line 14: .*keys/b\.json does not exist"):
        build(tmp_path)
