// PNG line plots through gnuplot (Debian: gnuplot-nox), run as a subprocess.
#pragma once

#include <filesystem>
#include <string>
#include <utility>
#include <vector>

namespace aircheck::eval {

struct PlotSeries {
  std::string name;
  std::vector<std::pair<double, double>> points;  ///< (x, y), plotted in this order
  bool dashed = false;
  int color = 0;  ///< gnuplot line colour index (1, 2, ...); 0 = by position
};

struct PlotSpec {
  std::string title, xlabel, ylabel;
  double ymin = 0, ymax = 100;
  std::vector<std::pair<double, std::string>> xtics;  ///< custom tick labels; empty = auto
};

/// Writes `png` (800x500) and, beside it, the gnuplot script `png`.gp that made it (with its
/// data inline). Returns false, after a warning on stderr, when gnuplot is missing or fails;
/// the script is kept either way. Thread-safe; blocks until gnuplot exits.
bool plot_lines(const std::filesystem::path& png, const PlotSpec& spec,
                const std::vector<PlotSeries>& series);

}  // namespace aircheck::eval
