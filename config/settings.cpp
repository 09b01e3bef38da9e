#include "config/settings.h"

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdangling-pointer"
#endif
#include <yaml-cpp/yaml.h>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <optional>
#include <set>
#include <sstream>
#include <thread>

namespace aircheck::config {

namespace {

std::string place(const std::string& file, int line, int column) {
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

/// Walks a YAML tree, turning every problem into a ConfigError at the offending node.
class Reader {
 public:
  explicit Reader(std::string file) : file_(std::move(file)) {}

  [[noreturn]] void fail(const YAML::Node& at, const std::string& message) const {
    const YAML::Mark m = at.Mark();
    throw ConfigError(file_, m.line + 1, m.column + 1, message);
  }
  [[noreturn]] void fail(const YAML::Mark& m, const std::string& message) const {
    throw ConfigError(file_, m.line + 1, m.column + 1, message);
  }

  /// Calls `on_key(key_text, key_node, value_node)` for every entry of mapping `node`,
  /// rejecting non-mappings, duplicate keys and keys outside `allowed`.
  void each_key(const YAML::Node& node, const std::string& what,
                std::initializer_list<const char*> allowed,
                const std::function<void(const std::string&, const YAML::Node&, const YAML::Node&)>&
                    on_key) const {
    if (!node.IsMap()) fail(node, what + ": expected a mapping of keys to values");
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
      // A copy (a handle): the iterator's -> returns a temporary, and a reference to its
      // member would outlive it.
      const YAML::Node key = it->first;
      if (!key.IsScalar()) fail(key, what + ": expected a plain key");
      const std::string k = key.Scalar();
      if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return k == a; }) ==
          allowed.end()) {
        std::string list;
        for (const char* a : allowed) list += std::string(list.empty() ? "" : ", ") + a;
        fail(key, "unknown key '" + k + "' in " + what + " (expected one of: " + list + ")");
      }
      if (!seen.insert(k).second) fail(key, "duplicate key '" + k + "' in " + what);
      on_key(k, key, it->second);
    }
  }

  std::string scalar(const YAML::Node& v, const std::string& what) const {
    if (!v.IsScalar()) fail(v, what + ": expected a single value, got a " + shape(v));
    return v.Scalar();
  }

  std::string text(const YAML::Node& v, const std::string& what) const {
    std::string s = scalar(v, what);
    if (s.empty()) fail(v, what + ": expected a non-empty text");
    return s;
  }

  bool boolean(const YAML::Node& v, const std::string& what) const {
    const std::string s = scalar(v, what);
    if (s == "true" || s == "yes" || s == "on") return true;
    if (s == "false" || s == "no" || s == "off") return false;
    fail(v, what + ": expected true or false, got '" + s + "'");
  }

  double number(const YAML::Node& v, const std::string& what, double lo, double hi) const {
    const std::string s = scalar(v, what);
    double x = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (ec != std::errc() || end != s.data() + s.size() || !std::isfinite(x)) {
      fail(v, what + ": expected a number, got '" + s + "'");
    }
    if (x < lo || x > hi) {
      fail(v, what + ": " + s + " is out of range (expected " + fmt(lo) + " to " + fmt(hi) + ")");
    }
    return x;
  }

  long integer(const YAML::Node& v, const std::string& what, long lo, long hi) const {
    const std::string s = scalar(v, what);
    long x = 0;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), x);
    if (ec != std::errc() || end != s.data() + s.size()) {
      fail(v, what + ": expected a whole number, got '" + s + "'");
    }
    if (x < lo || x > hi) {
      fail(v, what + ": " + s + " is out of range (expected " + std::to_string(lo) + " to " +
                  std::to_string(hi) + ")");
    }
    return x;
  }

  template <class E>
  E choice(const YAML::Node& v, const std::string& what,
           std::initializer_list<std::pair<const char*, E>> options) const {
    const std::string s = scalar(v, what);
    std::string list;
    for (const auto& [name, value] : options) {
      if (s == name) return value;
      list += std::string(list.empty() ? "" : ", ") + name;
    }
    fail(v, what + ": expected one of " + list + ", got '" + s + "'");
  }

  const std::string& file() const { return file_; }

 private:
  static std::string shape(const YAML::Node& v) {
    if (v.IsMap()) return "mapping";
    if (v.IsSequence()) return "list";
    return "null";
  }
  static std::string fmt(double x) {
    std::ostringstream os;
    os << x;
    return os.str();
  }
  std::string file_;
};

