#include "cli/common.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "matcher/identify.h"

namespace aircheck::cli {
namespace fs = std::filesystem;

fs::path default_index_dir() {
  if (const char* e = std::getenv("AIRCHECK_INDEX"); e && *e) return e;
  if (const char* x = std::getenv("XDG_DATA_HOME"); x && *x) return fs::path(x) / "aircheck/index";
  if (const char* h = std::getenv("HOME"); h && *h)
    return fs::path(h) / ".local/share/aircheck/index";
  return "aircheck-index";
}

const dsp::Params& params() {
  static const dsp::Params p{};
  return p;
}

store::Format format() { return store::Format{params().digest(), params().describe()}; }

std::shared_ptr<store::Index> open_index(const fs::path& dir, store::OpenMode mode) {
  try {
    return store::Index::open(dir, format(), mode);
  } catch (const store::StoreError& e) {
    throw CliError(kIndexError, e.what());
  }
}

std::vector<fs::path> expand_inputs(const std::vector<std::string>& inputs,
                                    std::vector<std::string>& missing) {
  static const std::set<std::string> kExt = {
      ".wav", ".flac", ".mp3",  ".ogg", ".oga", ".opus", ".m4a", ".aac", ".mp4", ".mkv", ".webm",
      ".wma", ".aif",  ".aiff", ".mp2", ".ac3", ".ts",   ".mov", ".avi", ".wv",  ".ape"};
  std::vector<fs::path> out;
  for (const auto& in : inputs) {
    std::error_code ec;
    const fs::path p(in);
    if (fs::is_directory(p, ec)) {
      std::vector<fs::path> found;
      for (auto it = fs::recursive_directory_iterator(
               p, fs::directory_options::skip_permission_denied, ec);
           it != fs::recursive_directory_iterator(); it.increment(ec)) {
        if (ec) break;
        if (!it->is_regular_file(ec)) continue;
        std::string ext = it->path().extension().string();
        std::transform(ext.begin(), ext.end(), ext.begin(),
                       [](unsigned char c) { return std::tolower(c); });
        if (kExt.count(ext)) found.push_back(it->path());
      }
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::exists(p, ec)) {
      out.push_back(p);
    } else {
      missing.push_back(in);
    }
  }
  return out;
}

bool stderr_is_terminal() { return ::isatty(STDERR_FILENO) == 1; }

std::vector<double> parse_number_list(const std::string& text, const std::string& option,
                                      bool (*ok)(double), const std::string& what,
                                      const std::string& if_empty) {
  std::vector<double> out;
  std::size_t pos = 0;
  while (pos <= text.size()) {
    const std::size_t comma = std::min(text.find(',', pos), text.size());
    const std::string item = text.substr(pos, comma - pos);
    pos = comma + 1;
    if (item.empty()) continue;
    std::size_t used = 0;
    double v = 0;
    try {
      v = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used != item.size() || !ok(v)) {
      throw CliError(kUsage, option + ": '" + item + "' is not " + what);
    }
    out.push_back(v);
  }
  if (out.empty()) throw CliError(kUsage, option + ": " + if_empty);
  return out;
}

std::vector<double> parse_speeds(const std::string& text, const std::string& option) {
  return parse_number_list(
      text, option, [](double v) { return v >= 0.8 && v <= 1.25; },
      "a playback speed in [0.8, 1.25]",
      "no speed given (e.g. 1 or " + std::string(kDefaultSpeeds) + ")");
}

std::string speeds_help() {
  const matcher::IdentifyOptions o;
  char short_s[32];
  std::snprintf(short_s, sizeof short_s, "%g", o.short_query_s);
  return "playback speeds tried until one is decided (default " + std::string(kDefaultSpeeds) +
         "; queries under " + short_s + " s screen the first " +
         std::to_string(o.short_query_speeds) + "; 1 = normal speed only)";
}

}  // namespace aircheck::cli
