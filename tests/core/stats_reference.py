#!/usr/bin/python3
# Reference values for tests/core/stats_test.cpp and sql/experiment_results.sql, computed independently of the core with
# SciPy 1.10.1 and statsmodels 0.13.5 (Debian 12: python3-scipy, python3-statsmodels).
# Not run by CI: the numbers it prints are written into the test, each beside the call that
# produced it. Run: /usr/bin/python3 tests/core/stats_reference.py
import math

from scipy.stats import chi2, chisquare, norm
from statsmodels.stats.proportion import confint_proportions_2indep, proportions_ztest

print("# norm.cdf(x)")
for x in [-8.0, -3.0, -1.96, -0.5, 0.3, 1.0, 2.5]:
    print(f"norm.cdf({x!r}) = {norm.cdf(x)!r}")
print("# norm.sf(x)")
for x in [1.0, 5.0, 8.0, 20.0]:
    print(f"norm.sf({x!r}) = {norm.sf(x)!r}")
print("# norm.ppf(p)")
for p in [1e-300, 1e-12, 1e-5, 0.001, 0.025, 0.3, 0.7, 0.975, 0.999999]:
    print(f"norm.ppf({p!r}) = {norm.ppf(p)!r}")
print("# chi2.sf(x, df)")
for x, df in [(3.84, 1), (0.5, 1), (10.0, 3), (2.0, 5), (30.0, 10), (100.0, 50), (1.0, 0.5),
              (0.001, 2), (60.0, 2), (500.0, 400), (1200.0, 1000), (150.0, 1)]:
    print(f"chi2.sf({x!r}, {df!r}) = {chi2.sf(x, df)!r}")

print("# proportions_ztest(count=[xt, xc], nobs=[nt, nc]) (pooled); "
      "confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff', alpha=0.05)")
for nc, xc, nt, xt in [(10000, 1000, 10000, 1100), (5000, 250, 5100, 240),
                       (1000000, 100000, 1000000, 101000), (200, 1, 180, 7)]:
    z, p = proportions_ztest([xt, xc], [nt, nc])
    lo, hi = confint_proportions_2indep(xt, nt, xc, nc, method="wald", compare="diff", alpha=0.05)
    print(f"nc={nc} xc={xc} nt={nt} xt={xt}: z={z!r} p={p!r} ci=({lo!r}, {hi!r})")

print("# chisquare(observed, f_exp=total * weight)")
for observed, weights in [([5050, 4950], [0.5, 0.5]), ([5200, 4800], [0.5, 0.5]),
                          ([2020, 2950, 5030], [0.2, 0.3, 0.5]), ([331, 340, 329], [1, 1, 1])]:
    total = sum(observed)
    expected = [total * w / sum(weights) for w in weights]
    print(f"{observed} {weights}: p={chisquare(observed, f_exp=expected).pvalue!r}")


# mSPRT (Johari, Pekelis & Walsh), written here from the paper's formula for the normal mixture
# N(0, tau^2), with the plug-in variance of the difference of two proportions.
def msprt(looks, tau, alpha):
    p_value, low, high = 1.0, -math.inf, math.inf
    for nc, xc, nt, xt in looks:
        pc, pt = xc / nc, xt / nt
        v = pc * (1 - pc) / nc + pt * (1 - pt) / nt
        d = pt - pc
        lam = math.sqrt(v / (v + tau**2)) * math.exp(tau**2 * d**2 / (2 * v * (v + tau**2)))
        p_value = min(p_value, 1 / lam)
        half = math.sqrt(2 * v * (v + tau**2) / tau**2 * math.log(math.sqrt((v + tau**2) / v) / alpha))
        low, high = max(low, d - half), min(high, d + half)
    return p_value, low, high


print("# msprt(looks, tau=0.01, alpha=0.05)")
for looks in [[(1000, 100, 1000, 130)],
              [(1000, 100, 1000, 130), (2000, 210, 2000, 250), (3000, 300, 3000, 390)],
              [(5000, 500, 5000, 505), (10000, 1000, 10000, 1010)],
              # sql/experiment_results.sql, experiment "daily"
              [(1000, 100, 1000, 130), (2000, 200, 2000, 260), (3000, 300, 3000, 390)]]:
    print(f"{looks}: {msprt(looks, 0.01, 0.05)!r}")
