// Operational settings of aircheckd: one YAML file -> a plain, validated, immutable Settings.
//
// Everything here is operational (paths, sources, thresholds, sinks). Fingerprint-format
// parameters are not: they live in dsp::Params and are bound to the index.
//
// The file format (every key optional unless marked; unknown keys are errors):
//
//   index: /var/lib/aircheck/index        # required: the index folder
//   threads: auto                         # worker threads: auto (one per core) or 1..1024
//   status_interval_s: 10                 # sd_notify STATUS= refresh, in seconds
//   profiles:                             # named matcher profiles; "default" always exists
//     music: {min_votes: 8, min_confidence: 0.999, confirm_windows: 1, end_windows: 2,
//             min_span_s: 4, window_s: 6, hop_s: 1}
//   silence: {enabled: true, threshold_dbfs: -50, min_duration_s: 5}
//   evidence: {enabled: false, dir: /var/lib/aircheck/clips, format: ogg,   # ogg | flac
//              pre_roll_s: 3, max_s: 120}      # pre_roll_s 0..60 < max_s 1..3600
//   sinks:
//     queue: 4096                         # events buffered per sink before dropping
//     journald: {enabled: true}
//     jsonl: {path: /var/log/aircheck/events.jsonl, fsync: interval, fsync_interval_s: 1}
//     stdout: {format: text}              # text | json; used with --foreground only
//   sources:
//     - id: fm1                           # required, [A-Za-z0-9_.-]+, unique
//       kind: alsa                        # required: file | alsa | portaudio | stream
//       address: "plughw:1,0"             # required: path, PCM, device or URL
//       options: {pace: fast}             # kind-specific, passed to the source as text
//       profile: music                    # a name from profiles (default: "default")
//       matcher: {min_votes: 8}           # per-source overrides of the profile's fields
//       progress_interval_s: 10           # airing_progress period; 0 = off
//       silence: {threshold_dbfs: -45}    # per-source overrides of the silence settings
//       evidence: true                    # write clips for this source (needs evidence.dir)
//
// Errors name the place: "FILE:LINE:COL: what is wrong (expected ...)".
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace aircheck::config {

/// A bad configuration. what() is "FILE:LINE:COL: message"; line and column are 1-based
/// (0 when the error has no place in a file, e.g. a bad command-line value).
class ConfigError : public std::runtime_error {
 public:
  ConfigError(std::string file, int line, int column, const std::string& message);
  const std::string& file() const { return file_; }
  int line() const { return line_; }
  int column() const { return column_; }

 private:
  std::string file_;
  int line_;
  int column_;
};

/// Matcher and decision thresholds, per content type (music vs short spots) or per source.
struct MatchProfile {
  std::string name = "default";
  uint32_t min_votes = 8;  ///< agreeing hashes a window needs to count as a match
  /// Matcher confidence a window needs: 1 - probability that chance explains the votes.
  float min_confidence = 0.999f;
  int confirm_windows = 1;  ///< consecutive matching windows before airing_start
  int end_windows = 2;      ///< consecutive windows without the track before airing_end
  /// Matched span (first to last evidence: hashes, or sub-band words confirming them), in
  /// seconds. A stream's hashes are final 0.37 s sooner than a file's (dsp::Params::streaming()),
  /// so a window decided at the same point of the audio holds 0.37 s less of it: 1.6 s there is
  /// what 2 s was before (bench/RESULTS.md, "Lines per track").
  double min_span_s = 1.6;
  double window_s = 6.0;  ///< length of the matching window, in seconds
  double hop_s = 1.0;     ///< advance of the matching window, in seconds
  /// Playback speeds matched besides normal speed, each on its own resampled copy of the
  /// audio (e.g. [0.97, 1.03]: stations that speed tracks up or down by more than the ~2 %
  /// that normal-speed matching follows). Each one costs about as much as matching itself.
  std::vector<double> speeds;
  /// Playback speeds matched besides normal speed at a fraction of the cost of `speeds`: the
  /// normal-speed hashes rescaled to each speed (bins divided by it, times multiplied; no
  /// resampling, no second fingerprint), and only hashes with few postings looked up. The
  /// default finds plays 1.5-3.5 % off normal speed for about 1.25x the CPU; [] turns it off.
  /// A speed within 0.01 of one in `speeds` is left out (that lane sees the same plays).
  std::vector<double> rescaled_speeds = {0.98, 1.02};
  /// Confirm a candidate the hashes do not decide yet by the sub-band words (the index's second
  /// fingerprint) along its line: airings open 1-2 s sooner (daemon/word_change.h).
  bool word_check = true;
  /// After a window in which a track not on air is a likely but undecided candidate (a play's
  /// first seconds), match one more window half a hop later; it reaches the decision only if
  /// it opens an airing. Plays open up to half a hop sooner for about one window more around
  /// each start.
  bool half_step = true;
  /// Early pairs (dsp::Params::query_early_dt): a window is matched as soon as its pairs up to
  /// 0.5 s long are final, instead of all of them (up to 1 s), the rest of its last half
  /// second's pairs reaching the windows after it. A window is decided 0.5 s sooner on less
  /// evidence: over the evaluation programmes plays are announced 0.1 s sooner at the median.
  bool early_pairs = true;
  /// Follow a play off normal speed at its own speed: when a candidate is measured more than
  /// 1 % off normal speed (in a rescaled lane, or along a sloped line), the source's last
  /// seconds are resampled to undo that speed and fingerprinted, and a lane at that speed is
  /// matched beside the others for as long as candidates at that speed keep coming (one such
  /// lane per source). Plays off speed are then matched from nearly all their hashes, as at
  /// normal speed, not only from the rarer rescaled ones.
  bool follow_speed = true;
  /// A candidate whose line opens its track (its first agreeing hash at most the decision's
  /// snap_s into the track) passes the confidence rule with as much less confidence as such
  /// lines are fewer than all (track, offset) cells of the index: chance reaches one of them
  /// that much less often. Plays whose intro is under speech are announced sooner.
  bool opening_lines = true;
  friend bool operator==(const MatchProfile&, const MatchProfile&) = default;
};

struct SilenceSettings {
  bool enabled = true;
  double threshold_dbfs = -50.0;  ///< below this RMS level, in dBFS, audio counts as silent
  double min_duration_s = 5.0;    ///< silent for at least this long, in seconds, to report
  friend bool operator==(const SilenceSettings&, const SilenceSettings&) = default;
};

struct EvidenceSettings {
  bool enabled = false;
  std::string dir;             ///< folder for clips; required when enabled
  std::string format = "ogg";  ///< "ogg" (Ogg/Opus, files named .opus) or "flac"
  double pre_roll_s = 3.0;     ///< audio kept before an airing's start, in seconds (< max_s)
  double max_s = 120.0;        ///< longest clip, in seconds (pre-roll included)
  friend bool operator==(const EvidenceSettings&, const EvidenceSettings&) = default;
};

/// One source as configured. `kind` is one of "file", "alsa", "portaudio", "stream".
struct SourceSettings {
  std::string id;
  std::string kind;
  std::string address;
  std::map<std::string, std::string> options;
  MatchProfile match;              ///< the profile with this source's overrides applied
  double progress_interval_s = 0;  ///< airing_progress period, in seconds; 0 = off
  SilenceSettings silence;
  bool evidence = false;
  friend bool operator==(const SourceSettings&, const SourceSettings&) = default;
};

enum class FsyncPolicy { never, interval, always };
enum class ConsoleFormat { text, json };

struct SinkSettings {
  std::size_t queue = 4096;  ///< events buffered per sink; more are dropped and counted
  bool journald = true;
  std::string jsonl_path;  ///< empty: no JSON-lines sink
  FsyncPolicy jsonl_fsync = FsyncPolicy::interval;
  double jsonl_fsync_interval_s = 1.0;
  ConsoleFormat console = ConsoleFormat::text;  ///< stdout sink, in --foreground only
  friend bool operator==(const SinkSettings&, const SinkSettings&) = default;
};

struct Settings {
  std::string file;      ///< where these settings came from ("" = built in code)
  std::string index;     ///< index folder
  unsigned threads = 0;  ///< worker threads; 0 = one per core
  double status_interval_s = 10.0;
  std::map<std::string, MatchProfile> profiles;  ///< always holds "default"
  SilenceSettings silence;
  EvidenceSettings evidence;
  SinkSettings sinks;
  std::vector<SourceSettings> sources;

  /// The worker count to start: `threads`, or the number of cores when 0 (at least 1).
  unsigned worker_threads() const;
  /// The source with this id, or nullptr.
  const SourceSettings* source(const std::string& id) const;
};

/// Settings with every default and no sources (for command-line-only runs).
Settings default_settings();

/// Reads and validates `path`. Throws ConfigError (file:line:col) for any problem, including
/// a file that cannot be read (line 0). Any thread; no shared state.
Settings load_settings(const std::string& path);

/// Same as load_settings() on text already in memory; `name` is used in error messages.
Settings parse_settings(const std::string& text, const std::string& name);

/// Checks a source id: non-empty, [A-Za-z0-9_.-] only. Returns an error text or "".
std::string check_source_id(const std::string& id);

}  // namespace aircheck::config
