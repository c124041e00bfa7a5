"""``trustroom enclave``: describe, measure and sign an unmodified program for a TEE."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from trustroom.cli._notes import SIM_NOTE
from trustroom.cli._output import console, err_console, print_json
from trustroom.enclave import (
    MANIFEST_NAME,
    EnclaveError,
    Image,
    ImageNotBuilt,
    ImageSignature,
    build,
    default_key_path,
    load_image,
    load_signature,
    sign,
    signing_key,
    verified_image,
)
from trustroom.enclave._discover import needed_files
from trustroom.enclave._image import SEARCH_PATH
from trustroom.enclave._run import run

app = typer.Typer(
    help="Enclave images: an unmodified program, measured and signed, run in a TEE.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)


@app.callback()
def _enclave() -> None:
    """Enclave images: an unmodified program, measured and signed, run in a TEE.

    A folder holds `trustroom.toml` (what runs, which files it sees, what it gets at start)
    and the program's own files. `build` hashes every trusted file into the image's
    measurement; `sign` adds who vouches for it; `inspect` prints what a relying party needs
    to accept it.
    """


def _directory_argument() -> Any:
    return typer.Argument(..., help="The image's folder (holding trustroom.toml).", file_okay=False)


def _toml_string(text: str) -> str:
    return json.dumps(text)  # a JSON string is a valid TOML basic string


@app.command()
def new(
    directory: Path = _directory_argument(),
    entrypoint: str = typer.Option(
        ..., "--entrypoint", "-e", help='The command to run, e.g. "python3 app.py".'
    ),
    trusted: list[str] = typer.Option(
        [], "--trusted", "-t", help="A file or folder to measure (repeat the option)."
    ),
    name: str | None = typer.Option(
        None, "--name", help="The image's name (default: the folder's)."
    ),
    force: bool = typer.Option(False, "--force", help="Replace an existing trustroom.toml."),
) -> None:
    """Write a starting trustroom.toml: the command, the program found on this host and the
    files given, all trusted."""
    target = directory / MANIFEST_NAME
    if target.exists() and not force:
        raise EnclaveError(f"{target} exists", hint="Edit it, or pass --force to replace it.")
    arguments = entrypoint.split()
    if not arguments:
        raise typer.BadParameter("the entrypoint names no program", param_hint="--entrypoint")
    files = list(trusted)
    program = arguments[0]
    if "/" not in program:
        found = shutil.which(program, path=SEARCH_PATH)
        if found is None:
            raise EnclaveError(
                f"{program} is not in {SEARCH_PATH} on this host",
                hint="Give the program's path, or install it; its file must be trusted.",
            )
        files = list(dict.fromkeys([found, *needed_files(found), *files]))
    elif not program.startswith("/") and program.removeprefix("./") not in files:
        files.insert(0, program.removeprefix("./"))
    directory.mkdir(parents=True, exist_ok=True)
    listed = "".join(f"  {_toml_string(f)},\n" for f in files)
    target.write_text(
        "# An enclave image: docs/enclave.md lists every key.\n"
        "[enclave]\n"
        f"name = {_toml_string(name or directory.resolve().name)}\n"
        f"entrypoint = {json.dumps(arguments)}\n"
        "product_id = 0\n"
        "security_version = 0\n"
        "debug = false\n\n"
        "[files]\n"
        "# Hashed into the measurement; the program sees them read-only. A program also\n"
        "# needs its shared libraries (see `ldd PROGRAM`) or its interpreter's library.\n"
        f"trusted = [\n{listed}]\n"
        "# Read from the host as they are, NOT measured: keep this short.\n"
        "allowed = []\n\n"
        "[env]\n"
        f"set = {{ PATH = {_toml_string(SEARCH_PATH)} }}\n"
        "passthrough = []\n\n"
        "[network]\n"
        'mode = "none"\n'
    )
    console.print(f"wrote {target}; next: `trustroom enclave build {directory}`")


def _summary(image: Image) -> dict[str, Any]:
    measured = image.measured
    outputs = {"outputs": measured["outputs"]} if "outputs" in measured else {}
    return {
        "name": measured["name"],
        "measurement": image.measurement.hex(),
        "program": measured["program"],
        "entrypoint": measured["entrypoint"],
        "trusted_files": len(measured["trusted"]),
        "allowed": measured["allowed"],
        "volumes": measured["volumes"],
        "secrets": measured["secrets"],
        "network": measured["network"],
        "limits": measured["limits"],
        "debug": measured["debug"],
        **outputs,
    }


def _print_allowed(allowed: list[str]) -> None:
    if allowed:
        console.print(
            f"[bold yellow]{len(allowed)} allowed path(s), read from the host unmeasured:[/]"
        )
        for path in allowed:
            console.print(f"  [yellow]{path}[/]")


@app.command("build")
def build_command(
    directory: Path = _directory_argument(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Hash every trusted file and compute the measurement; write build/image.json."""
    image = build(directory)
    path = image.save()
    if as_json:
        print_json({**_summary(image), "image": str(path)})
        return
    console.print(f"built {image.measured['name']}: {len(image.trusted)} trusted files")
    _print_allowed(image.measured["allowed"])
    console.print(f"measurement [bold]{image.measurement.hex()}[/]")