std::vector<double> read_speeds(const Reader& r, const YAML::Node& v, const std::string& w) {
  if (!v.IsSequence()) r.fail(v, w + ": expected a list of playback speeds, e.g. [0.97, 1.03]");
  std::vector<double> out;
  for (const YAML::Node& x : v) {
    const double s = r.number(x, w, 0.9, 1.1);
    if (std::abs(s - 1.0) < 0.005) {
      r.fail(x, w + ": 1 is normal speed, which is always matched; list only other speeds");
    }
    for (const double o : out) {
      if (std::abs(o - s) < 0.005) r.fail(x, w + ": speeds closer than 0.005 to each other");
    }
    out.push_back(s);
  }
  return out;
}

void read_profile_fields(const Reader& r, const YAML::Node& node, const std::string& what,
                         MatchProfile& p) {
  r.each_key(node, what,
             {"min_votes", "min_confidence", "confirm_windows", "end_windows", "min_span_s",
              "window_s", "hop_s", "speeds", "rescaled_speeds", "word_check", "half_step",
              "early_pairs", "follow_speed", "opening_lines"},
             [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
               const std::string w = what + "." + k;
               if (k == "min_votes")
                 p.min_votes = static_cast<uint32_t>(r.integer(v, w, 1, 100000));
               else if (k == "min_confidence")
                 p.min_confidence = static_cast<float>(r.number(v, w, 0, 1));
               else if (k == "confirm_windows")
                 p.confirm_windows = static_cast<int>(r.integer(v, w, 1, 100));
               else if (k == "end_windows")
                 p.end_windows = static_cast<int>(r.integer(v, w, 1, 100));
               else if (k == "min_span_s")
                 p.min_span_s = r.number(v, w, 0, 600);
               else if (k == "window_s")
                 p.window_s = r.number(v, w, 1, 60);
               else if (k == "hop_s")
                 p.hop_s = r.number(v, w, 0.1, 60);
               else if (k == "speeds")
                 p.speeds = read_speeds(r, v, w);
               else if (k == "rescaled_speeds")
                 p.rescaled_speeds = read_speeds(r, v, w);
               else if (k == "word_check")
                 p.word_check = r.boolean(v, w);
               else if (k == "half_step")
                 p.half_step = r.boolean(v, w);
               else if (k == "early_pairs")
                 p.early_pairs = r.boolean(v, w);
               else if (k == "follow_speed")
                 p.follow_speed = r.boolean(v, w);
               else if (k == "opening_lines")
                 p.opening_lines = r.boolean(v, w);
             });
  if (p.hop_s > p.window_s) {
    r.fail(node, what + ": hop_s (" + std::to_string(p.hop_s) + ") must not exceed window_s (" +
                     std::to_string(p.window_s) + ")");
  }
  if (p.min_span_s > p.window_s * (p.confirm_windows + 1)) {
    r.fail(node,
           what + ": min_span_s cannot be reached within confirm_windows windows of window_s");
  }
}

void read_silence(const Reader& r, const YAML::Node& node, const std::string& what,
                  SilenceSettings& s) {
  r.each_key(node, what, {"enabled", "threshold_dbfs", "min_duration_s"},
             [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
               const std::string w = what + "." + k;
               if (k == "enabled")
                 s.enabled = r.boolean(v, w);
               else if (k == "threshold_dbfs")
                 s.threshold_dbfs = r.number(v, w, -150, 0);
               else if (k == "min_duration_s")
                 s.min_duration_s = r.number(v, w, 0.1, 86400);
             });
}

void read_evidence(const Reader& r, const YAML::Node& node, EvidenceSettings& e) {
  r.each_key(node, "evidence", {"enabled", "dir", "format", "pre_roll_s", "max_s"},
             [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
               const std::string w = "evidence." + k;
               if (k == "enabled")
                 e.enabled = r.boolean(v, w);
               else if (k == "dir")
                 e.dir = r.text(v, w);
               else if (k == "format") {
                 e.format = r.choice<std::string>(v, w, {{"ogg", "ogg"}, {"flac", "flac"}});
               } else if (k == "pre_roll_s")
                 e.pre_roll_s = r.number(v, w, 0, 60);
               else if (k == "max_s")
                 e.max_s = r.number(v, w, 1, 3600);
             });
  if (e.enabled && e.dir.empty()) r.fail(node, "evidence: 'dir' is required when enabled is true");
  if (e.pre_roll_s >= e.max_s) {
    r.fail(node, "evidence: pre_roll_s (" + std::to_string(e.pre_roll_s) +
                     ") must be less than max_s (" + std::to_string(e.max_s) +
                     "), which includes it");
  }
}

