"""The enclave manifest: what it accepts, and bad manifests refused with the line to fix."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trustroom.enclave import ManifestInvalid, build, load_manifest
from trustroom.enclave._locate import Lines

FULL = """\
[enclave]
name = "service"
entrypoint = "python3 app.py --port 8080"
product_id = 7
security_version = 3
debug = false

[files]
trusted = [
  "app.py",
  "lib",
]
allowed = ["/etc/hostname"]

[env]
set = { LANG = "C.UTF-8", MODE = "production" }
passthrough = ["TZ"]

[[volumes]]
mount = "/data"
volume = "state"
key = "sealing"

[[volumes]]
mount = "/app/cache"
volume = "cache"
key = "kbs:default/cache-key/1"

[[secrets]]
resource = "default/db-password/1"
env = "DB_PASSWORD"

[[secrets]]
resource = "default/tls-key/1"
file = "/data/tls.key"

[network]
mode = "host"

[limits]
memory = "512M"
threads = 64
processes = 8
"""


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "trustroom.toml").write_text(text)
    return tmp_path


def test_a_full_manifest(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, FULL))
    assert manifest.name == "service"
    assert manifest.entrypoint == ("python3", "app.py", "--port", "8080")
    assert (manifest.product_id, manifest.security_version, manifest.debug) == (7, 3, False)
    assert manifest.trusted == ("app.py", "lib") and manifest.allowed == ("/etc/hostname",)
    assert dict(manifest.env) == {"LANG": "C.UTF-8", "MODE": "production"}
    assert manifest.passthrough == ("TZ",)
    assert [(v.mount, v.volume, v.key) for v in manifest.volumes] == [
        ("/data", "state", "sealing"),
        ("/app/cache", "cache", "kbs:default/cache-key/1"),
    ]
    assert [(s.resource, s.env, s.file) for s in manifest.secrets] == [
        ("default/db-password/1", "DB_PASSWORD", None),
        ("default/tls-key/1", None, "/data/tls.key"),
    ]
    assert manifest.network == "host"
    assert (manifest.limits.memory, manifest.limits.threads, manifest.limits.processes) == (
        512 << 20,
        64,
        8,
    )
    assert manifest.inside("app.py") == "/app/app.py" and manifest.inside("/etc/x") == "/etc/x"


def test_defaults(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, '[enclave]\nentrypoint = ["/bin/true"]\n'))
    assert manifest.name == tmp_path.name and manifest.network == "none"
    assert (manifest.product_id, manifest.security_version, manifest.debug) == (0, 0, False)
    assert manifest.trusted == () and manifest.volumes == () and manifest.secrets == ()


def _replace(old: str, new: str) -> str:
    assert old in FULL
    return FULL.replace(old, new, 1)


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (_replace('name = "service"', 'nmae = "service"'), 2, "unknown key"),
        (FULL + "\n[extras]\nx = 1\n", 45, "unknown table"),
        (_replace("product_id = 7", "product_id = 70000"), 4, "between 0 and 65535"),
        (_replace("debug = false", 'debug = "no"'), 6, "true or false"),
        (_replace('  "lib",', '  "../outside",'), 11, "leaves the manifest's folder"),
        (_replace('  "lib",', '  "app.py",'), 10, "listed twice"),
        (_replace('MODE = "production"', '"1BAD" = "x"'), 16, "not a valid environment"),
        (_replace('mount = "/app/cache"', 'mount = "/data/cache"'), 25, "overlaps the mount"),
        (_replace('mount = "/app/cache"', 'mount = "/proc/x"'), 25, "overlaps /proc"),
        (_replace('mount = "/app/cache"', 'mount = "/"'), 25, "absolute path other than /"),
        (_replace('key = "sealing"', 'key = "passphrase"'), 22, 'must be "sealing"'),
        (_replace('env = "DB_PASSWORD"', 'file = "/etc/db-password"'), 31, "not inside a sealed"),
        (_replace('env = "DB_PASSWORD"\n', ""), 29, "exactly one of env"),
        (_replace('resource = "default/tls-key/1"', 'resource = "tls-key"'), 34, "REPOSITORY/TYPE"),
        (_replace('mode = "host"', 'mode = "bridge"'), 38, "must be one of none, host"),
        (_replace('memory = "512M"', 'memory = "lots"'), 41, "is not a size"),
        (_replace("threads = 64", "threads = 0"), 42, "at least 1"),
        (_replace('allowed = ["/etc/hostname"]', 'allowed = ["/data/x"]'), 13, "hidden by"),
        (_replace('entrypoint = "python3 app.py --port 8080"', 'entrypoint = "a \'b"'), 3, "split"),
        ('[enclave]\nname = "x"\n', 1, "entrypoint is required"),
    ],
)
def test_bad_manifests_point_at_the_line(tmp_path: Path, text: str, line: int, words: str) -> None:
    with pytest.raises(ManifestInvalid) as caught:
        load_manifest(write(tmp_path, text))
    assert caught.value.code == "enclave_manifest_invalid"
    assert caught.value.details["line"] == line, caught.value.message
    assert f"line {line}:" in caught.value.message and words in caught.value.message


def test_toml_syntax_errors_name_the_line(tmp_path: Path) -> None:
    with pytest.raises(ManifestInvalid, match="line 2"):
        load_manifest(write(tmp_path, '[enclave]\nentrypoint = "unterminated\n'))


def test_no_manifest(tmp_path: Path) -> None:
    with pytest.raises(ManifestInvalid, match="no manifest here") as caught:
        load_manifest(tmp_path)
    assert "trustroom enclave new" in caught.value.hint


def test_missing_files_fail_at_build_with_their_line(tmp_path: Path) -> None:
    head = '[enclave]\nentrypoint = ["/bin/true"]\n[files]\n'
    text = head + 'trusted = [\n  "/bin/true",\n  "gone.txt",\n]\n'
    with pytest.raises(
        ManifestInvalid, match=r"line 6: files\.trusted: .*gone\.txt does not exist"
    ):
        build(write(tmp_path, text))
    text = head + 'trusted = ["/bin/true"]\nallowed = ["/nowhere"]\n'
    with pytest.raises(ManifestInvalid, match=r"line 5: files\.allowed: /nowhere does not exist"):
        build(write(tmp_path, text))


def test_the_program_must_be_trusted(tmp_path: Path) -> None:
    with pytest.raises(ManifestInvalid, match=r"line 2: enclave\.entrypoint: true is not among"):
        build(write(tmp_path, '[enclave]\nentrypoint = "true"\n'))


def test_lines_of_keys_tables_and_items() -> None:
    lines = Lines(FULL)
    assert lines.of(("enclave", "name")) == 2
    assert lines.of(("volumes", 1, "key")) == 27
    assert lines.of(("files", "trusted"), "lib") == 11
    assert lines.of(("env", "set", "LANG")) == 16  # inside an inline table: its line
    assert lines.of(("nowhere",)) is None


@settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=300))
def test_any_text_is_read_or_refused_cleanly(tmp_path: Path, text: str) -> None:
    with contextlib.suppress(ManifestInvalid):
        load_manifest(write(tmp_path, text))


@settings(max_examples=200, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.integers(0, len(FULL)), st.text(max_size=20))
def test_edited_manifests_are_read_or_refused_cleanly(tmp_path: Path, at: int, insert: str) -> None:
    with contextlib.suppress(ManifestInvalid):
        load_manifest(write(tmp_path, FULL[:at] + insert + FULL[at:]))
