// Statistics for experiment results: see stats.h.
#include "core/stats.h"

#include <algorithm>
#include <cmath>

namespace rollout::stats {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// Evaluates c[0] + c[1] r + ... + c[7] r^7 (Horner).
double polynomial(const double (&c)[8], double r) {
  double value = c[7];
  for (int i = 6; i >= 0; i--) value = value * r + c[i];
  return value;
}

}  // namespace

double normal_cdf(double x) noexcept { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

double normal_sf(double x) noexcept { return 0.5 * std::erfc(x / std::sqrt(2.0)); }

// Algorithm AS 241 (PPND16), M. J. Wichura, "The percentage points of the normal distribution",
// Applied Statistics 37(3), 1988, pp. 477-484: rational approximations in three regions of p,
// accurate to about 1e-16 relative. The coefficients are the ones published in the paper.
double normal_quantile(double p) noexcept {
  if (std::isnan(p) || p < 0.0 || p > 1.0) return kNaN;
  if (p == 0.0) return -kInf;
  if (p == 1.0) return kInf;
  static constexpr double a[8] = {3.3871328727963666080e0,  1.3314166789178437745e+2, 1.9715909503065514427e+3,
                                  1.3731693765509461125e+4, 4.5921953931549871457e+4, 6.7265770927008700853e+4,
                                  3.3430575583588128105e+4, 2.5090809287301226727e+3};
  static constexpr double b[8] = {1.0,
                                  4.2313330701600911252e+1,
                                  6.8718700749205790830e+2,
                                  5.3941960214247511077e+3,
                                  2.1213794301586595867e+4,
                                  3.9307895800092710610e+4,
                                  2.8729085735721942674e+4,
                                  5.2264952788528545610e+3};
  static constexpr double c[8] = {1.42343711074968357734e0,  4.63033784615654529590e0, 5.76949722146069140550e0,
                                  3.64784832476320460504e0,  1.27045825245236838258e0, 2.41780725177450611770e-1,
                                  2.27238449892691845833e-2, 7.74545014278341407640e-4};
  static constexpr double d[8] = {1.0,
                                  2.05319162663775882187e0,
                                  1.67638483018380384940e0,
                                  6.89767334985100004550e-1,
                                  1.48103976427480074590e-1,
                                  1.51986665636164571966e-2,
                                  5.47593808499534494600e-4,
                                  1.05075007164441684324e-9};
  static constexpr double e[8] = {6.65790464350110377720e0,  5.46378491116411436990e0,  1.78482653991729133580e0,
                                  2.96560571828504891230e-1, 2.65321895265761230930e-2, 1.24266094738807843860e-3,
                                  2.71155556874348757815e-5, 2.01033439929228813265e-7};
  static constexpr double f[8] = {1.0,
                                  5.99832206555887937690e-1,
                                  1.36929880922735805310e-1,
                                  1.48753612908506148525e-2,
                                  7.86869131145613259100e-4,
                                  1.84631831751005468180e-5,
                                  1.42151175831644588870e-7,
                                  2.04426310338993978564e-15};
  const double q = p - 0.5;
  if (std::fabs(q) <= 0.425) {
    const double r = 0.180625 - q * q;
    return q * polynomial(a, r) / polynomial(b, r);
  }
  double r = std::sqrt(-std::log(q < 0.0 ? p : 1.0 - p));
  double value;
  if (r <= 5.0) {
    r -= 1.6;
    value = polynomial(c, r) / polynomial(d, r);
  } else {
    r -= 5.0;
    value = polynomial(e, r) / polynomial(f, r);
  }
  return q < 0.0 ? -value : value;
}

// Q(a, x) by the series of P(a, x) when x < a + 1 (where it converges fast and Q is not tiny),
// otherwise by the continued fraction of Q(a, x) evaluated with the modified Lentz method
// (as in Press et al., Numerical Recipes, 3rd ed., section 6.2).
double gamma_q(double a, double x) noexcept {
  if (std::isnan(a) || std::isnan(x) || a <= 0.0 || x < 0.0) return kNaN;
  if (x == 0.0) return 1.0;
  if (std::isinf(x)) return 0.0;
  constexpr double kEpsilon = 1e-16;
  constexpr int kMaxIterations = 100000;
  const double log_prefix = -x + a * std::log(x) - std::lgamma(a);
  if (x < a + 1.0) {
    double term = 1.0 / a;
    double sum = term;
    double ap = a;
    for (int i = 0; i < kMaxIterations; i++) {
      ap += 1.0;
      term *= x / ap;
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * kEpsilon) break;
    }
    return std::max(0.0, 1.0 - sum * std::exp(log_prefix));
  }
  constexpr double kTiny = 1e-300;
  double b = x + 1.0 - a;
  double c = 1.0 / kTiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < kMaxIterations; i++) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < kTiny) d = kTiny;
    c = b + an / c;
    if (std::fabs(c) < kTiny) c = kTiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < kEpsilon) break;
  }
  return std::exp(log_prefix) * h;
}

