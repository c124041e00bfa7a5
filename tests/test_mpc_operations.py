"""Both protocols' arithmetic against numpy: every operation within its stated error, the
traffic each protocol promises, and failures that stop every party."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from trustroom import mpc
from trustroom.mpc import Context
from trustroom.mpc._ring import decode, encode, matmul

F = 18
ULP = 2.0**-F
ONE_ULP = ULP + 1e-9  # at most one unit, allowing for float64 rounding in the reference


def quantized(values: Any) -> Any:
    """The values as the parties see them once shared (rounded to fixed point)."""
    return decode(encode(np.asarray(values, dtype=np.float64), F), F)


PARTIES = {"aby3": 3, "semi2k": 2}
both_protocols = pytest.mark.parametrize("protocol", list(PARTIES))


def run(main: Any, protocol: str = "aby3") -> list[Any]:
    return mpc.launch(
        main, protocol=protocol, parties=PARTIES[protocol], transport="mem", timeout=30
    )


floats = st.floats(min_value=-1000, max_value=1000, allow_nan=False, allow_infinity=False)
vectors = st.lists(floats, min_size=1, max_size=40)


def test_ring_matmul_is_exact_modulo_2_64() -> None:
    rng = np.random.default_rng(7)
    for m, k, n in ((3, 1, 4), (5, 1023, 6), (4, 1024, 3), (2, 2500, 5)):
        a = rng.integers(0, 2**64, size=(m, k), dtype=np.uint64, endpoint=False)
        b = rng.integers(0, 2**64, size=(k, n), dtype=np.uint64, endpoint=False)
        assert np.array_equal(matmul(a, b), a @ b)


@both_protocols
@settings(max_examples=25, deadline=None)
@given(pairs=st.lists(st.tuples(floats, floats), min_size=1, max_size=40))
def test_add_sub_mul_agree_with_numpy(pairs: list[tuple[float, float]], protocol: str) -> None:
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])

    def main(ctx: Context) -> Any:
        a = ctx.input(0, x if ctx.rank == 0 else None)
        b = ctx.input(1, y if ctx.rank == 1 else None)
        return [ctx.reveal(v) for v in (a + b, a - b, -a, a * b, a * 2.5, 3 - a, a + 1)]

    results = run(main, protocol)
    assert all(np.array_equal(r, s) for r, s in zip(results[0], results[1], strict=True))
    added, subtracted, negated, product, scaled, rsub, plus_one = results[0]
    xq, yq = quantized(x), quantized(y)
    assert np.array_equal(added, xq + yq) and np.array_equal(subtracted, xq - yq)
    assert np.array_equal(negated, -xq) and np.array_equal(rsub, 3 - xq)
    assert np.array_equal(plus_one, xq + 1)
    assert np.max(np.abs(product - xq * yq)) <= ONE_ULP
    assert np.max(np.abs(scaled - xq * 2.5)) <= ONE_ULP


@both_protocols
@settings(max_examples=15, deadline=None)
@given(
    shape=st.tuples(st.integers(1, 6), st.integers(1, 7), st.integers(1, 5)),
    seed=st.integers(0, 2**32 - 1),
)
def test_matmul_agrees_with_numpy(shape: tuple[int, int, int], seed: int, protocol: str) -> None:
    m, k, n = shape
    rng = np.random.default_rng(seed)
    a, b = rng.normal(size=(m, k)) * 10, rng.normal(size=(k, n)) * 10
    v = rng.normal(size=k)

    def main(ctx: Context) -> Any:
        sa = ctx.input(0, a if ctx.rank == 0 else None)
        sb = ctx.input(ctx.parties - 1, b if ctx.rank == ctx.parties - 1 else None)
        sv = ctx.input(1, v if ctx.rank == 1 else None)
        return ctx.reveal(sa @ sb), ctx.reveal(sa @ sv), ctx.reveal(sv @ sb), ctx.reveal(sv @ sv)

    product, left, right, dot = run(main, protocol)[0]
    aq, bq, vq = quantized(a), quantized(b), quantized(v)
    assert product.shape == (m, n) and left.shape == (m,) and right.shape == (n,)
    assert np.max(np.abs(product - aq @ bq)) <= ONE_ULP
    assert np.max(np.abs(left - aq @ vq)) <= ONE_ULP
    assert np.max(np.abs(right - vq @ bq)) <= ONE_ULP
    assert abs(dot - vq @ vq) <= ONE_ULP


@both_protocols
def test_integers_stay_exact_and_mix_with_fixed_point(protocol: str) -> None:
    def main(ctx: Context) -> Any:
        n = ctx.input(0, np.array([[3, -4], [5, 6]]) if ctx.rank == 0 else None)
        x = ctx.input(1, np.array([0.5, 0.25]) if ctx.rank == 1 else None)
        return ctx.reveal(n * n - 1), ctx.reveal(n @ n), ctx.reveal(n * x), ctx.reveal(n + x)

    squares, product, mixed, summed = run(main, protocol)[0]
    assert squares.dtype == np.int64 and squares.tolist() == [[8, 15], [24, 35]]
    assert product.tolist() == [[-11, -36], [45, 16]]
    assert mixed.tolist() == [[1.5, -1.0], [2.5, 1.5]] and summed.tolist() == [
        [3.5, -3.75],
        [5.5, 6.25],
    ]


@both_protocols
def test_reductions_indexing_and_shapes(protocol: str) -> None:
    data = np.arange(24, dtype=np.float64).reshape(2, 3, 4) / 8

    def main(ctx: Context) -> Any:
        x = ctx.input(ctx.parties - 1, data if ctx.rank == ctx.parties - 1 else None)
        return [
            ctx.reveal(v)
            for v in (
                x.sum(),
                x.sum(axis=1),
                x.mean(axis=-1),
                x.mean(),
                x[1, :, 2],
                x.reshape(6, 4).T,
                x.var(),
                x.var(axis=1),
                x.sum(axis=1, keepdims=True),
                mpc.max(x, axis=2, keepdims=True),
                mpc.argmin(x, keepdims=True),
            )
        ]

    results = run(main, protocol)[0]
    total, by_axis, means, mean, picked, transposed, var, var_by_axis = results[:8]
    kept_sum, kept_max, kept_argmin = results[8:]
    assert np.array_equal(kept_sum, data.sum(axis=1, keepdims=True))
    assert np.array_equal(kept_max, data.max(axis=2, keepdims=True))
    assert np.array_equal(kept_argmin, np.argmin(data, keepdims=True))
    assert abs(var - data.var()) < 8 * ULP
    assert np.max(np.abs(var_by_axis - data.var(axis=1))) < 8 * ULP
    assert total == data.sum() and np.array_equal(by_axis, data.sum(axis=1))
    assert (
        np.max(np.abs(means - data.mean(axis=-1))) < 2 * ULP and abs(mean - data.mean()) < 2 * ULP
    )
    assert np.array_equal(picked, data[1, :, 2]) and np.array_equal(
        transposed, data.reshape(6, 4).T
    )


@both_protocols
def test_a_mean_over_many_elements_keeps_its_precision(protocol: str) -> None:
    data = np.random.default_rng(1).normal(size=100_000)

    def main(ctx: Context) -> Any:
        return ctx.reveal(ctx.input(0, data if ctx.rank == 0 else None).mean())

    assert abs(run(main, protocol)[0] - quantized(data).mean()) < 4 * ULP


@both_protocols
def test_truncation_errs_by_at_most_one_unit_over_ten_million_elements(protocol: str) -> None:
    """No rare large errors: each fixed-point product is floor(x·y / 2^18) or one more,
    exactly, across the stated range (|x·y| < 2^26); 2^20 elements a batch, 10 batches."""
    batch, batches = 1 << 20, 10
    rng = np.random.default_rng(2026)
    xs = [rng.uniform(-(2**12), 2**12, size=batch) for _ in range(batches)]
    ys = [rng.uniform(-(2**12), 2**12, size=batch) for _ in range(batches)]

    def main(ctx: Context) -> Any:
        offsets: set[int] = set()
        for x, y in zip(xs, ys, strict=True):
            a = ctx.input(0, x if ctx.rank == 0 else None)
            b = ctx.input(1, y if ctx.rank == 1 else None)
            got = np.rint(ctx.reveal(a * b) * 2**F).astype(np.int64)
            exact = encode(x, F).view(np.int64) * encode(y, F).view(np.int64)  # below 2^62
            offsets |= set(np.unique(got - (exact >> F)).tolist())
        return offsets

    assert run(main, protocol)[0] == {0, 1}


def test_an_integer_multiplication_sends_one_element_per_party_in_one_round() -> None:
    size = 1000

    def main(ctx: Context) -> Any:
        a = ctx.input(0, np.arange(size) if ctx.rank == 0 else None)
        b = ctx.input(1, np.arange(size) if ctx.rank == 1 else None)
        before = ctx.stats()
        c = a * b
        after = ctx.stats()
        scaled = a * 1.5  # an integer times a public float: local, already fixed point
        fixed_before = ctx.stats()
        scaled * scaled  # a fixed-point product: with its truncation, two rounds
        fixed_after = ctx.stats()
        assert fixed_before["rounds"] == after["rounds"]
        assert np.array_equal(ctx.reveal(c), np.arange(size) ** 2)
        return (
            after["bytes_sent"] - before["bytes_sent"],
            after["rounds"] - before["rounds"],
            fixed_after["rounds"] - fixed_before["rounds"],
        )

    for sent, rounds, fixed_rounds in run(main):
        assert sent == 8 * size and rounds == 1 and fixed_rounds == 2


def test_semi2k_costs_what_it_documents_and_inputs_cost_no_round() -> None:
    size = 1000

    def main(ctx: Context) -> Any:
        steps: list[tuple[int, int]] = []
        before = ctx.stats()
        a = ctx.input(0, np.arange(size) if ctx.rank == 0 else None)
        x = ctx.input(1, np.linspace(0, 1, size) if ctx.rank == 1 else None)
        for operation in (lambda: a * a, lambda: x * x, lambda: x < 0.5):
            before = ctx.stats()
            operation()
            after = ctx.stats()
            steps.append(
                (after["rounds"] - before["rounds"], after["bytes_sent"] - before["bytes_sent"])
            )
        return steps

    words = 8 * size
    # integer product: e and f; fixed point: and the truncation's opening; comparison: the
    # adder's ANDs (two words each) and the top bit's product. Party 0 also names each item
    # it needs to the dealer, in a few dozen bytes.
    expected = [(1, 2 * words), (2, 3 * words), (8, 26 * words)]
    for party in run(main, "semi2k"):
        for (rounds, sent), (want_rounds, want_sent) in zip(party, expected, strict=True):
            assert rounds == want_rounds and want_sent <= sent < want_sent + 50 * want_rounds


def test_an_input_owned_by_no_party_is_refused_at_once() -> None:
    def main(ctx: Context) -> Any:
        return ctx.input(2, np.ones(2) if ctx.rank == 0 else None)

    with pytest.raises(mpc.ProtocolError, match="no party 2 to own an input"):
        run(main, "semi2k")


@both_protocols
def test_a_failing_party_stops_the_others_with_its_own_error(protocol: str) -> None:
    def main(ctx: Context) -> Any:
        x = ctx.input(0, np.ones(3) if ctx.rank == 0 else None)
        if ctx.rank == 1:
            raise RuntimeError("party 1's own bug")
        return ctx.reveal(x * x)

    with pytest.raises(RuntimeError, match="party 1's own bug"):
        run(main, protocol)


@both_protocols
def test_inputs_out_of_range_are_refused_with_a_code(protocol: str) -> None:
    def main(ctx: Context) -> Any:
        return ctx.input(0, np.array([1e12]) if ctx.rank == 0 else None)

    with pytest.raises(mpc.InputOutOfRange, match="must stay below 8192") as caught:
        run(main, protocol)
    assert caught.value.code == "mpc_input_out_of_range"


def test_unknown_protocols_and_party_counts_are_refused() -> None:
    with pytest.raises(mpc.MpcError, match="no protocol 'spdz'"):
        mpc.launch(lambda ctx: None, protocol="spdz")
    with pytest.raises(mpc.MpcError, match="aby3 runs with 3 parties, not 2"):
        mpc.launch(lambda ctx: None, protocol="aby3", parties=2)


@both_protocols
@settings(max_examples=20, deadline=None)
@given(pairs=st.lists(st.tuples(floats, floats), min_size=1, max_size=40))
def test_comparisons_and_what_is_built_on_them_are_exact(
    pairs: list[tuple[float, float]], protocol: str
) -> None:
    x = np.array([p[0] for p in pairs])
    y = np.array([p[1] for p in pairs])
    y[::3] = x[::3]  # ties

    def main(ctx: Context) -> Any:
        a = ctx.input(0, x if ctx.rank == 0 else None)
        b = ctx.input(1, y if ctx.rank == 1 else None)
        return [
            ctx.reveal(v)
            for v in (
                a < b, a > b, a <= b, a >= b, a == b, a < 0.5, abs(a), mpc.relu(a),
                mpc.maximum(a, b), mpc.minimum(a, b), mpc.where(a < b, a, -3.0),
            )
        ]  # fmt: skip

    got = run(main, protocol)[0]
    xq, yq = quantized(x), quantized(y)
    expected = (
        xq < yq, xq > yq, xq <= yq, xq >= yq, xq == yq, xq < 0.5, np.abs(xq),
        np.maximum(xq, 0), np.maximum(xq, yq), np.minimum(xq, yq), np.where(xq < yq, xq, -3.0),
    )  # fmt: skip
    for value, reference in zip(got, expected, strict=True):
        assert np.array_equal(value, reference)
    assert got[0].dtype == np.int64  # comparisons give integer 0/1 arrays


def test_a_comparison_costs_ten_rounds_and_the_words_documented() -> None:
    size = 100

    def main(ctx: Context) -> Any:
        a = ctx.input(0, np.arange(float(size)) if ctx.rank == 0 else None)
        before = ctx.stats()
        _ = a < 50.0
        after = ctx.stats()
        return after["rounds"] - before["rounds"], after["bytes_sent"] - before["bytes_sent"]

    assert run(main) == [(10, 17 * 8 * size), (10, 13 * 8 * size), (10, 13 * 8 * size)]


@both_protocols
def test_exp_and_sigmoid_within_their_stated_errors(protocol: str) -> None:
    x = np.linspace(-16, 16, 20001)
    z = np.concatenate((np.linspace(-40, 40, 20001), [-8000.0, -1643.5, -200.0, 200.0, 8000.0]))

    def main(ctx: Context) -> Any:
        a = ctx.input(0, x if ctx.rank == 0 else None)
        b = ctx.input(1, z if ctx.rank == 1 else None)
        return ctx.reveal(mpc.exp(a)), ctx.reveal(mpc.sigmoid(b))

    e, s = run(main, protocol)[0]
    reference = np.exp(quantized(x))
    large = reference > 2**-8
    assert np.max(np.abs(e - reference)[large] / reference[large]) < 2e-3
    assert np.max(np.abs(e - reference)[~large]) < 4 * ULP
    assert np.max(np.abs(s - (1 + np.tanh(quantized(z) / 2)) / 2)) < 3e-4  # 1 / (1 + e^-z)


def _spread(seed: int, count: int) -> Any:
    """Magnitudes across the fixed-point range, both signs, powers of two among them."""
    rng = np.random.default_rng(seed)
    magnitudes = np.concatenate((
        10.0 ** rng.uniform(-4, 3.5, count), 2.0 ** rng.integers(-16, 12, count // 10),
    ))  # fmt: skip
    signs = rng.choice([-1.0, 1.0], magnitudes.size)
    values = quantized(magnitudes * signs)
    return values[np.abs(values) >= 2 * ULP]


@both_protocols
def test_reciprocal_division_and_roots_within_their_stated_errors(protocol: str) -> None:
    x = _spread(1, 4000)
    y = _spread(2, x.size)[: x.size]
    x = x[: y.size]
    positive = np.abs(x)

    def main(ctx: Context) -> Any:
        a = ctx.input(0, x if ctx.rank == 0 else None)
        b = ctx.input(1, y if ctx.rank == 1 else None)
        p = ctx.input(0, positive if ctx.rank == 0 else None)
        zero = ctx.input(1, np.zeros(3) if ctx.rank == 1 else None)
        return [
            ctx.reveal(v)
            for v in (
                mpc.reciprocal(a), a / b, 3.0 / b, mpc.rsqrt(p), mpc.sqrt(p),
                mpc.sqrt(zero), mpc.reciprocal(zero),
            )
        ]  # fmt: skip

    recip, quotient, three_over, inverse_root, root, root0, recip0 = run(main, protocol)[0]

    def within(got: Any, reference: Any, relative: float, ulps: float = 1.0) -> None:
        bound = relative * np.abs(reference) + ulps * ULP + 1e-9
        assert np.all(np.abs(got - reference) <= bound)

    within(recip, 1 / x, 2**-14)
    # x * (1/y): 1/y's error scaled by |x|, then one truncation
    within(quotient, x / y, 2**-14, 1 + np.abs(x))
    within(three_over, 3 / y, 2**-14, 3)
    within(inverse_root, 1 / np.sqrt(positive), 2**-14)
    within(root, np.sqrt(positive), 2**-15)
    assert np.array_equal(root0, np.zeros(3)) and np.array_equal(recip0, np.zeros(3))


@both_protocols
def test_log_tanh_and_softmax_within_their_stated_errors(protocol: str) -> None:
    positive = np.abs(_spread(3, 4000))
    z = np.concatenate((np.linspace(-30, 30, 4001), [-5000.0, 5000.0]))
    scores = np.random.default_rng(4).uniform(-20, 20, (50, 10))
    scores[0, :3] = (5000.0, -3000.0, 4990.0)  # exponents far below -16 too

    def main(ctx: Context) -> Any:
        p = ctx.input(0, positive if ctx.rank == 0 else None)
        b = ctx.input(1, z if ctx.rank == 1 else None)
        s = ctx.input(ctx.parties - 1, scores if ctx.rank == ctx.parties - 1 else None)
        return ctx.reveal(mpc.log(p)), ctx.reveal(mpc.tanh(b)), ctx.reveal(mpc.softmax(s))

    logarithm, hyperbolic, soft = run(main, protocol)[0]
    assert np.max(np.abs(logarithm - np.log(positive))) < 1e-4
    assert np.max(np.abs(hyperbolic - np.tanh(quantized(z)))) < 6e-4
    shifted = np.exp(quantized(scores) - quantized(scores).max(axis=1, keepdims=True))
    assert np.max(np.abs(soft - shifted / shifted.sum(axis=1, keepdims=True))) < 1e-3


@both_protocols
@given(values=st.lists(st.integers(-40, 40), min_size=1, max_size=30), rows=st.integers(1, 4))
@settings(max_examples=15, deadline=None)
def test_reductions_and_sorting_are_exact_with_numpy_ties(
    values: list[int], rows: int, protocol: str
) -> None:
    m = np.array(values * rows, dtype=np.float64).reshape(rows, -1) / 4  # ties on purpose
    m[1:] = np.random.default_rng(len(values)).permutation(m[1:].ravel()).reshape(m[1:].shape)

    def main(ctx: Context) -> Any:
        a = ctx.input(0, m if ctx.rank == 0 else None)
        out = [ctx.reveal(mpc.sort(a, axis)) for axis in (0, 1)]
        out.append(ctx.reveal(mpc.argsort(a, 1)))
        for axis in (0, 1, None):
            out += [ctx.reveal(f(a, axis)) for f in (mpc.max, mpc.min, mpc.argmax, mpc.argmin)]
        return out

    got = run(main, protocol)[0]
    assert np.array_equal(got[0], np.sort(m, 0)) and np.array_equal(got[1], np.sort(m, 1))
    assert np.array_equal(np.take_along_axis(m, got[2], 1), np.sort(m, 1))
    expected = [
        f(m, axis=axis) for axis in (0, 1, None) for f in (np.max, np.min, np.argmax, np.argmin)
    ]
    for value, reference in zip(got[3:], expected, strict=True):
        assert np.array_equal(value, reference)


@both_protocols
def test_scalars_work_like_arrays(protocol: str) -> None:
    def main(ctx: Context) -> Any:
        x = ctx.input(0, np.array(2.5) if ctx.rank == 0 else None)
        y = ctx.input(1, np.array([1.0, 4.0]) if ctx.rank == 1 else None).sum()
        return ctx.reveal(x * y), ctx.reveal(x < y), ctx.reveal(mpc.maximum(x, y))

    product, less, larger = run(main, protocol)[0]
    assert product.shape == () and float(product) == 12.5
    assert int(less) == 1 and float(larger) == 5.0


def test_the_command_runs_a_script_in_every_party() -> None:
    from typer.testing import CliRunner

    from trustroom.cli import app

    script = Path(__file__).resolve().parent.parent / "examples" / "mpc" / "salaries.py"
    result = CliRunner().invoke(app, ["mpc", "run", str(script), "--transport", "mem"])
    assert result.exit_code == 0, result.output
    assert result.output.count("'gaps': [-41.66, 33.34, 8.34], 'org0_above': 0") == 3
