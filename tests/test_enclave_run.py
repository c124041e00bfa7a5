"""Images run under the simulated TEE's sandbox, for real: bubblewrap, FUSE, signals."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from kbs_server import running_broker, sim_policy, write_keys

from trustroom.enclave import ImageNotBuilt, TrustedFileChanged, build
from trustroom.enclave._discover import needed_files
from trustroom.enclave._run import run
from trustroom.evidence import Verifier
from trustroom.kbs import KbsAdmin
from trustroom.tee import SimPlatform

pytestmark = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")

SH = "/usr/bin/sh"
TOOLS = ["/usr/bin/cat", "/usr/bin/ls", "/usr/bin/sleep", "/usr/bin/head", "/usr/bin/tr"]


def image(
    tmp_path: Path, script: str, extra: str = "", files: dict[str, str] | None = None
) -> Path:
    folder = tmp_path / "image"
    folder.mkdir(exist_ok=True)
    (folder / "main.sh").write_text(script)
    for name, text in (files or {}).items():
        (folder / name).write_text(text)
    trusted = list(dict.fromkeys([SH, *TOOLS, *needed_files(SH), "main.sh"]))
    for tool in TOOLS:
        trusted += [f for f in needed_files(tool) if f not in trusted]
    listed = ", ".join(f'"{t}"' for t in trusted)
    (folder / "trustroom.toml").write_text(
        f'[enclave]\nname = "t"\nentrypoint = ["sh", "main.sh"]\n'
        f"[files]\ntrusted = [{listed}]\n{extra}"
    )
    build(folder).save()
    return folder


def run_cli(folder: Path, *arguments: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "trustroom", "enclave", "run", str(folder), "--", *arguments]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, **kwargs)


def test_output_arguments_and_exit_status_pass_through(tmp_path: Path) -> None:
    folder = image(tmp_path, 'echo "hello $1 $2"; exit 3\n')
    result = run_cli(folder, "big", "world")
    assert result.stdout == "hello big world\n" and result.returncode == 3, result.stderr
    assert "SIMULATED: not a hardware TEE, protects nothing" in result.stderr
    # Arguments without `--` go through the full command: the same run, the same label.
    command = [sys.executable, "-m", "trustroom", "enclave", "run", str(folder), "big", "world"]
    full = subprocess.run(command, capture_output=True, text=True, timeout=60)
    assert (full.stdout, full.returncode) == ("hello big world\n", 3), full.stderr
    assert "SIMULATED: not a hardware TEE, protects nothing" in full.stderr


def test_only_the_image_is_visible_and_read_only(tmp_path: Path) -> None:
    folder = image(
        tmp_path,
        "ls /; cat /app/notes.txt; cat /etc/passwd || echo no-passwd\n"
        "echo x > /app/main.sh || echo read-only; echo scratch > /tmp/t && cat /tmp/t\n"
        "cat /app/secret.txt || echo no-secret\n",
        extra='allowed = ["notes.txt"]\n',
        files={"notes.txt": "allowed in\n", "secret.txt": "the host's, not listed\n"},
    )
    result = run_cli(folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.split("\n")
    visible = {"app", "dev", "lib", "lib64", "proc", "tmp", "usr"}
    assert set(lines[: lines.index("allowed in")]) == visible
    assert "no-passwd" in lines and "read-only" in lines and "scratch" in lines
    assert "no-secret" in lines and "the host's" not in result.stdout


def test_a_clean_environment(tmp_path: Path) -> None:
    folder = image(
        tmp_path,
        'echo "set=$GREETING pass=$TZ leak=$LEAK home=$HOME"; cat /proc/sys/kernel/hostname\n',
        extra='[env]\nset = { GREETING = "hi" }\npassthrough = ["TZ"]\n',
    )
    result = run_cli(folder, env={**os.environ, "TZ": "UTC", "LEAK": "host secret"})
    assert result.stdout == "set=hi pass=UTC leak= home=/tmp\nenclave\n", result.stderr


def test_a_changed_trusted_file_stops_the_start(tmp_path: Path) -> None:
    folder = image(tmp_path, "echo started\n")
    (folder / "main.sh").write_text("echo tampered\n")
    with pytest.raises(TrustedFileChanged, match=r"/app/main\.sh") as caught:
        run(folder)
    assert caught.value.code == "trusted_file_changed"
    result = run_cli(folder)
    assert result.returncode == 1 and "trusted_file_changed" in result.stderr
    assert "tampered" not in result.stdout and "started" not in result.stdout


def test_child_processes_run_and_their_status_counts(tmp_path: Path) -> None:
    folder = image(tmp_path, 'sh -c "echo child; exit 4"; echo "child said $?"\n')
    result = run_cli(folder)
    assert result.stdout == "child\nchild said 4\n" and result.returncode == 0, result.stderr


def test_signals_reach_the_program(tmp_path: Path) -> None:
    folder = image(
        tmp_path, "trap 'echo got TERM; exit 7' TERM\necho ready\nwhile :; do sleep 0.05; done\n"
    )
    command = [sys.executable, "-m", "trustroom", "enclave", "run", str(folder)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as runner:
        assert runner.stdout is not None
        assert runner.stdout.readline() == "ready\n"
        runner.send_signal(signal.SIGTERM)
        assert runner.wait(timeout=30) == 7
        assert runner.stdout.read() == "got TERM\n"


def test_no_network_but_loopback(tmp_path: Path) -> None:
    folder = image(tmp_path, "cat /proc/net/dev\n")
    interfaces = [line.split(":")[0].strip() for line in run_cli(folder).stdout.splitlines()[2:]]
    assert interfaces == ["lo"]


@pytest.mark.fuse
def test_state_in_a_sealed_volume_survives_a_restart_as_ciphertext(tmp_path: Path) -> None:
    folder = image(
        tmp_path,
        "if [ -e /data/count ]; then n=$(cat /data/count); else n=0; fi\n"
        'n=$((n + 1)); echo "run $n"; echo $n > /data/count\n'
        "echo confidential-ledger > /data/log\n",
        extra='[[volumes]]\nmount = "/data"\nvolume = "state"\nkey = "sealing"\n',
    )
    environment = {**os.environ, "TRUSTROOM_HOME": str(tmp_path / "home")}
    first = run_cli(folder, env=environment)
    second = run_cli(folder, env=environment)
    assert (first.stdout, second.stdout) == ("run 1\n", "run 2\n"), first.stderr + second.stderr
    files = [p for p in (folder / "state").rglob("*") if p.is_file()]
    assert files and not any(b"confidential-ledger" in p.read_bytes() for p in files)
    # the mount is gone once run returns: nothing left mounted
    assert "trustroom-sealfs" not in Path("/proc/self/mounts").read_text()


def test_limits_hold_for_the_whole_process_tree(tmp_path: Path) -> None:
    forks = image(
        tmp_path,
        "for i in 1 2 3 4 5 6 7 8; do sleep 1 & done; echo forked\n",
        extra="[limits]\nthreads = 4\n",
    )
    result = run_cli(forks)
    assert "Cannot fork" in result.stderr and "forked" not in result.stdout
    assert result.returncode == 2  # the shell's status when it cannot fork
    _edit_limits(forks, "threads = 4", "threads = 64")
    assert run_cli(forks).stdout == "forked\n"
    memory = image(
        tmp_path,
        "x=$(head -c 100000000 /dev/zero | tr '\\0' a); echo allocated\n",
        extra='[limits]\nmemory = "48M"\n',
    )
    result = run_cli(memory)
    assert result.returncode == 128 + signal.SIGKILL and "allocated" not in result.stdout
    _edit_limits(memory, '"48M"', '"1G"')
    assert run_cli(memory).stdout == "allocated\n"
    leftovers = [p for p in Path("/sys/fs/cgroup").glob("*/**/trustroom-*") if p.is_dir()]
    assert leftovers == []


def _edit_limits(folder: Path, old: str, new: str) -> None:
    manifest = folder / "trustroom.toml"
    manifest.write_text(manifest.read_text().replace(old, new))
    build(folder).save()


@pytest.mark.fuse
def test_secrets_and_volume_keys_come_from_a_real_key_broker(tmp_path: Path) -> None:
    admin_key = ed25519.Ed25519PrivateKey.generate()
    public, resource_key = write_keys(tmp_path, admin_key)
    home = tmp_path / "home"  # the runner's and the broker's: one simulated platform
    folder = image(
        tmp_path,
        'echo "password=$DB_PASSWORD"; cat /data/tls.key; echo; echo state > /data/state\n',
        extra='[[volumes]]\nmount = "/data"\nvolume = "state"\nkey = "kbs:default/volume-key/1"\n'
        '[[secrets]]\nresource = "default/db-password/1"\nenv = "DB_PASSWORD"\n'
        '[[secrets]]\nresource = "default/tls-key/1"\nfile = "/data/tls.key"\n',
    )
    measurement = build(folder).measurement.hex()
    with running_broker(f"sqlite:///{tmp_path / 'kbs.db'}", home, public, resource_key) as url:
        with KbsAdmin(url, admin_key) as admin:
            admin.set_resource("default", "db-password", "1", b"correct horse")
            admin.set_resource("default", "tls-key", "1", b"-----BEGIN PRIVATE KEY-----")
            admin.set_resource("default", "volume-key", "1", os.urandom(32))
            admin.set_policy(sim_policy(measurement))
            admin.set_reference_values(
                {"name": "t", "tee": ["sim"], "measurements": {"mrenclave": [measurement]}}
            )
        environment = {**os.environ, "TRUSTROOM_HOME": str(home)}
        assert run_cli(folder, env=environment).returncode == 1  # no --kbs: told to give one
        result = run_cli(folder, env={**environment, "TRUSTROOM_KBS_URL": url})
        assert result.stdout == "password=correct horse\n-----BEGIN PRIVATE KEY-----\n", (
            result.stderr
        )
        stored = b"".join(p.read_bytes() for p in (folder / "state").rglob("*") if p.is_file())
        assert b"BEGIN PRIVATE KEY" not in stored and b"correct horse" not in stored
        # A new build of changed code has another measurement: the broker refuses it.
        (folder / "main.sh").write_text('echo "password=$DB_PASSWORD"\n')
        build(folder).save()
        result = run_cli(folder, env={**environment, "TRUSTROOM_KBS_URL": url})
        assert result.returncode == 1 and "policy_denied" in result.stderr
        assert "password" not in result.stdout


GUEST_CLIENT = """\
import json, sys, urllib.error, urllib.request
API = "http://127.0.0.1:8006"
def get(path):
    try:
        with urllib.request.urlopen(API + path) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()