double chi_square_sf(double x, double df) noexcept {
  if (std::isnan(x) || std::isnan(df) || df <= 0.0) return kNaN;
  if (x <= 0.0) return 1.0;
  return gamma_q(df / 2.0, x / 2.0);
}

ProportionComparison compare_proportions(int64_t control_exposed, int64_t control_converted, int64_t treatment_exposed,
                                         int64_t treatment_converted, double confidence) noexcept {
  ProportionComparison out{kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN, kNaN};
  const double nc = static_cast<double>(control_exposed);
  const double nt = static_cast<double>(treatment_exposed);
  if (control_exposed > 0) out.control_rate = static_cast<double>(control_converted) / nc;
  if (treatment_exposed > 0) out.treatment_rate = static_cast<double>(treatment_converted) / nt;
  if (control_exposed <= 0 || treatment_exposed <= 0) return out;
  const double pc = out.control_rate;
  const double pt = out.treatment_rate;
  const double diff = pt - pc;
  out.absolute_lift = diff;
  if (pc > 0.0) out.relative_lift = diff / pc;
  const double pooled = static_cast<double>(control_converted + treatment_converted) / (nc + nt);
  const double pooled_se = std::sqrt(pooled * (1.0 - pooled) * (1.0 / nc + 1.0 / nt));
  if (pooled_se > 0.0) {
    out.z = diff / pooled_se;
    out.p_value = 2.0 * normal_sf(std::fabs(out.z));
  } else {
    out.z = 0.0;
    out.p_value = diff == 0.0 ? 1.0 : 0.0;
  }
  const double se = std::sqrt(pc * (1.0 - pc) / nc + pt * (1.0 - pt) / nt);
  const double z = normal_quantile(1.0 - (1.0 - confidence) / 2.0);
  out.ci_low = diff - z * se;
  out.ci_high = diff + z * se;
  return out;
}

double sample_ratio_p_value(const std::vector<int64_t>& observed, const std::vector<double>& weights) noexcept {
  if (observed.size() != weights.size()) return kNaN;
  double total = 0.0;
  double weight_sum = 0.0;
  int groups = 0;
  for (size_t i = 0; i < observed.size(); i++) {
    total += static_cast<double>(observed[i]);
    if (weights[i] > 0.0) {
      weight_sum += weights[i];
      groups++;
    }
  }
  if (total <= 0.0 || groups < 2) return kNaN;
  double statistic = 0.0;
  for (size_t i = 0; i < observed.size(); i++) {
    const double o = static_cast<double>(observed[i]);
    if (weights[i] <= 0.0) {
      if (o > 0.0) return 0.0;  // users in a variation that should get none
      continue;
    }
    const double expected = total * weights[i] / weight_sum;
    statistic += (o - expected) * (o - expected) / expected;
  }
  return chi_square_sf(statistic, groups - 1);
}

void SequentialTest::look(int64_t control_exposed, int64_t control_converted, int64_t treatment_exposed,
                          int64_t treatment_converted) noexcept {
  if (control_exposed <= 0 || treatment_exposed <= 0) return;
  const double nc = static_cast<double>(control_exposed);
  const double nt = static_cast<double>(treatment_exposed);
  const double pc = static_cast<double>(control_converted) / nc;
  const double pt = static_cast<double>(treatment_converted) / nt;
  const double v = pc * (1.0 - pc) / nc + pt * (1.0 - pt) / nt;
  if (!(v > 0.0)) return;
  const double d = pt - pc;
  const double log_lambda = 0.5 * std::log(v / (v + tau2_)) + tau2_ * d * d / (2.0 * v * (v + tau2_));
  p_value_ = std::min(p_value_, std::min(1.0, std::exp(-log_lambda)));
  const double half =
      std::sqrt(2.0 * v * (v + tau2_) / tau2_ * (std::log(1.0 / alpha_) + 0.5 * std::log((v + tau2_) / v)));
  ci_low_ = std::max(ci_low_, d - half);
  ci_high_ = std::min(ci_high_, d + half);
}

}  // namespace rollout::stats
