"""Start-to-exit time of a hello-world under ``trustroom enclave run`` (sim), side by side with
the same program run natively, and where the difference goes.

The image is a shell script run by ``/usr/bin/sh`` with its loader and libc trusted, no
volumes, no secrets: what every start pays. Runs are interleaved (native, enclave, and each
part alone) so that machine noise hits all alike; medians in milliseconds. The parts:

- ``python``: the interpreter starting and exiting (``python -c pass``);
- ``imports``: loading the runner's modules (``python -c "import trustroom.enclave._run"``,
  minus the interpreter);
- ``check``: rebuilding the image from the folder and comparing it with the build, in process;
- ``sandbox``: bubblewrap starting the program in its namespaces, run directly with the
  runner's own command line (minus the native run).

The package's bytecode is compiled first, as installing it from a wheel does: where
``PYTHONDONTWRITEBYTECODE`` is set and nothing compiled it, every start would compile the
runner's modules from source again (about 30 ms more).

Run: ``.venv/bin/python benchmarks/enclave_startup.py [--runs 30]``.
"""

from __future__ import annotations

import argparse
import compileall
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import trustroom
from trustroom.enclave import build, verified_image
from trustroom.enclave._discover import needed_files
from trustroom.enclave._sandbox import sandbox_command, sandbox_environment

SH = "/usr/bin/sh"


def make_image(folder: Path) -> Path:
    (folder / "hello.sh").write_text('echo "hello, world"\n')
    trusted = [SH, *needed_files(SH), "hello.sh"]
    listed = ", ".join(f'"{t}"' for t in trusted)
    (folder / "trustroom.toml").write_text(
        f'[enclave]\nentrypoint = ["sh", "hello.sh"]\n[files]\ntrusted = [{listed}]\n'
    )
    build(folder).save()
    return folder


def timed(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    action()
    return (time.perf_counter() - start) * 1000


def quiet(command: list[str], **kwargs: object) -> Callable[[], object]:
    silent = subprocess.DEVNULL
    return lambda: subprocess.run(command, stdout=silent, stderr=silent, check=True, **kwargs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    compileall.compile_dir(Path(trustroom.__file__).parent, quiet=1)
    folder = make_image(Path(tempfile.mkdtemp(prefix="enclave-startup-")))
    image = verified_image(folder)
    reader, writer = os.pipe()
    bwrap = sandbox_command(image, [], volumes={}, info_fd=writer, block_fd=reader)
    # Run directly, bwrap gets no reader of its info and nothing to unblock it: drop both.
    bwrap = [a for a in bwrap if a not in ("--info-fd", "--block-fd", str(writer), str(reader))]
    environment = sandbox_environment(image, os.environ)
    python = [sys.executable]
    command = str(Path(sys.executable).with_name("trustroom"))  # the command users run
    cases: dict[str, Callable[[], object]] = {
        "native": quiet([SH, "hello.sh"], cwd=folder),
        "enclave": quiet([command, "enclave", "run", str(folder)]),
        "python": quiet([*python, "-c", "pass"]),
        "python + imports": quiet([*python, "-c", "import trustroom.enclave._run"]),
        "check": lambda: verified_image(folder),
        "bwrap + program": quiet(bwrap, env=environment),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(args.runs):
        for name, case in cases.items():
            times[name].append(timed(case))
    median = {name: statistics.median(values) for name, values in times.items()}
    print(f"hello-world start to exit, {args.runs} runs, medians in ms:")
    for name, value in median.items():
        print(f"  {name:18} {value:7.1f}")
    overhead = median["enclave"] - median["native"]
    print(f"overhead: {overhead:.1f} ms ({median['enclave'] / median['native']:.1f}x native)")
    print("where it goes:")
    print(f"  interpreter      {median['python']:7.1f}")
    print(f"  imports          {median['python + imports'] - median['python']:7.1f}")
    print(f"  check            {median['check']:7.1f}")
    print(f"  sandbox          {median['bwrap + program'] - median['native']:7.1f}")


if __name__ == "__main__":
    main()
