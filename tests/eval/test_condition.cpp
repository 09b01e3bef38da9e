#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "bench/eval/condition.h"
#include "bench/eval/speech.h"
#include "bench/eval/synth.h"

namespace aircheck::eval {
namespace {

TEST(Condition, ParsesEveryForm) {
  const auto cs = parse_conditions(
      "clean,white:10,mp3:64,aac:64,speed:1.03,tempo:0.97,band:tel,band:am,compress,reverb,reverb:"
      "1.2,speech:-6");
  ASSERT_EQ(cs.size(), 12u);
  EXPECT_EQ(cs[1].kind, Condition::Kind::white);
  EXPECT_DOUBLE_EQ(cs[1].value, 10);
  EXPECT_DOUBLE_EQ(cs[4].source_factor(), 1.03);
  EXPECT_DOUBLE_EQ(cs[5].source_factor(), 0.97);
  EXPECT_DOUBLE_EQ(cs[0].source_factor(), 1.0);
  EXPECT_DOUBLE_EQ(cs[9].value, 0.6);
  EXPECT_DOUBLE_EQ(cs[10].value, 1.2);
  EXPECT_EQ(cs[11].text, "speech:-6");
}

TEST(Condition, RejectsBadText) {
  for (const char* bad : {"white", "white:x", "speed:3", "band:fm", "loud", "mp3:1", "clean:1"}) {
    EXPECT_THROW(Condition::parse(bad), std::invalid_argument) << bad;
  }
}

TEST(Condition, OutputLengthFollowsTheSourceFactor) {
  SynthOptions o;
  o.seconds = 3;
  o.sample_rate = 8000;
  const auto x = synth_music(4, o);
  const auto speech = SpeechPool::make(8000, 1, 2, 5);
  for (const char* c : {"clean", "white:5", "speed:1.03", "tempo:0.97", "band:tel", "compress",
                        "reverb", "speech:-6"}) {
    const auto cond = Condition::parse(c);
    const auto y = apply_condition(cond, x, 8000, 11, &speech);
    EXPECT_EQ(y.size(), static_cast<std::size_t>(
                            std::llround(static_cast<double>(x.size()) / cond.source_factor())))
        << c;
  }
}

TEST(SpeechPool, IsDeterministic) {
  const auto a = SpeechPool::make(16000, 5, 2, 4);
  const auto b = SpeechPool::make(16000, 5, 2, 4);
  ASSERT_EQ(a.size(), 2u);
  EXPECT_EQ(a.excerpt(3, 16000), b.excerpt(3, 16000));
  EXPECT_GT(a.clip(0).size(), 16000u);
}

}  // namespace
}  // namespace aircheck::eval
