"""A bank and a retailer train a credit-risk model on their joined customers, and neither
sees the other's data; an algorithm provider supplies the training code and receives the
model; every step is logged, and every claim is checked. Run it with ``make demo``.

Every component is a real process on this machine's loopback interface, as it would be on
separate hosts: the ledger, the key broker, the coordinator, the TEE worker and, for the MPC
job, each owner's party and the dealer. The parties act through the ``trustroom`` command
line, as their operators would; each command is printed before it runs.

The job runs twice: in an enclave (trustroom's simulated TEE, since this machine has no TEE
hardware: it protects nothing, and says so) that gets the owners' data keys from the key
broker only because its measurement is the one they approved; and by secure multi-party
computation between the owners, after a private set intersection lines up the customers
they share. The demo then shows that the two models agree with each other and with
plaintext training, that a program one byte different gets no key, and that every receipt
verifies offline with the ledger's public key alone while a forged one does not.

It exits 0 only if every claim it prints holds.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from rich.console import Console
from rich.table import Table

from trustroom.cleanroom._client import CoordinatorClient

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE / "cleanroom"))

import data  # noqa: E402  (the example's own modules, beside this file)
import model  # noqa: E402

MEMBERS = ("bank", "retailer", "algo", "operator")
DATASETS = (("bank-customers", "bank"), ("retail-customers", "retailer"))
console = Console(highlight=False)
claims: list[tuple[str, bool]] = []


def step(title: str) -> None:
    console.rule(f"[bold]{title}")


def claim(text: str, holds: bool) -> None:
    claims.append((text, holds))
    console.print(("[green]✔[/] " if holds else "[bold red]✘[/] ") + text)


def trustroom(*args: str, who: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run a ``trustroom`` command as ``who`` would, showing it; its output."""
    console.print(f"[dim]{who}$ trustroom {shlex.join(args)}[/]")
    done = subprocess.run(
        [sys.executable, "-m", "trustroom", *args], capture_output=True, text=True, timeout=600
    )
    if check and done.returncode != 0:
        raise SystemExit(f"trustroom {shlex.join(args[:2])} failed:\n{done.stdout}{done.stderr}")
    return done


@contextmanager
def process(name: str, *args: str, log: Path, url: str | None = None) -> Iterator[None]:
    """A long-running ``trustroom`` process (a server: once ``url`` answers) until the end."""
    console.print(f"[dim]operator$ trustroom {shlex.join(args)} &[/]")
    with open(log, "w") as output:
        started = subprocess.Popen(
            [sys.executable, "-m", "trustroom", *args], stdout=output, stderr=subprocess.STDOUT
        )
    try:
        while url is not None:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).is_success:
                    break
            except httpx.TransportError:
                if started.poll() is not None:
                    raise SystemExit(f"{name} stopped:\n{log.read_text()}") from None
                time.sleep(0.1)
        console.print(f"{name} running" + (f" on {url}" if url else ""))
        yield
    finally:
        started.terminate()
        started.wait(timeout=10)


def local_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def port(url: str) -> str:
    return url.rsplit(":", 1)[1]


