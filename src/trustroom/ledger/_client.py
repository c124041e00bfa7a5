"""A client of ``trustroom ledger serve``: members' submissions, receipts, the consortium."""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping, Sequence
from typing import Any, Self

import httpx

from trustroom.ledger._errors import EntryNotFound, LedgerError, SubmissionRefused
from trustroom.ledger._governance import Consortium, MemberKey
from trustroom.ledger._receipt import Receipt
from trustroom.ledger._records import Record

__all__ = ["LedgerClient"]


class LedgerClient:
    """The log served at ``url``; ``member`` signs submissions (a consortium member's key)."""

    def __init__(
        self, url: str, member: MemberKey | None = None, *, http: httpx.Client | None = None
    ) -> None:
        self.url = url.rstrip("/")
        self.member = member
        self._http = http or httpx.Client(timeout=60)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, self.url + path, **kwargs)
        except httpx.HTTPError as exc:
            raise SubmissionRefused(
                f"the log at {self.url} did not answer: {exc}",
                hint="Check the URL; is `trustroom ledger serve` running there?",
            ) from exc
        if response.status_code == 404:
            raise EntryNotFound(_message(response))
        if response.status_code != 200:
            raise SubmissionRefused(f"the log refused: {_message(response)}")
        return response

    def submit(self, records: Sequence[Record | Mapping[str, Any]]) -> list[int]:
        """Append ``records`` signed by the member key; their indices, once durable."""
        if self.member is None:
            raise LedgerError("submitting entries needs a member key")
        documents = [r.to_dict() if isinstance(r, Record) else dict(r) for r in records]
        message = self.member.submission(documents, at=int(time.time()), nonce=secrets.token_hex(8))
        body = self._call("POST", "/entries", json=message).json()
        return [int(i) for i in body["indices"]]

    def receipt(self, index: int, *, wait: float = 30.0) -> Receipt:
        """Entry ``index``'s receipt, waiting up to ``wait`` seconds for a checkpoint that
        covers it (the server signs them at its own pace)."""
        deadline = time.monotonic() + wait
        while True:
            try:
                return Receipt.parse(self._call("GET", f"/receipt/{index}").text)
            except EntryNotFound:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)

    def consortium(self) -> Consortium:
        """The consortium as the log's governance makes it (its members' keys, its rules)."""
        body = self._call("GET", "/consortium").json()
        return Consortium(
            members=dict(body["members"]),
            threshold=int(body["threshold"]),
            rules=dict(body["rules"]),
            policies=dict(body["policies"]),
            measurements={(tee, m) for tee, m in body["measurements"]},
            witnesses=(list(body["witnesses"]["vkeys"]), int(body["witnesses"]["threshold"])),
        )


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"{response.status_code} {response.text}"
    return f"{body.get('code', response.status_code)}: {body.get('message', body)}"