print(json.dumps({
    "info": json.loads(get("/info")[1]),
    "evidence": get("/aa/evidence?runtime_data=hello%20enclave")[1].hex(),
    "long": get("/aa/evidence?runtime_data=" + "x" * 65)[0],
    "resource": get("/cdh/resource/default/model-key/1")[1].decode(),
    "token": sorted(json.loads(get("/aa/token?token_type=kbs")[1])),
    "missing": get("/cdh/resource/default/nothing/1")[0],
}))
"""


def python_image(tmp_path: Path, script: str) -> Path:
    folder = tmp_path / "python-image"
    folder.mkdir()
    (folder / "main.py").write_text(script)
    trusted = list(dict.fromkeys(["/usr/bin/python3", *needed_files("/usr/bin/python3")]))
    listed = ", ".join(f'"{t}"' for t in [*trusted, "main.py"])
    (folder / "trustroom.toml").write_text(
        f'[enclave]\nentrypoint = ["python3", "main.py"]\n[files]\ntrusted = [{listed}]\n'
    )
    build(folder).save()
    return folder


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs Debian's python3")
def test_the_guest_api_answers_as_confidential_containers_does(tmp_path: Path) -> None:
    admin_key = ed25519.Ed25519PrivateKey.generate()
    public, resource_key = write_keys(tmp_path, admin_key)
    home = tmp_path / "home"
    folder = python_image(tmp_path, GUEST_CLIENT)
    measurement = build(folder).measurement.hex()
    with running_broker(f"sqlite:///{tmp_path / 'kbs.db'}", home, public, resource_key) as url:
        with KbsAdmin(url, admin_key) as admin:
            admin.set_resource("default", "model-key", "1", b"weights key")
            admin.set_policy(sim_policy(measurement))
            admin.set_reference_values(
                {"name": "t", "tee": ["sim"], "measurements": {"mrenclave": [measurement]}}
            )
        environment = {**os.environ, "TRUSTROOM_HOME": str(home), "TRUSTROOM_KBS_URL": url}
        result = run_cli(folder, env=environment)
    assert result.returncode == 0, result.stderr
    answers = json.loads(result.stdout)
    assert answers["info"]["tee"] == "sim"
    assert answers["long"] == 400 and answers["missing"] == 502
    assert answers["resource"] == "weights key"
    assert answers["token"] == ["tee_keypair", "token"]
    collateral = SimPlatform(home / "sim").collateral()
    verified = Verifier(trust_sim=True).verify(
        bytes.fromhex(answers["evidence"]), collateral=collateral
    )
    assert verified.verified, verified.errors
    assert verified.measurements["mrenclave"] == measurement
    assert bytes.fromhex(verified.report_data) == b"hello enclave".ljust(64, b"\0")


def test_the_quick_path_takes_only_the_plain_forms(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from trustroom.cli import _quick

    ran: list[tuple[Path, list[str], str | None]] = []
    monkeypatch.setattr(
        "trustroom.enclave._run.run",
        lambda d, a, kbs=None: ran.append((d, list(a), kbs)) or 0,  # type: ignore[func-returns-value]
    )
    monkeypatch.delenv("TRUSTROOM_KBS_URL", raising=False)
    for deferred in ([], ["--help"], ["d", "--runner", "gramine"], ["d", "stray"], ["d", "--kbs"]):
        assert _quick.enclave_run(deferred) is None, deferred
    assert _quick.enclave_run(["d", "--kbs=http://k", "--runner", "sim", "--", "-x", "y"]) == 0
    monkeypatch.setenv("TRUSTROOM_KBS_URL", "http://env")
    assert _quick.enclave_run(["d"]) == 0
    assert ran == [(Path("d"), ["-x", "y"], "http://k"), (Path("d"), [], "http://env")]
    # What the quick path leaves goes to the full command: its help, its errors.
    help_text = subprocess.run(
        [sys.executable, "-m", "trustroom", "enclave", "run", "--help"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert help_text.returncode == 0 and "--kbs" in help_text.stdout
    wrong = subprocess.run(
        [sys.executable, "-m", "trustroom", "enclave", "run", str(tmp_path), "--runner", "x"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert wrong.returncode == 2 and "unknown runner" in wrong.stderr


def test_a_changed_manifest_stops_the_start(tmp_path: Path) -> None:
    folder = image(tmp_path, "echo started\n")
    manifest = folder / "trustroom.toml"
    manifest.write_text(manifest.read_text() + "\n# a comment is a change too\n")
    with pytest.raises(ImageNotBuilt, match="manifest changed since the image was built"):
        run(folder)


@pytest.mark.skipif(
    Path("/sys/kernel/config/tsm/report").exists() or Path("/dev/tdx_guest").exists()
    or Path("/dev/sev-guest").exists(),
    reason="this machine is a confidential VM",
)  # fmt: skip
def test_the_cvm_runner_refuses_outside_a_confidential_vm(tmp_path: Path) -> None:
    folder = image(tmp_path, "echo started\n")
    command = [sys.executable, "-m", "trustroom", "enclave", "run", str(folder)]
    result = subprocess.run(
        [*command, "--runner", "cvm"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 1 and "tee_unavailable" in result.stderr
    assert "TDX or SEV-SNP" in result.stderr and "started" not in result.stdout


def test_the_program_has_no_capabilities_and_its_own_session(tmp_path: Path) -> None:
    folder = image(tmp_path, "cat /proc/self/status; cat /proc/self/stat\n")
    output = run_cli(folder).stdout
    effective = next(line for line in output.splitlines() if line.startswith("CapEff:"))
    assert effective.split()[1] == "0" * 16
    session = output.splitlines()[-1].rsplit(")", 1)[1].split()[3]
    assert session != "0"  # begun inside the sandbox: the terminal's session would read 0


SDK_CLIENT = """\
from trustroom import guest
print(guest.info()["tee"])
print(guest.evidence(bytes(range(64))).hex())
try:
    guest.resource("kbs:///default/key/1")
