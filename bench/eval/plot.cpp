#include "bench/eval/plot.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cerrno>
#include <fstream>
#include <iostream>
#include <string>

extern char** environ;

namespace aircheck::eval {
namespace {

std::string quoted(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

bool run_gnuplot(const std::filesystem::path& script) {
  const std::string path = script.string();
  const char* argv[] = {"gnuplot", path.c_str(), nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc =
      posix_spawnp(&pid, "gnuplot", &fa, nullptr, const_cast<char* const*>(argv), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return false;
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return false;
  }
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

}  // namespace

bool plot_lines(const std::filesystem::path& png, const PlotSpec& spec,
                const std::vector<PlotSeries>& series) {
  auto script = png;
  script += ".gp";
  {
    std::ofstream gp(script);
    for (std::size_t i = 0; i < series.size(); ++i) {
      gp << "$d" << i << " << EOD\n";
      for (const auto& [x, y] : series[i].points) gp << x << " " << y << "\n";
      gp << "EOD\n";
    }
    gp << "set terminal pngcairo size 800,500 font 'sans,10'\n"
       << "set output " << quoted(png.string()) << "\n"
       << "set title " << quoted(spec.title) << "\n"
       << "set xlabel " << quoted(spec.xlabel) << "\n"
       << "set ylabel " << quoted(spec.ylabel) << "\n"
       << "set yrange [" << spec.ymin << ":" << spec.ymax << "]\n"
       << "set grid\nset key outside right\n";
    if (!spec.xtics.empty()) {
      gp << "set xtics (";
      for (std::size_t i = 0; i < spec.xtics.size(); ++i) {
        gp << (i ? ", " : "") << quoted(spec.xtics[i].second) << " " << spec.xtics[i].first;
      }
      gp << ")\n";
    }
    gp << "plot ";
    for (std::size_t i = 0; i < series.size(); ++i) {
      gp << (i ? ", \\\n     " : "") << "$d" << i << " using 1:2 with linespoints lw 2 pt 7 "
         << (series[i].dashed ? "dt 2 " : "")
         << (series[i].color > 0 ? "lc " + std::to_string(series[i].color) + " " : std::string())
         << "title " << quoted(series[i].name);
    }
    gp << "\n";
    if (!gp) {
      std::cerr << "warning: cannot write " << script.string() << "\n";
      return false;
    }
  }
  if (series.empty()) return false;
  if (!run_gnuplot(script)) {
    std::cerr << "warning: gnuplot failed or is not installed; " << script.string()
              << " is left for running by hand\n";
    return false;
  }
  return true;
}

}  // namespace aircheck::eval
