// repeat_similarity_db: how alike two passages of one recording are, on synthesized music.
#include <gtest/gtest.h>

#include <cmath>

#include "bench/eval/degrade.h"
#include "bench/eval/stats.h"
#include "bench/eval/synth.h"

namespace {
using namespace aircheck;
constexpr int kRate = 8000;

std::span<const float> at(const std::vector<float>& x, std::size_t from, std::size_t n) {
  return std::span<const float>(x).subspan(from, n);
}

TEST(RepeatSimilarity, ACopyAnywhereWithinTheLagIsTheSameSamples) {
  // A loop: the first 4 s of a song played twice. The second time is the same samples,
  // found 37 samples off the cut (a repeat between two frames).
  const auto song = eval::synth_music(41, {8, kRate, 0.3});
  std::vector<float> loop(song.begin(), song.begin() + 4 * kRate);
  loop.insert(loop.end(), song.begin(), song.begin() + 4 * kRate);
  const std::size_t n = 3 * kRate;
  EXPECT_GE(eval::repeat_similarity_db(at(loop, 1000, n), at(loop, 4 * kRate + 1000 - 37, n), 64),
            60.0);
}

TEST(RepeatSimilarity, MeasuresHowFarAVariedRepeatIs) {
  // The repeat with something added 20 dB and 10 dB below it (another instrument's part), and
  // a different passage of the same song.
  const auto song = eval::synth_music(42, {12, kRate, 0.3});
  const std::size_t n = 3 * kRate;
  const auto passage = at(song, kRate, n);
  for (const double db : {20.0, 10.0}) {
    const auto varied = eval::add_white_noise(passage, db, 5);
    const double s = eval::repeat_similarity_db(passage, varied, 64);
    EXPECT_NEAR(s, db, 1.0) << db;
  }
  EXPECT_LT(eval::repeat_similarity_db(passage, at(song, 7 * kRate + 311, n), 64), 6.0);
  // Silence has no similarity to measure.
  const std::vector<float> quiet(n, 0.0f);
  EXPECT_TRUE(std::isnan(eval::repeat_similarity_db(passage, quiet, 64)));
}

}  // namespace
