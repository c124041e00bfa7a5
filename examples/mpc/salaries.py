"""Three organisations learn the mean pay gap between their staff and nothing else.

Run: ``trustroom mpc run examples/mpc/salaries.py --transport mem`` (or ``--transport tcp``:
a process per party, talking TLS over loopback).
"""

import numpy as np

# Each organisation's own data; in a real job each party reads only its own file.
PAY = {
    0: np.array([5200.0, 6100.0, 4800.0, 5900.0]),
    1: np.array([5600.0, 5300.0, 6400.0, 5000.0]),
    2: np.array([4900.0, 6000.0, 5500.0, 5800.0]),
}


def main(ctx):
    pay = [ctx.input(owner, PAY[owner] if ctx.rank == owner else None) for owner in range(3)]
    means = [p.mean() for p in pay]
    overall = (means[0] + means[1] + means[2]) * (1 / 3)
    gaps = [ctx.reveal(m - overall) for m in means]
    highest = ctx.reveal((means[0] > means[1]) + (means[0] > means[2]))
    return {"gaps": [round(float(g), 2) for g in gaps], "org0_above": int(highest)}
