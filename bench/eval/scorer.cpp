#include "bench/eval/scorer.h"

#include <algorithm>
#include <cmath>

#include "bench/eval/stats.h"

namespace aircheck::eval {

ProgrammeScores score_programme(std::span<const TruthAiring> truth,
                                std::span<const DetectedAiring> detected, double programme_s,
                                const ScoreOptions& opt) {
  ProgrammeScores s;
  s.truth = truth.size();
  s.detections = detected.size();
  s.first_detection.assign(truth.size(), -1);
  s.detection_truth.assign(detected.size(), -1);
  std::vector<long> last(truth.size(), -1);

  for (std::size_t d = 0; d < detected.size(); ++d) {
    const auto& det = detected[d];
    const double len = det.end_s - det.start_s;
    double best = -1;
    for (std::size_t t = 0; t < truth.size(); ++t) {
      const auto& tr = truth[t];
      if (tr.track != det.track) continue;
      const double inside = std::min(det.end_s, tr.end_s) - std::max(det.start_s, tr.start_s);
      const bool ok = len > 0 ? inside >= opt.min_inside * len && inside > 0
                              : det.start_s >= tr.start_s && det.start_s <= tr.end_s;
      if (ok && inside > best) {
        best = inside;
        s.detection_truth[d] = static_cast<long>(t);
      }
    }
    const long t = s.detection_truth[d];
    if (t < 0) {
      ++s.false_airings;
      continue;
    }
    ++s.correct;
    auto& first = s.first_detection[static_cast<std::size_t>(t)];
    auto& lst = last[static_cast<std::size_t>(t)];
    if (first < 0) {
      first = lst = static_cast<long>(d);
    } else {
      ++s.fragments;
      if (det.start_s < detected[static_cast<std::size_t>(first)].start_s)
        first = static_cast<long>(d);
      if (det.end_s > detected[static_cast<std::size_t>(lst)].end_s) lst = static_cast<long>(d);
    }
  }

  s.start_err.assign(truth.size(), std::nan(""));
  s.end_err.assign(truth.size(), std::nan(""));
  s.latency.assign(truth.size(), std::nan(""));
  std::vector<double> start_err, end_err, ref_err, latency;
  std::vector<double> start_cut, start_fade, end_cut, end_fade;
  for (std::size_t t = 0; t < truth.size(); ++t) {
    const long f = s.first_detection[t];
    if (f < 0) continue;
    ++s.found;
    const auto& tr = truth[t];
    const auto& first = detected[static_cast<std::size_t>(f)];
    const auto& lst = detected[static_cast<std::size_t>(last[t])];
    s.start_err[t] = first.start_s - tr.start_s;
    s.end_err[t] = lst.end_s - tr.end_s;
    start_err.push_back(std::fabs(s.start_err[t]));
    end_err.push_back(std::fabs(s.end_err[t]));
    (tr.fade_in_s > 0 ? start_fade : start_cut).push_back(start_err.back());
    (tr.fade_out_s > 0 ? end_fade : end_cut).push_back(end_err.back());
    const double ref_true = tr.ref_start_s + (first.start_s - tr.start_s) * tr.speed;
    ref_err.push_back(std::fabs(first.ref_start_s - ref_true));
    if (first.announced_s) {
      s.latency[t] = *first.announced_s - tr.start_s;
      latency.push_back(s.latency[t]);
    }
  }
  s.recall = s.truth ? static_cast<double>(s.found) / static_cast<double>(s.truth) : 0;
  s.precision =
      s.detections ? static_cast<double>(s.correct) / static_cast<double>(s.detections) : 0;
  s.false_per_hour =
      programme_s > 0 ? static_cast<double>(s.false_airings) * 3600.0 / programme_s : 0;
  s.start_err_p50 = percentile(start_err, 0.5);
  s.start_err_p95 = percentile(start_err, 0.95);
  s.end_err_p50 = percentile(end_err, 0.5);
  s.end_err_p95 = percentile(end_err, 0.95);
  const auto edge = [](const std::vector<double>& v) {
    return ProgrammeScores::EdgeErrors{v.size(), percentile(v, 0.5), percentile(v, 0.95)};
  };
  s.start_cut = edge(start_cut);
  s.start_fade = edge(start_fade);
  s.end_cut = edge(end_cut);
  s.end_fade = edge(end_fade);
  s.ref_err_p50 = percentile(ref_err, 0.5);
  s.ref_err_p95 = percentile(ref_err, 0.95);
  s.latency_n = latency.size();
  s.latency_p50 = percentile(latency, 0.5);
  s.latency_p95 = percentile(latency, 0.95);
  s.latency_p99 = percentile(latency, 0.99);
  return s;
}

}  // namespace aircheck::eval
