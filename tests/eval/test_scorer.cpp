// The programme scorer counts a known toy programme exactly right.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <vector>

#include "bench/eval/programme_eval.h"
#include "bench/eval/scorer.h"

namespace aircheck::eval {
namespace {

TruthAiring truth(uint32_t track, double s, double e, double rs, double speed = 1) {
  TruthAiring t;
  t.track = track;
  t.start_s = s;
  t.end_s = e;
  t.ref_start_s = rs;
  t.ref_end_s = rs + (e - s) * speed;
  t.speed = speed;
  return t;
}

DetectedAiring det(uint32_t track, double s, double e, double rs, std::optional<double> at = {}) {
  DetectedAiring d;
  d.track = track;
  d.start_s = s;
  d.end_s = e;
  d.ref_start_s = rs;
  d.ref_end_s = rs + (e - s);
  d.announced_s = at;
  return d;
}

TEST(Scorer, CountsAToyProgrammeExactly) {
  // Three plays: track 1, then track 2 crossfading in at 55 s, then track 3 (sped up 2 %).
  std::vector<TruthAiring> t = {truth(1, 0, 60, 0), truth(2, 55, 120, 30),
                                truth(3, 130, 160, 10, 1.02)};
  t[0].fade_out_s = t[1].fade_in_s = 5;
  const std::vector<DetectedAiring> d = {
      det(1, 2, 59, 2, 6.0),   // track 1: start +2 s, end -1 s, offset exact, announced after 6 s
      det(2, 58, 90, 34, 61),  // track 2 first part: start +3 s, reference 1 s late
      det(2, 92, 119, 67),     // track 2 again: a fragment of the same play; end -1 s
      det(7, 100, 110, 0),     // wrong track during track 2: false
      det(1, 200, 210, 0),     // track 1 where nothing plays: false
  };                           // track 3 is never found
  const auto s = score_programme(t, d, 3600);
  EXPECT_EQ(s.truth, 3u);
  EXPECT_EQ(s.detections, 5u);
  EXPECT_EQ(s.found, 2u);
  EXPECT_EQ(s.correct, 3u);
  EXPECT_EQ(s.false_airings, 2u);
  EXPECT_EQ(s.fragments, 1u);
  EXPECT_DOUBLE_EQ(s.recall, 2.0 / 3);
  EXPECT_DOUBLE_EQ(s.precision, 3.0 / 5);
  EXPECT_DOUBLE_EQ(s.false_per_hour, 2.0);
  EXPECT_DOUBLE_EQ(s.start_err_p50, 2.5);  // |2|, |3|
  EXPECT_DOUBLE_EQ(s.end_err_p50, 1.0);    // |-1|, |-1|
  EXPECT_DOUBLE_EQ(s.ref_err_p50, 0.5);    // 0, 1
  EXPECT_EQ(s.latency_n, 2u);
  EXPECT_DOUBLE_EQ(s.latency_p50, 6.0);  // 6, 6
  // Edges: track 1 starts at a cut and ends in the crossfade, track 2 the other way round.
  EXPECT_EQ(s.start_cut.n, 1u);
  EXPECT_DOUBLE_EQ(s.start_cut.p95, 2.0);
  EXPECT_EQ(s.start_fade.n, 1u);
  EXPECT_DOUBLE_EQ(s.start_fade.p95, 3.0);
  EXPECT_EQ(s.end_cut.n, 1u);
  EXPECT_DOUBLE_EQ(s.end_cut.p50, 1.0);
  EXPECT_EQ(s.end_fade.n, 1u);
  // Signed, per airing: track 1 started 2 s late and ended 1 s early; track 3 was not found.
  EXPECT_DOUBLE_EQ(s.start_err[0], 2.0);
  EXPECT_DOUBLE_EQ(s.end_err[0], -1.0);
  EXPECT_TRUE(std::isnan(s.start_err[2]));
  // Latency per airing, from its true start (the fade's first sample) to its first announcement.
  EXPECT_DOUBLE_EQ(s.latency[0], 6.0);
  EXPECT_DOUBLE_EQ(s.latency[1], 6.0);
  EXPECT_TRUE(std::isnan(s.latency[2]));
  EXPECT_EQ(s.first_detection, (std::vector<long>{0, 1, -1}));
  EXPECT_EQ(s.detection_truth, (std::vector<long>{0, 1, 1, -1, -1}));
}

TEST(Scorer, ReferenceOffsetFollowsPlaybackSpeed) {
  // Track played 2 % fast from reference 10 s; detected 5 s late at reference 15.1 s = exact.
  const std::vector<TruthAiring> t = {truth(3, 100, 160, 10, 1.02)};
  const std::vector<DetectedAiring> d = {det(3, 105, 160, 15.1)};
  const auto s = score_programme(t, d, 600);
  EXPECT_EQ(s.found, 1u);
  EXPECT_NEAR(s.ref_err_p50, 0.0, 1e-9);
  EXPECT_DOUBLE_EQ(s.start_err_p50, 5.0);
  EXPECT_TRUE(std::isnan(s.latency_p50));
}

TEST(Scorer, DetectionMostlyOutsideTheAiringIsFalse) {
  const std::vector<TruthAiring> t = {truth(1, 0, 60, 0)};
  const std::vector<DetectedAiring> d = {det(1, 50, 80, 50)};  // 10 of 30 s inside
  const auto s = score_programme(t, d, 3600);
  EXPECT_EQ(s.found, 0u);
  EXPECT_EQ(s.false_airings, 1u);
  EXPECT_DOUBLE_EQ(s.recall, 0);
  EXPECT_TRUE(std::isnan(s.start_err_p50));
}

TEST(ParseAirings, ReadsDaemonEvents) {
  const auto path = std::filesystem::temp_directory_path() / "aircheck-test-airings.jsonl";
  {
    std::ofstream f(path);
    f << R"({"type":"airing_start","source":"prog","track_id":4,"title":"x","start_pos_s":10.0,"ref_start_s":1.0,"confidence":0.9})"
      << "\n"
      << R"({"type":"status","source":"prog"})"
      << "\n\n"
      << R"({"type":"airing_end","source":"prog","track_id":4,"title":"x","start_pos_s":10.0,"end_pos_s":70.5,"ref_start_s":1.0,"ref_end_s":61.5,"confidence":0.95})"
      << "\n"
      << R"({"type":"airing_start","source":"prog","track_id":9,"start_pos_s":80.0,"ref_start_s":0.0,"confidence":0.7})"
      << "\n";
  }
  const auto d = parse_airings(path);
  std::filesystem::remove(path);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].track, 4u);
  EXPECT_DOUBLE_EQ(d[0].start_s, 10.0);
  EXPECT_DOUBLE_EQ(d[0].end_s, 70.5);
  EXPECT_DOUBLE_EQ(d[0].ref_end_s, 61.5);
  EXPECT_DOUBLE_EQ(d[0].confidence, 0.95);
  EXPECT_EQ(d[1].track, 9u);  // never closed: kept as a zero-length airing
  EXPECT_DOUBLE_EQ(d[1].end_s, 80.0);
}

TEST(ParseAirings, NamesTheBadLine) {
  const auto path = std::filesystem::temp_directory_path() / "aircheck-test-bad.jsonl";
  std::ofstream(path) << "{\"type\":\"airing_end\"}\n{oops\n";
  try {
    parse_airings(path);
    FAIL() << "no exception";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find(":2:"), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace aircheck::eval