void read_sinks(const Reader& r, const YAML::Node& node, SinkSettings& s) {
  r.each_key(node, "sinks", {"queue", "journald", "jsonl", "stdout"},
             [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
               if (k == "queue") {
                 s.queue = static_cast<std::size_t>(r.integer(v, "sinks.queue", 16, 10000000));
               } else if (k == "journald") {
                 r.each_key(v, "sinks.journald", {"enabled"},
                            [&](const std::string&, const YAML::Node&, const YAML::Node& x) {
                              s.journald = r.boolean(x, "sinks.journald.enabled");
                            });
               } else if (k == "jsonl") {
                 r.each_key(v, "sinks.jsonl", {"path", "fsync", "fsync_interval_s"},
                            [&](const std::string& jk, const YAML::Node&, const YAML::Node& x) {
                              const std::string w = "sinks.jsonl." + jk;
                              if (jk == "path")
                                s.jsonl_path = r.text(x, w);
                              else if (jk == "fsync") {
                                s.jsonl_fsync =
                                    r.choice<FsyncPolicy>(x, w,
                                                          {{"never", FsyncPolicy::never},
                                                           {"interval", FsyncPolicy::interval},
                                                           {"always", FsyncPolicy::always}});
                              } else if (jk == "fsync_interval_s") {
                                s.jsonl_fsync_interval_s = r.number(x, w, 0.01, 3600);
                              }
                            });
               } else if (k == "stdout") {
                 r.each_key(v, "sinks.stdout", {"format"},
                            [&](const std::string&, const YAML::Node&, const YAML::Node& x) {
                              s.console = r.choice<ConsoleFormat>(
                                  x, "sinks.stdout.format",
                                  {{"text", ConsoleFormat::text}, {"json", ConsoleFormat::json}});
                            });
               }
             });
}

void read_source(const Reader& r, const YAML::Node& node, std::size_t i, Settings& st,
                 std::set<std::string>& ids) {
  const std::string what = "sources[" + std::to_string(i) + "]";
  SourceSettings src;
  src.silence = st.silence;
  std::optional<YAML::Node> profile_node, matcher_node, id_node, silence_node;
  r.each_key(node, what,
             {"id", "kind", "address", "options", "profile", "matcher", "progress_interval_s",
              "silence", "evidence"},
             [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
               const std::string w = what + "." + k;
               if (k == "id") {
                 src.id = r.text(v, w);
                 id_node.emplace(v);
               } else if (k == "kind") {
                 src.kind = r.choice<std::string>(v, w,
                                                  {{"file", "file"},
                                                   {"alsa", "alsa"},
                                                   {"portaudio", "portaudio"},
                                                   {"stream", "stream"}});
               } else if (k == "address") {
                 src.address = r.text(v, w);
               } else if (k == "options") {
                 if (!v.IsMap()) r.fail(v, w + ": expected a mapping of option names to values");
                 for (auto it = v.begin(); it != v.end(); ++it) {
                   const std::string key = r.text(it->first, w + " key");
                   src.options[key] = r.scalar(it->second, w + "." + key);
                 }
               } else if (k == "profile") {
                 profile_node.emplace(v);
                 r.text(v, w);
               } else if (k == "matcher") {
                 matcher_node.emplace(v);
               } else if (k == "progress_interval_s") {
                 src.progress_interval_s = r.number(v, w, 0, 86400);
               } else if (k == "silence") {
                 silence_node.emplace(v);
               } else if (k == "evidence") {
                 src.evidence = r.boolean(v, w);
               }
             });
  if (src.id.empty()) r.fail(node, what + ": missing required key 'id'");
  if (src.kind.empty()) r.fail(node, what + ": missing required key 'kind'");
  if (src.address.empty()) r.fail(node, what + ": missing required key 'address'");
  if (std::string bad = check_source_id(src.id); !bad.empty())
    r.fail(*id_node, what + ".id: " + bad);
  if (!ids.insert(src.id).second)
    r.fail(*id_node, what + ".id: duplicate source id '" + src.id + "'");
  const std::string pname = profile_node ? profile_node->Scalar() : "default";
  const auto p = st.profiles.find(pname);
  if (p == st.profiles.end()) {
    std::string list;
    for (const auto& [n, _] : st.profiles) list += std::string(list.empty() ? "" : ", ") + n;
    r.fail(*profile_node,
           what + ".profile: unknown profile '" + pname + "' (defined: " + list + ")");
  }
  src.match = p->second;
  if (matcher_node) read_profile_fields(r, *matcher_node, what + ".matcher", src.match);
  if (silence_node) read_silence(r, *silence_node, what + ".silence", src.silence);
  if (src.evidence && !st.evidence.enabled) {
    r.fail(node, what + ".evidence: needs the top-level evidence section with enabled: true");
  }
  st.sources.push_back(std::move(src));
}

