// Small statistics helpers for reports.
#pragma once

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

}  // namespace aircheck::eval
