"""Keeps a counter and a log in /data, a sealed volume: the host stores only ciphertext, and
the next run (a restart, an update by the same signer) reads them back. The key broker's API
key arrives as a file in the same volume."""

import json
from pathlib import Path

state_file = Path("/data/state.json")
state = json.loads(state_file.read_text()) if state_file.exists() else {"runs": 0}
state["runs"] += 1
state_file.write_text(json.dumps(state))
with open("/data/log.txt", "a") as log:
    log.write(f"run {state['runs']}: confidential work done\n")
api_key = Path("/data/api-key").read_bytes()
print(f"run {state['runs']}; api key of {len(api_key)} bytes; log has", end=" ")
print(f"{len(Path('/data/log.txt').read_text().splitlines())} lines")
