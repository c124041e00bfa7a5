"""An unmodified program that uses multiprocessing and subprocess: both work in the enclave,
and every process sees the secret the key broker released for this image."""

import multiprocessing
import os
import subprocess


def work(n: int) -> int:
    return n * n + len(os.environ["MODEL_KEY"])


if __name__ == "__main__":
    with multiprocessing.Pool(3) as pool:
        print("squares:", pool.map(work, range(5)))
    child = subprocess.run(
        ["sh", "-c", 'echo "child sees a key of ${#MODEL_KEY} bytes"'],
        capture_output=True,
        text=True,
        check=True,
    )
    print(child.stdout.strip())
