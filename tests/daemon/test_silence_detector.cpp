#include "daemon/silence_detector.h"

#include <gtest/gtest.h>

#include <vector>

namespace aircheck::daemon {
namespace {

TEST(SilenceDetector, ReportsStartAndEndWithTheirPositions) {
  config::SilenceSettings s;
  s.threshold_dbfs = -50;
  s.min_duration_s = 2.0;
  SilenceDetector d(s, 8000);
  std::vector<float> loud(8000, 0.1f), quiet(8000, 0.0001f);
  std::vector<SilenceDetector::Change> out;
  uint64_t pos = 0;
  auto feed = [&](const std::vector<float>& x, std::size_t chunk) {
    for (std::size_t i = 0; i < x.size(); i += chunk) {
      const std::size_t n = std::min(chunk, x.size() - i);
      d.feed(pos, std::span(x).subspan(i, n), out);
      pos += n;
    }
  };
  feed(loud, 333);
  for (int i = 0; i < 3; ++i) feed(quiet, 1001);  // 3 s of silence from 1 s
  feed(loud, 4096);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_TRUE(out[0].started);
  EXPECT_EQ(out[0].start, 8000u);
  EXPECT_FALSE(out[1].started);
  EXPECT_EQ(out[1].start, 8000u);
  EXPECT_EQ(out[1].end, 32000u);
}

TEST(SilenceDetector, ShortPausesAreNotSilence) {
  config::SilenceSettings s;
  s.min_duration_s = 2.0;
  SilenceDetector d(s, 8000);
  std::vector<float> loud(8000, 0.1f), quiet(8000, 0.0f);
  std::vector<SilenceDetector::Change> out;
  d.feed(0, loud, out);
  d.feed(8000, quiet, out);
  d.feed(16000, loud, out);
  EXPECT_TRUE(out.empty());
}

TEST(SilenceDetector, DisabledReportsNothing) {
  config::SilenceSettings s;
  s.enabled = false;
  s.min_duration_s = 0.1;
  SilenceDetector d(s, 8000);
  std::vector<float> quiet(16000, 0.0f);
  std::vector<SilenceDetector::Change> out;
  d.feed(0, quiet, out);
  EXPECT_TRUE(out.empty());
}

}  // namespace
}  // namespace aircheck::daemon
