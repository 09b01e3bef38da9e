// Programme-level scoring: ground-truth airings + detected airings -> recall, precision,
// timing errors. A pure function: no I/O, no clocks.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace aircheck::eval {

/// An indexed track actually played in the programme. Times in seconds.
struct TruthAiring {
  uint32_t track = 0;      ///< index track id
  std::string ref_id;      ///< corpus id, for reports
  double start_s = 0;      ///< programme time the item becomes audible (fade-in start)
  double end_s = 0;        ///< programme time it ends (fade-out end)
  double ref_start_s = 0;  ///< reference position played at start_s
  double ref_end_s = 0;    ///< reference position played at end_s
  double speed = 1;        ///< playback speed ratio (1.02 = 2 % fast)
  double fade_in_s = 0;    ///< length of its fade-in (a crossfade from the item before), 0: a cut
  double fade_out_s = 0;   ///< length of its fade-out, 0: a cut
};

/// An airing reported by the monitor (e.g. one aircheckd airing_end event). Times in seconds.
struct DetectedAiring {
  uint32_t track = 0;
  double start_s = 0;
  double end_s = 0;
  double ref_start_s = 0;
  double ref_end_s = 0;
  double confidence = 0;
  /// Programme time at which the monitor announced the airing, when it says so.
  std::optional<double> announced_s;
};

struct ScoreOptions {
  /// A detection is correct when it names the track of a truth airing and at least this
  /// fraction of its own duration lies inside that airing (a zero-length detection: its
  /// start lies inside).
  double min_inside = 0.5;
};

struct ProgrammeScores {
  std::size_t truth = 0;          ///< truth airings
  std::size_t detections = 0;     ///< detected airings
  std::size_t found = 0;          ///< truth airings with at least one correct detection
  std::size_t correct = 0;        ///< correct detections (fragments included)
  std::size_t false_airings = 0;  ///< detections that are not correct
  std::size_t fragments = 0;      ///< correct detections beyond the first of an airing
  double recall = 0;              ///< found / truth
  double precision = 0;           ///< correct / detections
  double false_per_hour = 0;      ///< false_airings per hour of programme
  // Absolute errors in seconds over found airings: start = first correct detection's start,
  // end = last correct detection's end; reference offset = the first detection's ref_start_s
  // minus the reference position truly playing at its start_s. NaN when nothing was found.
  double start_err_p50 = 0, start_err_p95 = 0;
  double end_err_p50 = 0, end_err_p95 = 0;
  /// The same split by the kind of edge: a cut (the item starts or stops at full level) or a
  /// fade (a crossfade, where the true edge is where the fade begins or ends, half-audible).
  struct EdgeErrors {
    std::size_t n = 0;
    double p50 = 0, p95 = 0;
  };
  EdgeErrors start_cut, start_fade, end_cut, end_fade;
  double ref_err_p50 = 0, ref_err_p95 = 0;
  /// announced_s minus truth start_s over found airings whose first detection has
  /// announced_s; NaN when none has.
  double latency_p50 = 0, latency_p95 = 0, latency_p99 = 0;
  std::size_t latency_n = 0;
  /// For each truth airing, the index of its first correct detection, or -1.
  std::vector<long> first_detection;
  /// For each truth airing, its signed start and end errors (detected - true, seconds); NaN
  /// when it was not found.
  std::vector<double> start_err, end_err;
  /// For each truth airing, its detection latency (announced_s of its first correct detection
  /// minus its true start, seconds); NaN when not found or not announced.
  std::vector<double> latency;
  /// For each detection, the truth airing it is correct for, or -1.
  std::vector<long> detection_truth;
};

/// Scores `detected` against `truth` for a programme of `programme_s` seconds.
ProgrammeScores score_programme(std::span<const TruthAiring> truth,
                                std::span<const DetectedAiring> detected, double programme_s,
                                const ScoreOptions& opt = {});

}  // namespace aircheck::eval
