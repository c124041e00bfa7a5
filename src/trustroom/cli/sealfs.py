"""``trustroom sealfs``: sealed volumes (encrypted, integrity- and rollback-protected files)."""

from __future__ import annotations

import functools
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import typer
from rich.table import Table

from trustroom.cli._output import console, print_json
from trustroom.sealfs import DEFAULT_NODE_SIZE, SealfsError, Volume, VolumeKey

app = typer.Typer(
    help="Sealed volumes: files encrypted, integrity- and rollback-protected on an untrusted disk.",
    no_args_is_help=True,
    rich_markup_mode="markdown",
)

_CHUNK = 1 << 20


@app.callback()
def _sealfs() -> None:
    """Sealed volumes: files encrypted, integrity- and rollback-protected on an untrusted disk.

    A volume is a folder of ciphertext; only its key turns it back into files. Every commit
    raises its version: keep the last version you saw and pass it to `check
    --trusted-version` to detect an older copy of the whole volume.
    """


def _volume_argument() -> Any:
    return typer.Argument(..., help="The volume's folder.", file_okay=False)


def _key_option() -> Any:
    return typer.Option(
        ...,
        "--key-file",
        "-k",
        envvar="TRUSTROOM_SEALFS_KEY_FILE",
        dir_okay=False,
        help="File holding the volume key: 32 raw bytes or 64 hex digits, otherwise a "
        "passphrase (stretched with Argon2id).",
    )


@app.command()
def init(
    volume: Path = _volume_argument(),
    key_file: Path = _key_option(),
    node_size: int = typer.Option(
        DEFAULT_NODE_SIZE, "--node-size", help="Bytes per node: a power of two, 4096 to 1 MiB."
    ),
) -> None:
    """Create an empty volume in a new or empty folder."""
    with Volume.create(volume, VolumeKey.from_file(key_file), node_size=node_size) as created:
        console.print(f"created sealed volume {volume} (version {created.version})")


@app.command()
def put(
    volume: Path = _volume_argument(),
    source: Path = typer.Argument(..., help="File to seal ('-' reads standard input)."),
    path: str = typer.Argument(..., help="Its path inside the volume, e.g. /data/train.csv."),
    key_file: Path = _key_option(),
    parents: bool = typer.Option(True, help="Create missing parent directories."),
) -> None:
    """Seal a file into the volume (replacing what is at PATH)."""
    with Volume(volume, VolumeKey.from_file(key_file)) as opened:
        parent = path.rsplit("/", 1)[0]
        if parents and parent:
            opened.mkdir(parent, parents=True)
        with opened.open(path, "wb") as target:
            if str(source) == "-":
                shutil.copyfileobj(sys.stdin.buffer, target, _CHUNK)
            else:
                try:
                    with source.open("rb") as data:
                        shutil.copyfileobj(data, target, _CHUNK)
                except OSError as exc:
                    raise typer.BadParameter(f"cannot read {source}: {exc.strerror}") from exc
        console.print(f"sealed {path} ({opened.stat(path).size} bytes, version {opened.version})")


@app.command()
def get(
    volume: Path = _volume_argument(),
    path: str = typer.Argument(..., help="Path inside the volume."),
    out: Path = typer.Argument(..., help="Where to write the plaintext ('-' for standard output)."),
    key_file: Path = _key_option(),
) -> None:
    """Unseal a file from the volume, authenticating every byte."""
    with Volume(volume, VolumeKey.from_file(key_file)) as opened, opened.open(path) as sealed:
        if str(out) == "-":
            shutil.copyfileobj(sealed, sys.stdout.buffer, _CHUNK)
            sys.stdout.buffer.flush()
            return
        temporary = out.with_name(out.name + ".part")
        # Written aside and renamed: a file that fails authentication halfway leaves no
        # half-written plaintext behind under the expected name.
        with temporary.open("wb") as target:
            try:
                shutil.copyfileobj(sealed, target, _CHUNK)
            except SealfsError:
                temporary.unlink()
                raise
        temporary.replace(out)