@app.command("sign")
def sign_command(
    directory: Path = _directory_argument(),
    key: Path | None = typer.Option(
        None,
        "--key",
        "-k",
        dir_okay=False,
        help="Ed25519 private key (PEM). Default: the signing key in $TRUSTROOM_HOME, "
        "created on first use.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Sign the built image with its product id and security version; write
    build/signature.json."""
    image = verified_image(directory)
    private, created = signing_key(key)
    if created:
        err_console.print(
            f"created a new signing key, {default_key_path()}: keep it safe", style="yellow"
        )
    signature = sign(image, private)
    if as_json:
        print_json(signature.to_dict())
        return
    console.print(
        f"signed {image.measured['name']}: mrsigner [bold]{signature.mrsigner.hex()}[/], "
        f"product {signature.product_id}, security version {signature.security_version}"
    )


@app.command()
def measure(
    directory: Path = _directory_argument(),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Compute the measurement from the folder as it is now, without writing anything, and
    compare it with the built image (exit 1 if they differ)."""
    fresh = build(directory)
    try:
        built: bytes | None = load_image(directory).measurement
    except ImageNotBuilt:
        built = None
    same = built is None or built == fresh.measurement
    if as_json:
        print_json(
            {
                "measurement": fresh.measurement.hex(),
                "built": built.hex() if built is not None else None,
                "matches_build": same if built is not None else None,
            }
        )
    else:
        console.print(fresh.measurement.hex())
        if built is not None and not same:
            console.print(f"[bold red]differs from the built image[/] ({built.hex()})")
    if not same:
        raise typer.Exit(1)


@app.command()
def inspect(
    directory: Path = _directory_argument(),
    tee: list[str] = typer.Option(
        ["sim"], "--tee", help="TEE types the reference values allow (repeat the option)."
    ),
    pin: str = typer.Option(
        "measurement",
        "--pin",
        help="Reference values pinning `measurement` (this image) or `signer` (its signer's "
        "images from this security version up).",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Print what a relying party needs: measurement, signer, product, security version, and
    reference values for `trustroom kbs` / `trustroom attestation`."""
    image = load_image(directory)
    signature: ImageSignature | None
    try:
        signature = load_signature(directory)
        signature.verify(image)
    except ImageNotBuilt:
        signature = None
    summary = _summary(image)
    if signature is not None:
        summary["signature"] = signature.to_dict()
        summary["reference_values"] = signature.reference_values(
            image.measured["name"], tee=tee, pin=pin
        )
    if as_json:
        print_json(summary)
        return
    table = Table(show_header=False, box=None)
    table.add_column(style="bold")
    table.add_column(overflow="fold")
    table.add_row("name", summary["name"])
    table.add_row("measurement", summary["measurement"])
    if signature is None:
        table.add_row("signed", "[yellow]no[/] (`trustroom enclave sign`)")
    else:
        table.add_row("mrsigner", signature.mrsigner.hex())
        table.add_row("product id", str(signature.product_id))
        table.add_row("security version", str(signature.security_version))
    table.add_row("debug", "[bold red]yes[/]" if summary["debug"] else "no")
    table.add_row("program", f"{summary['program']}  ({' '.join(summary['entrypoint'])})")
    table.add_row("trusted files", str(summary["trusted_files"]))
    table.add_row("network", summary["network"])
    for volume in summary["volumes"]:
        table.add_row("sealed volume", f"{volume['mount']}  (key: {volume['key']})")
    for secret in summary["secrets"]:
        table.add_row("secret", f"{secret['resource']} -> {secret.get('env') or secret['file']}")
    if "outputs" in summary:
        outputs = summary["outputs"]
        table.add_row("outputs", f"{outputs['folder']}  (recipients: {outputs['recipients']})")
    console.print(table)
    _print_allowed(summary["allowed"])
    if signature is not None:
        console.print("reference values:")
        print_json(summary["reference_values"])


@app.command("run")
def run_command(
    directory: Path = _directory_argument(),
    arguments: list[str] | None = typer.Argument(
        None, help="Arguments added to the entrypoint's (put them after --)."
    ),
    runner: str = typer.Option(
        "sim",
        "--runner",
        help="Where it runs: `sim` (a sandbox under the simulated TEE), `cvm` (the same "
        "sandbox in a TDX or SEV-SNP confidential VM, with its evidence), `gramine` or "
        "`occlum` (SGX: writes their configuration, and runs it where they are installed).",
    ),
    kbs: str | None = typer.Option(
        None,
        "--kbs",
        envvar="TRUSTROOM_KBS_URL",
        help="The key broker holding the image's secrets and volume keys.",
    ),
    outputs: Path | None = typer.Option(
        None,
        "--outputs",
        file_okay=False,
        help="Where the results of an image with [outputs] go: one envelope per output and "
        "recipient, sealed to that recipient's key, and outputs.json with their digests "
        "(created if missing).",
    ),
) -> None:
    """Run the built image: its program's output and exit status pass through.

    The folder is checked against the build first: a changed trusted file stops the start.
    An image with [outputs] releases its results only sealed to the recipients it names, and
    only when its program exits with status 0. Under `sim` nothing protects the program from
    this host; the evidence says so.
    """
    if runner in ("gramine", "occlum"):
        from trustroom.enclave._gramine import run_with_gramine
        from trustroom.enclave._occlum import run_with_occlum

        if outputs is not None:
            raise typer.BadParameter(
                f"sealed outputs are not yet generated for {runner}", param_hint="--outputs"
            )
        runs = {"gramine": run_with_gramine, "occlum": run_with_occlum}
        raise typer.Exit(runs[runner](verified_image(directory), arguments or []))
    if runner not in ("sim", "cvm"):
        raise typer.BadParameter(
            f"unknown runner {runner!r}; available: sim, cvm, gramine, occlum",
            param_hint="--runner",
        )
    if runner == "sim":
        err_console.print(f"[yellow]trustroom enclave run: {SIM_NOTE}[/]")
    raise typer.Exit(run(directory, arguments or [], kbs=kbs, tee=runner, outputs=outputs))