class Demo:
    """The story's steps, in one working folder that stands for every party's machine."""

    def __init__(self, root: Path, services: ExitStack) -> None:
        self.root, self.services = root, services
        self.ledger, self.kbs, self.coordinator = local_url(), local_url(), local_url()

    def consortium(self) -> None:
        step("1. The consortium: four members, one key each")
        for member in MEMBERS:
            (self.root / member).mkdir()
            trustroom("ledger", "member-key", "--name", member,
                      "--out", f"{member}/{member}.key", who=member)  # fmt: skip
        admin = ed25519.Ed25519PrivateKey.generate()
        pem, raw = serialization.Encoding.PEM, serialization.NoEncryption()
        private = admin.private_bytes(pem, serialization.PrivateFormat.PKCS8, raw)
        public = admin.public_key().public_bytes(
            pem, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (self.root / "operator/kbs-admin.pem").write_bytes(private)
        (self.root / "operator/kbs-admin.pub").write_bytes(public)
        (self.root / "operator/resource.key").write_text(os.urandom(32).hex())

    def start_services(self) -> None:
        step("2. The operator starts the ledger, the key broker and the coordinator")
        db = f"sqlite:///{self.root / 'operator/ledger.db'}"
        trustroom("ledger", "init", "--db", db, "--origin", "demo.trustroom/ledger",
                  who="operator")  # fmt: skip
        founders = [a for m in MEMBERS for a in ("--key", f"{m}/{m}.key")]
        trustroom("ledger", "found", "--db", db, "--threshold", "3", *founders, who="founders")
        trustroom("ledger", "public-key", "--db", db, "--out", "log.pub", who="operator")
        enter = self.services.enter_context
        enter(process("ledger", "ledger", "serve", "--db", db, "--port", port(self.ledger),
                      log=self.root / "operator/ledger.log", url=self.ledger))  # fmt: skip
        enter(process("key broker", "kbs", "serve",
                      "--db", f"sqlite:///{self.root / 'operator/kbs.db'}",
                      "--port", port(self.kbs), "--admin-key", "operator/kbs-admin.pub",
                      "--resource-key", "operator/resource.key", "--trust-sim",
                      log=self.root / "operator/kbs.log", url=self.kbs))  # fmt: skip
        enter(process("coordinator", "cleanroom", "coordinator", "--key", "operator/operator.key",
                      "--ledger", self.ledger, "--kbs", self.kbs,
                      "--kbs-admin-key", "operator/kbs-admin.pem", "--allow-sim",
                      "--db", f"sqlite:///{self.root / 'operator/coordinator.db'}",
                      "--port", port(self.coordinator), url=self.coordinator,
                      log=self.root / "operator/coordinator.log"))  # fmt: skip
        os.environ["TRUSTROOM_COORDINATOR"] = self.coordinator
        os.environ["TRUSTROOM_LEDGER_URL"] = self.ledger
        console.print(
            "[bold yellow]SIMULATED TEE[/]: this machine has no TEE hardware; the broker trusts "
            "the simulated TEE only because it was started with --trust-sim (it protects "
            "nothing)."
        )

    def datasets(self) -> dict[str, dict[str, Any]]:
        step("3. The owners seal their customers and register them")
        tables = dict(zip(("bank", "retailer"), data.customers(), strict=True))
        registered = {}
        for name, owner in DATASETS:
            (self.root / owner / "customers.csv").write_text(tables[owner])
            done = trustroom(
                "cleanroom", "dataset", f"{owner}/customers.csv", "--name", name,
                "--volume", f"{owner}/sealed", "--key", f"{owner}/{owner}.key",
                "--kbs", self.kbs, "--kbs-admin-key", "operator/kbs-admin.pem", "--json",
                who=owner,
            )  # fmt: skip
            registered[name] = json.loads(done.stdout)
            console.print(
                f"  {name}: {registered[name]['rows']} customers, sealed; its key is in the "
                "broker, the plaintext on the owner's disk only"
            )
        sealed = self.root / "bank/sealed"
        stored = b"".join(p.read_bytes() for p in sealed.rglob("*") if p.is_file())
        first = tables["bank"].splitlines()[1].split(",")[0].encode()
        claim("the sealed volume that travels holds no customer in the clear",
              first not in stored and b"customer_id" not in stored)  # fmt: skip
        return registered

    def tee_job(self, registered: dict[str, dict[str, Any]]) -> str:
        step("4. The provider packages its training program for an enclave and submits the job")
        program = self.root / "algo/tee"
        program.mkdir()
        for file in ("train_tee.py", "model.py"):
            shutil.copy(HERE / "cleanroom" / file, program / file)
        measurement = trustroom(
            "cleanroom", "program", str(program), "--job", "churn-risk-tee",
            "--command", "python3 train_tee.py", "--trusted", "train_tee.py",
            "--trusted", "model.py", "--input", "bank-customers:bank",
            "--input", "retail-customers:retailer", "--output", "model.json:algo,bank",
            who="algo",
        ).stdout.strip()  # fmt: skip
        console.print(f"  its measurement: {measurement}")
        spec = (
            f'name = "churn-risk-tee"\nmode = "tee"\n\n[program]\nprovider = "algo"\n'
            f'measurement = "{measurement}"\n{inputs(registered)}\n'
            '[[outputs]]\nname = "model.json"\nrecipients = ["algo", "bank"]\n'
        )
        return self.submit_and_approve("tee", spec, program)

    def submit_and_approve(self, mode: str, spec: str, program: Path) -> str:
        (self.root / f"algo/{mode}.toml").write_text(spec)
        job = trustroom("cleanroom", "job", "submit", f"algo/{mode}.toml", "--program",
                        str(program), "--key", "algo/algo.key", who="algo")  # fmt: skip
        console.print(f"  job {job.stdout.strip()}")
        for owner in ("bank", "retailer"):
            shutil.copy(self.root / f"algo/{mode}.toml", self.root / owner / f"{mode}.toml")
            state = trustroom("cleanroom", "approve", f"{owner}/{mode}.toml",
                              "--key", f"{owner}/{owner}.key", who=owner)  # fmt: skip
            console.print(
                f"  {owner} read the spec and approved it: the job is now {state.stdout.strip()}"
            )
        return job.stdout.strip()

    def tampered(self) -> None:
        step("5. A program one byte different asks the broker for the bank's key")
        tampered = self.root / "mallory"
        shutil.copytree(self.root / "algo/tee", tampered)
        script = tampered / "train_tee.py"
        script.write_text(script.read_text() + "\n")
        trustroom("enclave", "build", str(tampered), who="mallory")
        for name, owner in DATASETS:
            shutil.copytree(self.root / owner / "sealed", tampered / "inputs" / name)
        refused = trustroom("enclave", "run", str(tampered), "--kbs", self.kbs,
                            "--outputs", "mallory/stolen", who="mallory", check=False)  # fmt: skip
        said = " ".join(refused.stderr.split())  # as one line, however it was wrapped
        console.print(f"  {said[said.find('policy_denied') :].partition(' hint:')[0]}")
        claim("the broker refuses it, saying its measurement is not the one the bank approved",
              refused.returncode != 0 and "is not one the owner of "
              "bank/dataset-key/bank-customers approved" in said)  # fmt: skip
        stolen = self.root / "mallory/stolen"
        claim("nothing came out of the refused run",
              not stolen.exists() or not any(stolen.iterdir()))  # fmt: skip

    def run_tee(self, job: str) -> dict[str, Any]:
        step("6. The worker runs the approved program in the (simulated) enclave")
        self.services.enter_context(process(
            "TEE worker", "cleanroom", "worker", "--kbs", self.kbs, "--workdir", "operator/work",
            log=self.root / "operator/worker.log"))  # fmt: skip
        wait(job)
        answer = trustroom("cleanroom", "result", job, "--key", "algo/algo.key", "--log-key",
                           "log.pub", "--out", "algo/tee-result", "--json", who="algo")  # fmt: skip
        trained = json.loads((self.root / "algo/tee-result/model.json").read_text())
        console.print(
            f"  model.json: accuracy {trained['accuracy']:.3f}, AUC {trained['auc']:.3f} on "
            f"{trained['test_rows']} held-back customers"
        )
        opened = json.loads(answer.stdout)
        claim("the provider opened its output, and its receipt verified offline",
              opened["receipt"] == "valid")  # fmt: skip
        claim("the receipt says the enclave was the simulated TEE", opened["simulated"] is True)
        trustroom("cleanroom", "result", job, "--key", "retailer/retailer.key",
                  "--log-key", "log.pub", "--out", "retailer/tee-result", who="retailer",
                  check=False)  # fmt: skip
        claim("the retailer, not a recipient, gets no output",
              not (self.root / "retailer/tee-result/model.json").exists())  # fmt: skip
        return dict(trained)

    def mpc_job(self, registered: dict[str, dict[str, Any]]) -> dict[str, Any]:
        step("7. The same model by MPC between the owners, after a private set intersection")
        program = self.root / "algo/mpc"
        program.mkdir()
        shutil.copy(HERE / "cleanroom/train_mpc.py", program / "main.py")
        shutil.copy(HERE / "cleanroom/model.py", program / "model.py")
        digest = trustroom("cleanroom", "program", str(program), "--mpc", who="algo")
        outputs = "".join(
            f'[[outputs]]\nname = "{o}"\nrecipients = ["algo"]\n\n'
            for o in ("model", "test_scores", "test_labels")
        )
        spec = (
            f'name = "churn-risk-mpc"\nmode = "mpc"\njoin = "customer_id"\n\n[program]\n'
            f'provider = "algo"\nscript = "{digest.stdout.strip()}"\n'
            f"{inputs(registered)}\n{outputs}"
        )
        job = self.submit_and_approve("mpc", spec, program)
        started = time.monotonic()
        parties = []
        for rank, who in enumerate(("bank", "retailer", "operator")):
            args = ["cleanroom", "run", job, "--rank", str(rank)]
            args += ["--table", f"{who}/customers.csv"] if rank < 2 else []
            console.print(f"[dim]{who}$ trustroom {shlex.join(args)} &[/]")
            parties.append(subprocess.Popen(
                [sys.executable, "-m", "trustroom", *args],
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            ))  # fmt: skip
        for party in parties:
            output, _ = party.communicate(timeout=600)
            if party.returncode != 0:
                raise SystemExit(f"an MPC party failed:\n{output}")
        wait(job)
        console.print(
            f"  the bank, the retailer and the dealer (the operator) over TLS: "
            f"{time.monotonic() - started:.0f} s, PSI included"
        )
        trustroom("cleanroom", "result", job, "--key", "algo/algo.key", "--log-key",
                  "log.pub", "--out", "algo/mpc-result", who="algo")  # fmt: skip
        out = self.root / "algo/mpc-result"
        weights = json.loads((out / "model.json").read_text())
        labels = json.loads((out / "test_labels.json").read_text())
        scores = json.loads((out / "test_scores.json").read_text())
        found = {
            "weights": weights[:-1],
            "bias": weights[-1],
            "accuracy": model.accuracy(labels, scores),
            "auc": model.auc(labels, scores),
        }
        console.print(f"  the provider adds the shares: accuracy {found['accuracy']:.3f}, "
                      f"AUC {found['auc']:.3f}")  # fmt: skip
        return found

    def compare(self, tee: dict[str, Any], mpc: dict[str, Any]) -> None:
        step("8. Do they agree? (plaintext training is the demo's oracle: no party holds both)")
        tables = [
            by_id((self.root / o / "customers.csv").read_text()) for o in ("bank", "retailer")
        ]
        plain = model.train(*tables)
        table = Table("", "TEE (simulated)", "MPC", "plaintext")
        for key, shown in (("accuracy", "{:.4f}"), ("auc", "{:.4f}"), ("bias", "{:+.4f}")):
            table.add_row(key, *(shown.format(m[key]) for m in (tee, mpc, plain)))
        console.print(table)
        gap = largest_difference(tee["weights"], mpc["weights"])
        claim(f"the TEE and MPC models agree (weights within {gap:.1e})", gap < 2e-2)
        exact = largest_difference(tee["weights"], plain["weights"])
        claim(f"the TEE model is the plaintext model (weights within {exact:.1e})", exact < 1e-9)
        metrics = [abs(tee[k] - m[k]) for m in (mpc, plain) for k in ("accuracy", "auc")]
        claim("their accuracy and AUC agree within 0.01", max(metrics) < 0.01)

    def receipts(self) -> None:
        step("9. Every receipt verifies offline with the ledger's key alone; a forged one does not")
        for folder in ("tee-result", "mpc-result"):
            (receipt,) = (self.root / "algo" / folder).glob("*.tlog-proof")
            valid = trustroom("ledger", "verify-receipt", str(receipt), "--log-key", "log.pub",
                              who="anyone", check=False)  # fmt: skip
            claim(f"the receipt of {receipt.stem}'s result is valid", valid.returncode == 0)
            forged = self.root / "forged.tlog-proof"
            forged.write_text(receipt.read_text().replace("index ", "index 1", 1))
            refused = trustroom("ledger", "verify-receipt", str(forged), "--log-key", "log.pub",
                                who="anyone", check=False)  # fmt: skip
            claim("a forged copy (another index) is refused", refused.returncode != 0)


def inputs(registered: dict[str, dict[str, Any]]) -> str:
    return "".join(
        f'\n[[inputs]]\ndataset = "{name}"\nowner = "{owner}"\n'
        f'digest = "{registered[name]["digest"]}"\n'
        for name, owner in DATASETS
    )


def wait(job: str) -> None:
    with CoordinatorClient(os.environ["TRUSTROOM_COORDINATOR"]) as client:
        client.wait(job, ("done",), timeout=600)


def by_id(table: str) -> dict[str, dict[str, str]]:
    return {row["customer_id"]: row for row in csv.DictReader(io.StringIO(table))}


def largest_difference(a: list[float], b: list[float]) -> float:
    return max(abs(x - y) for x, y in zip(a, b, strict=True))


def main() -> int:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="trustroom-demo-") as tmp, ExitStack() as services:
        root = Path(tmp)
        os.environ["TRUSTROOM_HOME"] = str(root / "home")  # this host's simulated TEE
        os.chdir(root)
        demo = Demo(root, services)
        demo.consortium()
        demo.start_services()
        registered = demo.datasets()
        tee_job = demo.tee_job(registered)
        demo.tampered()  # while the job's grant stands, before the worker runs it
        tee = demo.run_tee(tee_job)
        mpc = demo.mpc_job(registered)
        demo.compare(tee, mpc)
        demo.receipts()
    failed = [text for text, holds in claims if not holds]
    console.rule()
    summary = f"{len(claims) - len(failed)} of {len(claims)} claims hold"
    console.print(f"[bold {'red' if failed else 'green'}]{summary}[/] "
                  f"({time.monotonic() - started:.0f} s)")  # fmt: skip
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
