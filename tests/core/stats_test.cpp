// Statistics of experiment results against reference values computed independently of the core:
// SciPy 1.10.1 and statsmodels 0.13.5 (Debian 12 python3-scipy, python3-statsmodels), by the
// calls named beside each number. tests/core/stats_reference.py prints all of them.
#include "core/stats.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>

namespace rollout::stats {
namespace {

// |actual - expected| <= 1e-9 |expected|.
void ExpectRelative(double actual, double expected, double tolerance = 1e-9) {
  EXPECT_NEAR(actual, expected, std::fabs(expected) * tolerance) << "expected " << expected;
}

TEST(NormalDistribution, CdfMatchesScipy) {
  ExpectRelative(normal_cdf(-8.0), 6.22096057427174e-16);   // norm.cdf(-8.0)
  ExpectRelative(normal_cdf(-3.0), 0.0013498980316300933);  // norm.cdf(-3.0)
  ExpectRelative(normal_cdf(-1.96), 0.024997895148220435);  // norm.cdf(-1.96)
  ExpectRelative(normal_cdf(-0.5), 0.3085375387259869);     // norm.cdf(-0.5)
  ExpectRelative(normal_cdf(0.0), 0.5);                     // exact
  ExpectRelative(normal_cdf(0.3), 0.6179114221889526);      // norm.cdf(0.3)
  ExpectRelative(normal_cdf(1.0), 0.8413447460685429);      // norm.cdf(1.0)
  ExpectRelative(normal_cdf(2.5), 0.9937903346742238);      // norm.cdf(2.5)
}

TEST(NormalDistribution, UpperTailKeepsItsPrecision) {
  ExpectRelative(normal_sf(1.0), 0.15865525393145707);      // norm.sf(1.0)
  ExpectRelative(normal_sf(5.0), 2.866515718791933e-07);    // norm.sf(5.0)
  ExpectRelative(normal_sf(8.0), 6.22096057427174e-16);     // norm.sf(8.0)
  ExpectRelative(normal_sf(20.0), 2.7536241186061556e-89);  // norm.sf(20.0)
}

TEST(NormalDistribution, QuantileMatchesScipy) {
  ExpectRelative(normal_quantile(1e-300), -37.0470962993612);    // norm.ppf(1e-300)
  ExpectRelative(normal_quantile(1e-12), -7.034483825301131);    // norm.ppf(1e-12)
  ExpectRelative(normal_quantile(1e-05), -4.264890793922825);    // norm.ppf(1e-05)
  ExpectRelative(normal_quantile(0.001), -3.090232306167813);    // norm.ppf(0.001)
  ExpectRelative(normal_quantile(0.025), -1.9599639845400545);   // norm.ppf(0.025)
  ExpectRelative(normal_quantile(0.3), -0.5244005127080409);     // norm.ppf(0.3)
  ExpectRelative(normal_quantile(0.7), 0.5244005127080407);      // norm.ppf(0.7)
  ExpectRelative(normal_quantile(0.975), 1.959963984540054);     // norm.ppf(0.975)
  ExpectRelative(normal_quantile(0.999999), 4.753424308817087);  // norm.ppf(0.999999)
  EXPECT_EQ(normal_quantile(0.5), 0.0);
}

// Over the lower tail, where p = Phi(x) keeps its precision (near 1, a double cannot: Phi(6)
// rounds to within 1e-16 of 1), and by symmetry for the upper half.
TEST(NormalDistribution, QuantileInvertsTheCdf) {
  for (double x = -37.0; x <= 0.0; x += 0.25) {
    EXPECT_NEAR(normal_quantile(normal_cdf(x)), x, 1e-9 * std::max(1.0, std::fabs(x))) << "x = " << x;
  }
  for (double p = 0.01; p < 0.5; p += 0.01) {
    EXPECT_NEAR(normal_quantile(1.0 - p), -normal_quantile(p), 1e-9) << "p = " << p;
  }
}

TEST(NormalDistribution, QuantileOutsideTheUnitIntervalIsNaN) {
  EXPECT_TRUE(std::isnan(normal_quantile(-0.1)));
  EXPECT_TRUE(std::isnan(normal_quantile(1.1)));
  EXPECT_TRUE(std::isnan(normal_quantile(std::numeric_limits<double>::quiet_NaN())));
  EXPECT_EQ(normal_quantile(0.0), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(normal_quantile(1.0), std::numeric_limits<double>::infinity());
}

TEST(ChiSquare, SurvivalFunctionMatchesScipyForAnyDegreesOfFreedom) {
  ExpectRelative(chi_square_sf(3.84, 1), 0.05004352124870519);          // chi2.sf(3.84, 1)
  ExpectRelative(chi_square_sf(0.5, 1), 0.47950012218695337);           // chi2.sf(0.5, 1)
  ExpectRelative(chi_square_sf(10.0, 3), 0.01856613546304325);          // chi2.sf(10.0, 3)
  ExpectRelative(chi_square_sf(2.0, 5), 0.8491450360846096);            // chi2.sf(2.0, 5)
  ExpectRelative(chi_square_sf(30.0, 10), 0.000856641210775301);        // chi2.sf(30.0, 10)
  ExpectRelative(chi_square_sf(100.0, 50), 3.454931382984871e-05);      // chi2.sf(100.0, 50)
  ExpectRelative(chi_square_sf(1.0, 0.5), 0.15351359580832247);         // chi2.sf(1.0, 0.5)
  ExpectRelative(chi_square_sf(0.001, 2), 0.9995001249791693);          // chi2.sf(0.001, 2)
  ExpectRelative(chi_square_sf(60.0, 2), 9.357622968840163e-14);        // chi2.sf(60.0, 2)
  ExpectRelative(chi_square_sf(500.0, 400), 0.00048221275959343273);    // chi2.sf(500.0, 400)
  ExpectRelative(chi_square_sf(1200.0, 1000), 1.2255942330622893e-05);  // chi2.sf(1200.0, 1000)
  ExpectRelative(chi_square_sf(150.0, 1), 1.7336432457178413e-34);      // chi2.sf(150.0, 1)
}

TEST(ChiSquare, EdgesOfTheDomain) {
  EXPECT_EQ(chi_square_sf(0.0, 3), 1.0);
  EXPECT_EQ(chi_square_sf(-1.0, 3), 1.0);
  EXPECT_TRUE(std::isnan(chi_square_sf(1.0, 0)));
  EXPECT_EQ(gamma_q(2.0, std::numeric_limits<double>::infinity()), 0.0);
}

// proportions_ztest(count=[xt, xc], nobs=[nt, nc]) for z and p (pooled standard error);
// confint_proportions_2indep(xt, nt, xc, nc, method='wald', compare='diff', alpha=0.05) for the
// interval (unpooled).
TEST(CompareProportions, MatchesStatsmodels) {
  struct Case {
    int64_t nc, xc, nt, xt;
    double z, p, low, high;
  };
  const Case cases[] = {
      {10000, 1000, 10000, 1100, 2.3066347738170103, 0.021075189273797826, 0.0015040591315121105, 0.01849594086848788},
      {5000, 250, 5100, 240, -0.6878474414843806, 0.49154885715773855, -0.011324004106290095, 0.005441651165113618},
      {1000000, 100000, 1000000, 101000, 2.351805422904583, 0.01868254491261713, 0.00016661418699219748,
       0.0018333858130078042},
      {200, 1, 180, 7, 2.297650220387107, 0.021581704896312753, 0.004002011104084199, 0.06377576667369358},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << c.nc << " " << c.xc << " " << c.nt << " " << c.xt);
    const ProportionComparison r = compare_proportions(c.nc, c.xc, c.nt, c.xt, 0.95);
    ExpectRelative(r.z, c.z);
    ExpectRelative(r.p_value, c.p);
    ExpectRelative(r.ci_low, c.low);
    ExpectRelative(r.ci_high, c.high);
    const double pc = static_cast<double>(c.xc) / static_cast<double>(c.nc);
    const double pt = static_cast<double>(c.xt) / static_cast<double>(c.nt);
    EXPECT_DOUBLE_EQ(r.control_rate, pc);
    EXPECT_DOUBLE_EQ(r.treatment_rate, pt);
    EXPECT_DOUBLE_EQ(r.absolute_lift, pt - pc);
    EXPECT_DOUBLE_EQ(r.relative_lift, (pt - pc) / pc);
  }
}

TEST(CompareProportions, NoUsersGivesNaN) {
  const ProportionComparison r = compare_proportions(0, 0, 100, 10, 0.95);
  EXPECT_TRUE(std::isnan(r.control_rate));
  EXPECT_DOUBLE_EQ(r.treatment_rate, 0.1);
  EXPECT_TRUE(std::isnan(r.p_value));
  EXPECT_TRUE(std::isnan(r.ci_low));
}

TEST(CompareProportions, ZeroControlRateHasNoRelativeLift) {
  const ProportionComparison r = compare_proportions(100, 0, 100, 5, 0.95);
  EXPECT_DOUBLE_EQ(r.absolute_lift, 0.05);
  EXPECT_TRUE(std::isnan(r.relative_lift));
}

TEST(CompareProportions, IdenticalCertainRatesAreNotDifferent) {
  const ProportionComparison none = compare_proportions(100, 0, 50, 0, 0.95);
  EXPECT_EQ(none.p_value, 1.0);
  EXPECT_EQ(none.ci_low, 0.0);
  EXPECT_EQ(none.ci_high, 0.0);
}

// chisquare(observed, f_exp=[total * w / sum(weights) for w in weights]).pvalue
TEST(SampleRatio, MatchesScipyChisquare) {
  ExpectRelative(sample_ratio_p_value({5050, 4950}, {0.5, 0.5}), 0.31731050786291115);
  ExpectRelative(sample_ratio_p_value({5200, 4800}, {0.5, 0.5}), 6.334248366623988e-05);
  ExpectRelative(sample_ratio_p_value({2020, 2950, 5030}, {0.2, 0.3, 0.5}), 0.5451650606108354);
  ExpectRelative(sample_ratio_p_value({331, 340, 329}, {1, 1, 1}), 0.9021269734815165);
}

TEST(SampleRatio, ZeroWeightGroups) {
  // A group without weight leaves the degrees of freedom; users in it are a mismatch outright.
  ExpectRelative(sample_ratio_p_value({5050, 0, 4950}, {0.5, 0.0, 0.5}), 0.31731050786291115);
  EXPECT_EQ(sample_ratio_p_value({5050, 1, 4950}, {0.5, 0.0, 0.5}), 0.0);
  EXPECT_TRUE(std::isnan(sample_ratio_p_value({0, 0}, {0.5, 0.5})));
  EXPECT_TRUE(std::isnan(sample_ratio_p_value({10}, {1.0})));
}

// msprt(looks, tau=0.01, alpha=0.05) in tests/core/stats_reference.py: the paper's formula for
// the normal mixture, written in Python independently of this implementation.
TEST(SequentialTest, MatchesTheMixtureFormula) {
  SequentialTest one(0.01, 0.05);
  one.look(1000, 100, 1000, 130);
  ExpectRelative(one.p_value(), 0.588124496124422);
  ExpectRelative(one.ci_low(), -0.03272786398144774);
  ExpectRelative(one.ci_high(), 0.09272786398144774);

  SequentialTest three(0.01, 0.05);
  three.look(1000, 100, 1000, 130);
  three.look(2000, 210, 2000, 250);
  three.look(3000, 300, 3000, 390);
  ExpectRelative(three.p_value(), 0.029895014785376466);
  ExpectRelative(three.ci_low(), 0.0020140578316749855);
  ExpectRelative(three.ci_high(), 0.05700005461824967);

  SequentialTest null_like(0.01, 0.05);
  null_like.look(5000, 500, 5000, 505);
  null_like.look(10000, 1000, 10000, 1010);
  EXPECT_EQ(null_like.p_value(), 1.0);
  ExpectRelative(null_like.ci_low(), -0.011960413937290285);
  ExpectRelative(null_like.ci_high(), 0.013960413937290287);
}

TEST(SequentialTest, PValueNeverRisesAndIntervalNeverWidens) {
  SequentialTest test(0.01, 0.05);
  test.look(3000, 300, 3000, 390);
  const double p = test.p_value();
  const double low = test.ci_low();
  const double high = test.ci_high();
  test.look(4000, 400, 4000, 410);  // a later look closer to no difference
  EXPECT_EQ(test.p_value(), p);
  EXPECT_GE(test.ci_low(), low);
  EXPECT_LE(test.ci_high(), high);
}

TEST(SequentialTest, UninformativeLooksChangeNothing) {
  SequentialTest test(0.01, 0.05);
  test.look(0, 0, 100, 10);
  test.look(100, 0, 100, 0);  // no variance
  EXPECT_EQ(test.p_value(), 1.0);
  EXPECT_EQ(test.ci_low(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(test.ci_high(), std::numeric_limits<double>::infinity());
}

// The sequential p-value is always at least the fixed-horizon one at the same data: peeking
// safety is paid for in power.
TEST(SequentialTest, IsMoreConservativeThanTheFixedHorizonTest) {
  SequentialTest test(0.01, 0.05);
  test.look(10000, 1000, 10000, 1100);
  EXPECT_GT(test.p_value(), compare_proportions(10000, 1000, 10000, 1100, 0.95).p_value);
}

}  // namespace
}  // namespace rollout::stats
