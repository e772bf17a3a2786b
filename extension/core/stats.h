// Statistics for experiment results: the normal and chi-square distributions, the two-proportion
// z-test, the sample-ratio-mismatch test and the mixture sequential probability ratio test.
//
// Pure functions on doubles. Results that do not exist for the inputs (no users, a control
// rate of zero for a relative lift) are NaN; the PostgreSQL layer shows NaN as NULL.
#pragma once

#include <cstdint>
#include <limits>
#include <vector>

namespace rollout::stats {

// The standard normal distribution: Phi(x), 1 - Phi(x) (accurate in the upper tail) and the
// quantile Phi^-1(p) for p in (0, 1) (NaN outside; -inf and +inf at 0 and 1).
double normal_cdf(double x) noexcept;
double normal_sf(double x) noexcept;
double normal_quantile(double p) noexcept;

// The regularized upper incomplete gamma function Q(a, x) = Gamma(a, x) / Gamma(a), a > 0, x >= 0.
double gamma_q(double a, double x) noexcept;

// P(X >= x) for X chi-square distributed with `df` > 0 degrees of freedom.
double chi_square_sf(double x, double df) noexcept;

// Two proportions: `converted` of `exposed` users in the control (c) and treatment (t).
struct ProportionComparison {
  double control_rate;
  double treatment_rate;
  double absolute_lift;  // treatment_rate - control_rate
  double relative_lift;  // absolute_lift / control_rate (NaN when control_rate is 0)
  double z;              // (difference) / pooled standard error
  double p_value;        // two-sided, from the pooled z
  double ci_low;         // confidence interval of the difference, unpooled standard error
  double ci_high;
};

// The two-proportion z-test: the test uses the pooled standard error
// sqrt(p(1-p)(1/n_c + 1/n_t)), p = (x_c + x_t) / (n_c + n_t); the interval of the difference uses
// the unpooled sqrt(p_c(1-p_c)/n_c + p_t(1-p_t)/n_t) and `confidence` (e.g. 0.95). When a standard
// error is 0 (both rates 0, or both 1) the difference is exact: p-value 1 if it is 0, else 0.
// REQUIRES: 0 <= converted <= exposed for both groups; NaN fields when a group has no users.
ProportionComparison compare_proportions(int64_t control_exposed, int64_t control_converted, int64_t treatment_exposed,
                                         int64_t treatment_converted, double confidence) noexcept;

// Sample ratio mismatch: Pearson's chi-square test of observed counts against the counts the
// weights predict (weights are normalized by their sum). Groups with weight 0 are left out of
// the degrees of freedom; an observation in such a group makes the p-value 0. NaN when no count
// or fewer than two groups with weight. REQUIRES: observed.size() == weights.size(), weights >= 0.
double sample_ratio_p_value(const std::vector<int64_t>& observed, const std::vector<double>& weights) noexcept;

// The mixture sequential probability ratio test (mSPRT) of Johari, Pekelis and Walsh, "Always
// valid inference: continuous monitoring of A/B tests" (Operations Research, 2022), for the
// difference of two proportions under the normal approximation, with a normal mixing
// distribution N(0, tau^2) over the true difference theta. At a look with estimate d and
// estimated variance v = p_c(1-p_c)/n_c + p_t(1-p_t)/n_t of d, the mixture likelihood ratio of
// theta against theta0 is
//   Lambda(theta0) = sqrt(v / (v + tau^2)) * exp(tau^2 (d - theta0)^2 / (2 v (v + tau^2))).
// The always-valid p-value is the running minimum over looks of min(1, 1/Lambda(0)); the
// confidence sequence at level 1 - alpha is the running intersection over looks of
// {theta0 : Lambda(theta0) < 1/alpha}, i.e. d +- sqrt(2 v (v + tau^2) / tau^2 * ln(sqrt((v + tau^2) / v) / alpha)).
// Stopping at any look, chosen after seeing the data, keeps the type I error at most alpha.
class SequentialTest {
 public:
  // REQUIRES: tau > 0, 0 < alpha < 1.
  SequentialTest(double tau, double alpha) noexcept : tau2_(tau * tau), alpha_(alpha) {}

  // Adds a look at cumulative counts (each look includes the previous ones' users). A look where
  // a group has no users, or where v is 0, leaves the results unchanged.
  void look(int64_t control_exposed, int64_t control_converted, int64_t treatment_exposed,
            int64_t treatment_converted) noexcept;

  double p_value() const noexcept { return p_value_; }  // 1 before any informative look
  double ci_low() const noexcept { return ci_low_; }    // -inf before any informative look
  double ci_high() const noexcept { return ci_high_; }  // +inf before any informative look

 private:
  double tau2_;
  double alpha_;
  double p_value_ = 1.0;
  double ci_low_ = -std::numeric_limits<double>::infinity();
  double ci_high_ = std::numeric_limits<double>::infinity();
};

}  // namespace rollout::stats
