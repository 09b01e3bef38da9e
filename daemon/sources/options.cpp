#include "daemon/sources/options.h"

#include <time.h>

#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <set>
#include <stdexcept>

namespace aircheck::daemon::sources {

namespace {

const char* kind_name(SourceKind k) {
  switch (k) {
    case SourceKind::file:
      return "file";
    case SourceKind::alsa:
      return "alsa";
    case SourceKind::portaudio:
      return "pa";
    case SourceKind::stream:
      return "stream";
  }
  return "?";
}

[[noreturn]] void bad(const SourceSpec& spec, const std::string& what) {
  throw std::invalid_argument("source '" + spec.id + "' (" + kind_name(spec.kind) + ":" +
                              spec.address + "): " + what);
}

const std::string* find(const SourceSpec& spec, const std::string& key) {
  const auto it = spec.options.find(key);
  return it == spec.options.end() ? nullptr : &it->second;
}

}  // namespace

double option_double(const SourceSpec& spec, const std::string& key, double fallback, double lo,
                     double hi) {
  const std::string* v = find(spec, key);
  if (!v) return fallback;
  char* end = nullptr;
  errno = 0;
  const double d = std::strtod(v->c_str(), &end);
  if (v->empty() || *end != '\0' || errno != 0 || !std::isfinite(d) || d < lo || d > hi) {
    bad(spec, "option " + key + "=" + *v + ": expected a number from " + std::to_string(lo) +
                  " to " + std::to_string(hi));
  }
  return d;
}

long option_int(const SourceSpec& spec, const std::string& key, long fallback, long lo, long hi) {
  const std::string* v = find(spec, key);
  if (!v) return fallback;
  long n = 0;
  const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (v->empty() || ec != std::errc{} || p != v->data() + v->size() || n < lo || n > hi) {
    bad(spec, "option " + key + "=" + *v + ": expected an integer from " + std::to_string(lo) +
                  " to " + std::to_string(hi));
  }
  return n;
}

std::string option_string(const SourceSpec& spec, const std::string& key,
                          const std::string& fallback) {
  const std::string* v = find(spec, key);
  return v ? *v : fallback;
}

double parse_utc(std::string_view text) {
  const std::string s(text);
  int y = 0, mo = 0, d = 0, h = 0, mi = 0, sec = 0, used = 0;
  const auto fail = [&]() -> double {
    throw std::invalid_argument("'" + s +
                                "' is not an ISO 8601 UTC time: expected "
                                "YYYY-MM-DDTHH:MM:SS[.fff] followed by Z or +HH:MM");
  };
  if (std::sscanf(s.c_str(), "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &used) != 6 ||
      used != 19) {
    return fail();
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60) return fail();
  std::size_t i = 19;
  double frac = 0;
  if (i < s.size() && s[i] == '.') {
    double scale = 0.1;
    ++i;
    const std::size_t digits = i;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      frac += (s[i] - '0') * scale;
      scale /= 10;
      ++i;
    }
    if (i == digits) return fail();
  }
  long offset = 0;
  if (i < s.size() && s[i] == 'Z') {
    ++i;
  } else if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    int oh = 0, om = 0, n = 0;
    if (std::sscanf(s.c_str() + i + 1, "%2d:%2d%n", &oh, &om, &n) != 2 || n != 5 || oh > 23 ||
        om > 59) {
      return fail();
    }
    offset = (s[i] == '+' ? 1 : -1) * (oh * 3600L + om * 60L);
    i += 6;
  } else {
    return fail();
  }
  if (i != s.size()) return fail();
  tm t{};
  t.tm_year = y - 1900;
  t.tm_mon = mo - 1;
  t.tm_mday = d;
  t.tm_hour = h;
  t.tm_min = mi;
  t.tm_sec = sec;
  const time_t u = timegm(&t);
  return static_cast<double>(u - offset) + frac;
}

void validate_options(const SourceSpec& spec) {
  std::set<std::string> allowed{"buffer_s"};
  switch (spec.kind) {
    case SourceKind::file:
      allowed.insert({"pace", "start"});
      break;
    case SourceKind::alsa:
      allowed.insert({"rate"});
      break;
    case SourceKind::portaudio:
      allowed.insert({"rate"});
      break;
    case SourceKind::stream:
      allowed.insert({"program", "stall_s", "gap_fill_s"});
      break;
  }
  for (const auto& [key, value] : spec.options) {
    if (!allowed.count(key)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      bad(spec, "unknown option '" + key + "': expected one of " + list);
    }
  }
  option_double(spec, "buffer_s", 30, 0.1, 3600);
  switch (spec.kind) {
    case SourceKind::file: {
      const std::string pace = option_string(spec, "pace", "realtime");
      if (pace != "realtime" && pace != "fast") {
        bad(spec, "option pace=" + pace + ": expected realtime or fast");
      }
      if (const std::string* start = find(spec, "start")) {
        try {
          parse_utc(*start);
        } catch (const std::invalid_argument& e) {
          bad(spec, std::string("option start: ") + e.what());
        }
      }
      break;
    }
    case SourceKind::alsa:
    case SourceKind::portaudio:
      option_int(spec, "rate", 48000, 4000, 384000);
      break;
    case SourceKind::stream:
      option_int(spec, "program", -1, -1, 65535);
      option_double(spec, "stall_s", 10, 0.1, 3600);
      option_double(spec, "gap_fill_s", 2, 0, 10);
      break;
  }
  if (spec.address.empty()) bad(spec, "empty address");
}

}  // namespace aircheck::daemon::sources
