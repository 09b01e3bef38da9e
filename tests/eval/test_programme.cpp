// The programme generator: deterministic, and its ground truth says what is on air.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "bench/eval/degrade.h"
#include "bench/eval/programme.h"
#include "bench/eval/speech.h"
#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"

namespace aircheck::eval {
namespace {
namespace fs = std::filesystem;

constexpr int kRate = 8000;

class ProgrammeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("aircheck-test-programme-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    for (int i = 0; i < 4; ++i) {
      SynthOptions o;
      o.seconds = 40 + 10 * i;
      o.sample_rate = kRate;
      const auto pcm = synth_music(100 + static_cast<uint64_t>(i), o);
      RefTrack t;
      t.path = dir_ / ("song" + std::to_string(i) + ".wav");
      t.id = "S" + std::to_string(i);
      t.duration_s = o.seconds;
      dsp::decode::encode_file(t.path.string(), pcm, kRate);
      (i < 3 ? refs_ : others_).push_back(t);
    }
    ids_ = {10, 11, 12};
  }
  void TearDown() override { fs::remove_all(dir_); }

  Programme make(uint64_t seed, const fs::path& wav) {
    ProgrammeOptions o;
    o.minutes = 4;
    o.seed = seed;
    o.sample_rate = kRate;
    const auto speech = SpeechPool::make(kRate, 3, 2, 6);
    return make_programme(refs_, ids_, others_, speech, o, wav);
  }

  fs::path dir_;
  std::vector<RefTrack> refs_, others_;
  std::vector<uint32_t> ids_;
};

TEST_F(ProgrammeTest, IsDeterministicAndConsistent) {
  const auto a = make(5, dir_ / "a.wav");
  const auto b = make(5, dir_ / "b.wav");
  ASSERT_FALSE(a.truth.empty());
  ASSERT_EQ(a.truth.size(), b.truth.size());
  for (std::size_t i = 0; i < a.truth.size(); ++i) {
    EXPECT_EQ(a.truth[i].track, b.truth[i].track);
    EXPECT_DOUBLE_EQ(a.truth[i].start_s, b.truth[i].start_s);
  }
  EXPECT_EQ(fs::file_size(dir_ / "a.wav"), fs::file_size(dir_ / "b.wav"));
  EXPECT_GE(a.duration_s, 4 * 60);

  dsp::decode::OpenOptions o;
  o.sample_rate = kRate;
  const auto pcm = dsp::decode::decode_all((dir_ / "a.wav").string(), o);
  EXPECT_NEAR(static_cast<double>(pcm.size()) / kRate, a.duration_s, 0.01);

  double prev = -1;
  for (const auto& t : a.truth) {
    EXPECT_GE(t.start_s, prev);
    EXPECT_LT(t.start_s, t.end_s);
    EXPECT_LE(t.end_s, a.duration_s + 1e-6);
    EXPECT_TRUE(t.track >= 10 && t.track <= 12);
    EXPECT_GE(t.speed, 1.0);
    EXPECT_LE(t.speed, 1.03);
    prev = t.start_s;
  }
}

TEST_F(ProgrammeTest, TruthPointsAtTheReferenceAudio) {
  const auto p = make(9, dir_ / "p.wav");
  dsp::decode::OpenOptions o;
  o.sample_rate = kRate;
  const auto prog = dsp::decode::decode_all((dir_ / "p.wav").string(), o);
  int checked = 0;
  std::size_t ti = 0;
  for (const auto& item : p.items) {
    if (item.kind != "indexed") continue;
    const auto& t = p.truth[ti++];
    if (!item.effects.empty() || item.end_s - item.start_s < 12) continue;
    // One second from the middle of the play against the reference at the truth's offset.
    const double at = (t.start_s + t.end_s) / 2;
    const double ref_at = t.ref_start_s + (at - t.start_s) * t.speed;
    const auto& ref = refs_[t.track - 10];
    const auto rpcm = dsp::decode::decode_all(ref.path.string(), o);
    const auto a = static_cast<std::size_t>(at * kRate),
               r = static_cast<std::size_t>(ref_at * kRate);
    double xy = 0, xx = 0, yy = 0;
    for (std::size_t i = 0; i < static_cast<std::size_t>(kRate); ++i) {
      const double x = prog[a + i], y = rpcm[r + i];
      xy += x * y;
      xx += x * x;
      yy += y * y;
    }
    EXPECT_GT(xy / std::sqrt(xx * yy), 0.95) << "item at " << item.start_s;
    ++checked;
  }
  EXPECT_GT(checked, 0);
}

}  // namespace
}  // namespace aircheck::eval
