"""Secret-sharing multi-party computation: parties compute on data none of them sees.

Every party runs the same program; ``ctx.input`` secret-shares one party's array, numpy-style
operators compute on the shares, and ``ctx.reveal`` opens a result::

    from trustroom import mpc

    def main(ctx: mpc.Context):
        x = ctx.input(0, np.array([1.5, 2.0]) if ctx.rank == 0 else None)
        y = ctx.input(1, np.array([4.0, -1.0]) if ctx.rank == 1 else None)
        return ctx.reveal(x * y + 1)

    mpc.launch(main, protocol="aby3", parties=3, transport="mem")  # [array([7., -1.])] * 3

Protocols: ``aby3`` (three parties, replicated secret sharing over Z_2^64, semi-honest with
an honest majority) and ``semi2k`` (two parties, additive sharing, correlated randomness from
a dealer process that sees no data). Numbers are fixed point with 18 fractional bits by
default.
"""

from trustroom.mpc._array import SecretArray
from trustroom.mpc._context import Context
from trustroom.mpc._errors import (
    InputOutOfRange,
    JobInvalid,
    MpcError,
    PeerLost,
    PeerRejected,
    PeerTimeout,
    ProtocolError,
)
from trustroom.mpc._functions import (
    exp,
    log,
    maximum,
    minimum,
    reciprocal,
    relu,
    rsqrt,
    sigmoid,
    softmax,
    sqrt,
    tanh,
    where,
)
from trustroom.mpc._job import Job, run_job
from trustroom.mpc._launch import ScriptMain, launch
from trustroom.mpc._ordering import argmax, argmin, argsort, max, min, sort
from trustroom.mpc._tcp import new_identity

__all__ = [
    "Context",
    "InputOutOfRange",
    "Job",
    "JobInvalid",
    "MpcError",
    "PeerLost",
    "PeerRejected",
    "PeerTimeout",
    "ProtocolError",
    "ScriptMain",
    "SecretArray",
    "argmax",
    "argmin",
    "argsort",
    "exp",
    "launch",
    "log",
    "max",
    "maximum",
    "min",
    "minimum",
    "new_identity",
    "reciprocal",
    "relu",
    "rsqrt",
    "run_job",
    "sigmoid",
    "softmax",
    "sort",
    "sqrt",
    "tanh",
    "where",
]
