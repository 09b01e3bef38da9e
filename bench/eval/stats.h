// Small statistics helpers for reports.
#pragma once

#include <span>
#include <string>
#include <vector>

namespace aircheck::eval {

/// The q-quantile (q in [0, 1]) of `v` by linear interpolation between order statistics.
/// Returns NaN for an empty vector. Takes a copy: the caller's order is kept.
double percentile(std::vector<double> v, double q);

/// Arithmetic mean; NaN for an empty vector.
double mean(const std::vector<double>& v);

/// `v` with `prec` decimals for report tables; "–" for NaN (a cell without data).
std::string format_fixed(double v, int prec = 1);

/// How alike two passages of one recording are: the signal-to-difference ratio in dB of `a`
/// against `b` at their best alignment within `max_lag` samples, after scaling to equal power:
/// -10 log10(2 (1 - rho)) for the peak normalised correlation rho (read off a parabola through
/// the best three integer lags: two cuts rarely fall on the same fraction of a sample), capped
/// at 99 dB; NaN when either is silent. 20 dB: the two differ by 1 % of their energy, a near
/// copy that no fingerprint tells apart under the noise a query carries.
double repeat_similarity_db(std::span<const float> a, std::span<const float> b, int max_lag);

}  // namespace aircheck::eval
