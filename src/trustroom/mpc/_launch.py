"""Running one program in every party: threads of this process, or processes over TCP."""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections.abc import Callable
from typing import Any

from trustroom._core.errors import TrustroomError
from trustroom.mpc._aby3 import Aby3
from trustroom.mpc._context import Context, SharingProtocol
from trustroom.mpc._errors import MpcError, PeerLost, PeerTimeout
from trustroom.mpc._semi2k import Semi2k, serve_dealer
from trustroom.mpc._transport import MemoryNetwork, Transport

__all__ = ["ScriptMain", "launch", "processes_for", "run_party"]

Main = Callable[[Context], Any]
# name: (the protocol, its computing parties, a helper's loop run as the next rank or None)
_PROTOCOLS: dict[
    str, tuple[Callable[[Transport], SharingProtocol], int, Callable[[Transport], None] | None]
] = {
    "aby3": (Aby3, 3, None),
    "semi2k": (Semi2k, 2, serve_dealer),
}


class ScriptMain:
    """``main(ctx)`` of a script file, loaded where it runs (so party processes can be handed
    it by path)."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __call__(self, ctx: Context) -> Any:
        import runpy

        namespace = runpy.run_path(self.path, run_name="__mpc_party__")
        main = namespace.get("main")
        if not callable(main):
            raise MpcError(
                f"{self.path} defines no main(ctx)",
                hint="Define `def main(ctx):` at the top level of the script; every party runs it.",
            )
        return main(ctx)


def processes_for(name: str, parties: int | None = None) -> int:
    """The number of processes protocol ``name`` runs (its dealer too, for SEMI2K), checking
    ``parties`` (the computing parties) if given."""
    if name not in _PROTOCOLS:
        raise MpcError(f"no protocol {name!r}; choose from {', '.join(_PROTOCOLS)}")
    _, needed, helper = _PROTOCOLS[name]
    if parties is not None and parties != needed:
        raise MpcError(f"{name} runs with {needed} parties, not {parties}")
    return needed + (helper is not None)


def run_party(main: Main, protocol: str, transport: Transport, frac_bits: int = 18) -> Any:
    """Run ``main`` as party ``transport.rank`` (or the protocol's dealer, at the rank after
    the parties: it returns None); the transport is closed afterwards, which tells the other
    parties this one is done."""
    try:
        processes = processes_for(protocol)
        if processes != transport.parties:
            raise MpcError(f"{protocol} runs {processes} processes, not {transport.parties}")
        make, parties, helper = _PROTOCOLS[protocol]
        if helper is not None and transport.rank == parties:
            return helper(transport)
        return main(Context(make(transport), frac_bits))
    finally:
        transport.close()


def launch(
    main: Main,
    protocol: str = "aby3",
    parties: int | None = None,
    transport: str = "mem",
    *,
    timeout: float = 60.0,
    frac_bits: int = 18,
) -> list[Any]:
    """Run ``main(ctx)`` in every party and return their results, by rank.

    ``protocol``: ``"aby3"`` (three parties, honest majority) or ``"semi2k"`` (two parties
    and a dealer process that hands out correlated randomness and returns nothing);
    ``parties`` defaults to the protocol's count. ``transport="mem"`` runs the parties as
    threads of this process (tests, notebooks); ``"tcp"`` runs each in its own process,
    connected over loopback TCP with mutual TLS, as separate hosts would be (``main`` must
    then be importable: a module-level function). A
    party that fails stops the others; the first failure that is not a consequence of another
    (a lost or silent peer) is raised.
    """
    processes = processes_for(protocol, parties)
    parties = parties or _PROTOCOLS[protocol][1]
    if transport == "mem":
        results = _in_threads(main, protocol, processes, timeout, frac_bits)
    elif transport == "tcp":
        results = _in_processes(main, protocol, processes, timeout, frac_bits)
    else:
        raise MpcError(f"no transport {transport!r}; choose 'mem' or 'tcp'")
    return results[:parties]


def _outcome(results: dict[int, Any], errors: dict[int, BaseException], parties: int) -> list[Any]:
    if errors:
        consequences = (PeerLost, PeerTimeout)
        causes = [errors[r] for r in sorted(errors) if not isinstance(errors[r], consequences)]
        raise (causes or [errors[min(errors)]])[0]
    return [results[rank] for rank in range(parties)]


def _in_threads(main: Main, protocol: str, parties: int, timeout: float, bits: int) -> list[Any]:
    network = MemoryNetwork(parties, timeout)
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}

    def party(rank: int) -> None:
        try:
            results[rank] = run_party(main, protocol, network.endpoint(rank), bits)
        except BaseException as exc:  # handed to the caller below
            errors[rank] = exc

    threads = [
        threading.Thread(target=party, args=(r,), name=f"mpc-party-{r}") for r in range(parties)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return _outcome(results, errors, parties)


def _party_process(
    main: Main, protocol: str, rank: int, config: Any, key: bytes, timeout: float, bits: int,
    out: Any,
) -> None:  # fmt: skip
    from trustroom.mpc._tcp import connect

    try:
        transport = connect(rank, config, key, timeout=timeout)
        out.put((rank, True, run_party(main, protocol, transport, bits)))
    except BaseException as exc:
        out.put((rank, False, exc if isinstance(exc, TrustroomError) else _portable(exc)))


def _portable(exc: BaseException) -> BaseException:
    """An exception that survives pickling back to the launcher (a program's own may not)."""
    return MpcError(f"{type(exc).__name__}: {exc}")


def _in_processes(main: Main, protocol: str, parties: int, timeout: float, bits: int) -> list[Any]:
    from trustroom.mpc._tcp import local_parties

    config, keys = local_parties(parties)
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [
        context.Process(
            target=_party_process,
            args=(main, protocol, rank, config, keys[rank], timeout, bits, out),
            name=f"mpc-party-{rank}",
        )
        for rank in range(parties)
    ]
    for process in processes:
        process.start()
    results: dict[int, Any] = {}
    errors: dict[int, BaseException] = {}
    try:
        while len(results) + len(errors) < parties:
            try:
                _record(out.get(timeout=0.5), results, errors)
                continue
            except queue.Empty:
                pass
            ended = [
                rank for rank, process in enumerate(processes)
                if not process.is_alive() and rank not in results and rank not in errors
            ]  # fmt: skip
            if not ended:
                continue
            try:  # one may have reported just before it ended
                _record(out.get(timeout=0.5), results, errors)
            except queue.Empty:
                for rank in ended:
                    errors[rank] = PeerLost(
                        f"party {rank} ended (exit code {processes[rank].exitcode}) "
                        "without a result"
                    )
    finally:
        for process in processes:
            process.join(timeout=5)
            if process.is_alive():
                process.kill()
                process.join()
    return _outcome(results, errors, parties)


def _record(
    report: tuple[int, bool, Any], results: dict[int, Any], errors: dict[int, BaseException]
) -> None:
    rank, ok, value = report
    (results if ok else errors)[rank] = value
