#include "bench/eval/param_overrides.h"

#include <charconv>
#include <cmath>
#include <sstream>
#include <stdexcept>
#include <variant>

namespace aircheck::eval {
namespace {

using Field = std::variant<int dsp::Params::*, float dsp::Params::*>;

struct Entry {
  const char* key;
  Field field;
};

// Every tunable field of dsp::Params, in declaration order.
constexpr Entry kFields[] = {
    {"sample_rate", &dsp::Params::sample_rate},
    {"fft_size", &dsp::Params::fft_size},
    {"hop", &dsp::Params::hop},
    {"min_bin", &dsp::Params::min_bin},
    {"max_bin", &dsp::Params::max_bin},
    {"peak_bins", &dsp::Params::peak_bins},
    {"peak_frames", &dsp::Params::peak_frames},
    {"band_tc_s", &dsp::Params::band_tc_s},
    {"band_weight", &dsp::Params::band_weight},
    {"min_level", &dsp::Params::min_level},
    {"density_frames", &dsp::Params::density_frames},
    {"index_peaks", &dsp::Params::index_peaks},
    {"query_peaks", &dsp::Params::query_peaks},
    {"dt_min", &dsp::Params::dt_min},
    {"dt_max", &dsp::Params::dt_max},
    {"df_max", &dsp::Params::df_max},
    {"index_fanout", &dsp::Params::index_fanout},
    {"query_fanout", &dsp::Params::query_fanout},
};

std::string allowed_keys() {
  std::string s;
  for (const auto& e : kFields) {
    if (!s.empty()) s += ", ";
    s += e.key;
  }
  return s;
}

[[noreturn]] void bad(std::string_view assignment, const std::string& why) {
  throw std::invalid_argument("fingerprint parameter '" + std::string(assignment) + "': " + why);
}

}  // namespace

const std::vector<std::string>& param_keys() {
  static const std::vector<std::string> keys = [] {
    std::vector<std::string> v;
    for (const auto& e : kFields) v.emplace_back(e.key);
    return v;
  }();
  return keys;
}

void apply_override(dsp::Params& p, std::string_view assignment) {
  const auto eq = assignment.find('=');
  if (eq == std::string_view::npos) bad(assignment, "expected KEY=VALUE");
  const std::string_view key = assignment.substr(0, eq);
  const std::string_view value = assignment.substr(eq + 1);
  const Entry* entry = nullptr;
  for (const auto& e : kFields) {
    if (key == e.key) entry = &e;
  }
  if (entry == nullptr) {
    bad(assignment, "unknown key '" + std::string(key) + "'; allowed keys: " + allowed_keys());
  }
  const char* first = value.data();
  const char* last = value.data() + value.size();
  if (const auto* i = std::get_if<int dsp::Params::*>(&entry->field)) {
    int v = 0;
    const auto r = std::from_chars(first, last, v);
    if (value.empty() || r.ec != std::errc() || r.ptr != last) {
      bad(assignment, std::string(key) + " takes an integer, not '" + std::string(value) + "'");
    }
    p.*(*i) = v;
  } else {
    float v = 0;
    const auto r = std::from_chars(first, last, v);
    if (value.empty() || r.ec != std::errc() || r.ptr != last || !std::isfinite(v)) {
      bad(assignment,
          std::string(key) + " takes a decimal number, not '" + std::string(value) + "'");
    }
    p.*std::get<float dsp::Params::*>(entry->field) = v;
  }
}

dsp::Params with_overrides(dsp::Params base, const std::vector<std::string>& assignments) {
  for (const auto& a : assignments) apply_override(base, a);
  base.validate();
  return base;
}

std::string describe_query_side(const dsp::Params& p) {
  std::ostringstream s;
  s << "query_peaks=" << p.query_peaks << " query_fanout=" << p.query_fanout;
  return s.str();
}

}  // namespace aircheck::eval
