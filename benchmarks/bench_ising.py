"""Benchmarks of the 2D Ising samplers (run: .venv/bin/python benchmarks/bench_ising.py).

1. Checkerboard Metropolis throughput (attempted flips per second, one thread) at L = 256,
   against a plain per-site numba loop written here (typewriter order, numba's own RNG, the same
   acceptance table).
2. Integrated autocorrelation time of |m| at T_c, L = 64, in sweeps: Wolff against Metropolis.
"""

from __future__ import annotations

import math
import time

import numba as nb
import numpy as np

from deepscope import physics as ph


@nb.njit(cache=True)
def plain_sweeps(spins, beta, n_sweeps, seed):
    np.random.seed(seed)
    L = spins.shape[0]
    table = np.exp(-2.0 * beta * np.arange(-4, 5))  # e^{-beta dE}, dE = 2 s h, h in -4..4
    for _ in range(n_sweeps):
        for i in range(L):
            for j in range(L):
                s = spins[i, j]
                h = (spins[(i + 1) % L, j] + spins[i - 1, j] + spins[i, (j + 1) % L]
                     + spins[i, j - 1])
                if np.random.random() < table[s * h + 4]:
                    spins[i, j] = -s
    return spins


TC = ph.critical_temperature()


def throughput(L=256, T=TC, repeats=3):
    nb.set_num_threads(1)
    spins = np.ones((L, L), np.int64)
    plain_sweeps(spins, 1 / T, 1, 0)  # compile
    ph.ising2d_timeseries(8, T, 1, "metropolis", seed=0, n_burn_in=1)
    best_plain, best_cb = math.inf, math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        plain_sweeps(spins, 1 / T, 50, 1)
        best_plain = min(best_plain, (time.perf_counter() - t0) / 50)
        t0 = time.perf_counter()
        ph.ising2d_timeseries(L, T, 1, "metropolis", seed=1, n_sweeps_between=1, n_burn_in=500)
        best_cb = min(best_cb, (time.perf_counter() - t0) / 501)
    return L * L / best_plain, L * L / best_cb


def autocorrelation_times(L=64, T=TC):
    out = {}
    for method, n in (("wolff", 20000), ("metropolis", 300000)):
        t0 = time.perf_counter()
        _, m = ph.ising2d_timeseries(L, T, n, method, seed=2, n_sweeps_between=1,
                                     n_burn_in=2000 if method == "wolff" else 20000)
        st = ph.estimate(np.abs(m))
        out[method] = (st, n, time.perf_counter() - t0)
    return out


def main() -> None:
    plain, cb = throughput()
    print("Metropolis throughput, L = 256, T = T_c, one thread (best of 3)")
    print(f"  plain per-site numba loop : {plain:.3e} attempted flips/s")
    print(f"  checkerboard (deepscope)  : {cb:.3e} attempted flips/s  ({cb / plain:.1f}x)")
    taus = autocorrelation_times()
    print("Integrated autocorrelation time of |m|, L = 64, T = T_c (Sokal window c = 6)")
    for method, (st, n, secs) in taus.items():
        print(f"  {method:10s}: tau_int = {st.tau_int:8.2f} sweeps  ({n} sweeps, window "
              f"{st.window}, closed={st.window_closed}, {secs:.1f} s)")
    ratio = taus["metropolis"][0].tau_int / taus["wolff"][0].tau_int
    print(f"  ratio Metropolis / Wolff : {ratio:.1f}")


if __name__ == "__main__":
    main()