@app.command("ls")
def list_command(
    volume: Path = _volume_argument(),
    path: str = typer.Argument("/", help="Directory (or file) inside the volume."),
    key_file: Path = _key_option(),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="List everything below."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """List a directory of the volume."""
    with Volume(volume, VolumeKey.from_file(key_file)) as opened:
        top = opened.stat(path)
        if not top.is_dir:
            infos = [top]
        elif recursive:
            prefix = top.path.rstrip("/") + "/"
            infos = [info for info in opened.walk() if info.path.startswith(prefix)]
        else:
            infos = [opened.stat(f"{top.path}/{name}") for name in opened.listdir(top.path)]
        if as_json:
            print_json([vars(info) for info in infos])
            return
        table = Table(box=None, show_header=True, header_style="bold")
        for column in ("mode", "size", "modified (UTC)", "path"):
            table.add_column(column, justify="right" if column == "size" else "left")
        for info in infos:
            kind = "d" if info.is_dir else "-"
            modified = datetime.fromtimestamp(info.mtime_ns / 1e9, UTC).strftime("%Y-%m-%d %H:%M")
            name = info.path + ("/" if info.is_dir else "")
            size = "" if info.is_dir else str(info.size)
            table.add_row(f"{kind}{info.mode:04o}", size, modified, name)
        console.print(table)


@app.command("rm")
def remove_command(
    volume: Path = _volume_argument(),
    paths: list[str] = typer.Argument(..., help="Paths inside the volume."),
    key_file: Path = _key_option(),
    recursive: bool = typer.Option(False, "--recursive", "-r", help="Remove directories too."),
) -> None:
    """Remove files (and with -r, directories and what they hold)."""
    with Volume(volume, VolumeKey.from_file(key_file)) as opened:
        for path in paths:
            info = opened.stat(path)
            if info.is_dir and not recursive:
                raise typer.BadParameter(f"{path} is a directory: pass --recursive")
            if info.is_dir:
                below = [i for i in opened.walk() if i.path.startswith(info.path + "/")]
                for item in sorted(below, key=lambda i: i.path, reverse=True):
                    (opened.rmdir if item.is_dir else opened.remove)(item.path)
                if info.path != "/":
                    opened.rmdir(info.path)
            else:
                opened.remove(path)


@app.command()
def check(
    volume: Path = _volume_argument(),
    key_file: Path = _key_option(),
    trusted_version: int | None = typer.Option(
        None,
        "--trusted-version",
        help="The newest version you have seen: an older volume is reported as rolled back.",
    ),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Authenticate every node of every file; exit 0 only if all is intact."""
    try:
        with Volume(volume, VolumeKey.from_file(key_file)) as opened:
            report = opened.check(trusted_version=trusted_version).to_dict()
    except SealfsError as exc:
        # The volume as a whole failed (damaged manifest, wrong key): still a report.
        error = {"code": exc.code, "path": exc.path or "/", "message": exc.message}
        report = {"ok": False, "version": None, "files": 0, "errors": [error], "hint": exc.hint}
    if as_json:
        print_json(report)
    else:
        state = "[green]intact[/]" if report["ok"] else "[bold red]damaged[/]"
        console.print(f"{volume}: {state}, version {report['version']}, {report['files']} files")
        for error in report["errors"]:
            console.print(f"  [bold red]{error['code']}[/] {error['path']}: {error['message']}")
        if "hint" in report:
            console.print(f"  [yellow]hint[/]: {report['hint']}")
    if not report["ok"]:
        raise typer.Exit(1)


def _mount_module() -> Any:
    try:
        from trustroom.sealfs import _mount
    except ImportError as exc:
        raise typer.BadParameter(
            f"mounting needs pyfuse3 ({exc}): pip install 'trustroom[fuse]' "
            "(with Debian's fuse3 and libfuse3-dev)"
        ) from exc
    return _mount


@app.command()
def mount(
    volume: Path = _volume_argument(),
    mountpoint: Path = typer.Argument(
        ..., exists=True, file_okay=False, help="An empty folder to show the files in."
    ),
    key_file: Path = _key_option(),
    background: bool = typer.Option(
        False, "--background", help="Return once mounted; the mount runs on in the background."
    ),
    trusted_version: int | None = typer.Option(
        None, "--trusted-version", help="Refuse to mount a volume older than this version."
    ),
) -> None:
    """Mount the volume with FUSE: programs use plaintext files, the disk sees ciphertext.

    Closing a file commits it; fsync makes it durable. Stop with Ctrl-C, SIGTERM or
    `trustroom sealfs umount MOUNTPOINT`.
    """
    mounting = _mount_module()
    key = VolumeKey.from_file(key_file)
    if background:
        mounting.mount_in_background(
            lambda: Volume(volume, key, trusted_version=trusted_version), mountpoint
        )
        console.print(f"mounted {volume} on {mountpoint} in the background")
        return
    opened = Volume(volume, key, trusted_version=trusted_version)
    announce = functools.partial(
        console.print, f"mounted {volume} on {mountpoint} (Ctrl-C unmounts)"
    )
    mounting.serve(opened, mountpoint, ready=announce)


@app.command()
def umount(
    mountpoint: Path = typer.Argument(..., help="Where a volume is mounted."),
    wait: float = typer.Option(30.0, help="Seconds to wait for the last commit."),
) -> None:
    """Unmount a mounted volume, after its last commit."""
    mounting = _mount_module()
    volume = mounting.mounted_volume_of(mountpoint)
    if volume is None:
        raise typer.BadParameter(f"no sealed volume is mounted on {mountpoint}")
    mounting.unmount(mountpoint, volume, timeout=wait)
    console.print(f"unmounted {volume} from {mountpoint}")
