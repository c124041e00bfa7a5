"""An ordinary Flask service, unmodified: its signing secret comes from the key broker, and
it shows a client evidence about itself through the enclave's attestation API."""

import hashlib
import os
import urllib.request

from flask import Flask, jsonify, request

app = Flask(__name__)
secret = os.environ["SESSION_SECRET"].encode()


@app.get("/")
def index():
    return jsonify(service="flask in an enclave", secret_bytes=len(secret))


@app.get("/evidence")
def evidence():
    # Bind the caller's nonce into evidence, as a client checking this service would ask.
    nonce = hashlib.sha256(request.args.get("nonce", "").encode()).hexdigest()[:32]
    with urllib.request.urlopen(f"http://127.0.0.1:8006/aa/evidence?runtime_data={nonce}") as r:
        return r.read(), 200, {"Content-Type": "application/octet-stream"}


if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