Settings parse_root(const Reader& r, const YAML::Node& root) {
  Settings st = default_settings();
  st.file = r.file();
  if (!root || root.IsNull())
    r.fail(YAML::Mark(), "the file is empty (expected at least 'index:')");
  // Profiles and top-level defaults first: sources refer to them.
  std::optional<YAML::Node> sources;
  bool have_index = false;
  r.each_key(root, "the top level",
             {"index", "threads", "status_interval_s", "profiles", "silence", "evidence", "sinks",
              "sources"},
             [&](const std::string& k, const YAML::Node&, const YAML::Node& v) {
               if (k == "index") {
                 st.index = r.text(v, "index");
                 have_index = true;
               } else if (k == "threads") {
                 if (v.IsScalar() && v.Scalar() == "auto")
                   st.threads = 0;
                 else
                   st.threads = static_cast<unsigned>(r.integer(v, "threads (or 'auto')", 1, 1024));
               } else if (k == "status_interval_s") {
                 st.status_interval_s = r.number(v, "status_interval_s", 0.5, 3600);
               } else if (k == "profiles") {
                 if (!v.IsMap())
                   r.fail(v, "profiles: expected a mapping of profile names to settings");
                 for (auto it = v.begin(); it != v.end(); ++it) {
                   const std::string name = r.text(it->first, "profile name");
                   MatchProfile p;
                   p.name = name;
                   read_profile_fields(r, it->second, "profiles." + name, p);
                   st.profiles[name] = p;
                 }
               } else if (k == "silence") {
                 read_silence(r, v, "silence", st.silence);
               } else if (k == "evidence") {
                 read_evidence(r, v, st.evidence);
               } else if (k == "sinks") {
                 read_sinks(r, v, st.sinks);
               } else if (k == "sources") {
                 sources.emplace(v);
               }
             });
  if (!have_index) r.fail(root, "missing required key 'index' (the index folder)");
  if (sources && !sources->IsNull()) {
    if (!sources->IsSequence()) r.fail(*sources, "sources: expected a list of sources");
    std::set<std::string> ids;
    for (std::size_t i = 0; i < sources->size(); ++i) read_source(r, (*sources)[i], i, st, ids);
  }
  return st;
}

}  // namespace

ConfigError::ConfigError(std::string file, int line, int column, const std::string& message)
    : std::runtime_error(place(file, line, column) + ": " + message),
      file_(std::move(file)),
      line_(line),
      column_(column) {}

unsigned Settings::worker_threads() const {
  if (threads > 0) return threads;
  return std::max(1u, std::thread::hardware_concurrency());
}

const SourceSettings* Settings::source(const std::string& id) const {
  for (const auto& s : sources) {
    if (s.id == id) return &s;
  }
  return nullptr;
}

Settings default_settings() {
  Settings st;
  st.profiles["default"] = MatchProfile{};
  return st;
}

std::string check_source_id(const std::string& id) {
  if (id.empty()) return "a source id must not be empty";
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    if (!ok) return "source id '" + id + "' may only hold letters, digits, '_', '-' and '.'";
  }
  return "";
}

Settings parse_settings(const std::string& text, const std::string& name) {
  const Reader r(name);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    r.fail(e.mark, "YAML syntax error: " + e.msg);
  }
  return parse_root(r, root);
}

Settings load_settings(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path, 0, 0, "cannot open the configuration file for reading");
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) throw ConfigError(path, 0, 0, "read error");
  return parse_settings(text.str(), path);
}

}  // namespace aircheck::config