except guest.GuestApiError as error:
    print(error.code, error.details["status"])
try:
    guest.resource("not a resource")
except guest.GuestApiError as error:
    print(error.code, "refused before asking")
"""


@pytest.mark.skipif(not Path("/usr/bin/python3").exists(), reason="needs Debian's python3")
def test_the_python_sdk_inside_an_enclave(tmp_path: Path) -> None:
    import trustroom

    package = Path(trustroom.__file__).parent  # the program trusts this folder, nothing more
    folder = python_image(tmp_path, SDK_CLIENT)
    manifest = folder / "trustroom.toml"
    text = manifest.read_text().replace('"main.py"', f'"main.py", "{package}"')
    manifest.write_text(text + f'[env]\nset = {{ PYTHONPATH = "{package.parent}" }}\n')
    build(folder).save()
    home = tmp_path / "home"
    result = run_cli(folder, env={**os.environ, "TRUSTROOM_HOME": str(home)})
    assert result.returncode == 0, result.stderr
    tee, quote, no_broker, refused = result.stdout.splitlines()
    assert tee == "sim" and no_broker == "guest_api_error 502"
    assert refused == "guest_api_error refused before asking"
    verified = Verifier(trust_sim=True).verify(
        bytes.fromhex(quote), collateral=SimPlatform(home / "sim").collateral()
    )
    assert bytes.fromhex(verified.report_data) == bytes(range(64))
    assert verified.measurements["mrenclave"] == build(folder).measurement.hex()
