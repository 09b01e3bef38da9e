#include <gtest/gtest.h>

#include "dsp/params.h"

using aircheck::dsp::Params;

TEST(Params, DefaultsAreValid) { EXPECT_NO_THROW(Params{}.validate()); }

TEST(Params, BadFieldIsNamed) {
  Params p;
  p.fft_size = 500;
  try {
    p.validate();
    FAIL() << "expected invalid_argument";
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("fft_size"), std::string::npos) << e.what();
  }
  p = Params{};
  p.max_bin = 300;
  EXPECT_THROW(p.validate(), std::invalid_argument);
  p = Params{};
  p.dt_max = 0;
  EXPECT_THROW(p.validate(), std::invalid_argument);
  p = Params{};
  p.query_density_ahead = p.density_frames + 1;
  EXPECT_THROW(p.validate(), std::invalid_argument);
  p = Params{};
  p.query_early_dt = p.dt_max;  // early pairs reach less far than the full ones
  EXPECT_THROW(p.validate(), std::invalid_argument);
  p.query_early_dt = -1;
  EXPECT_THROW(p.validate(), std::invalid_argument);
  EXPECT_NO_THROW(Params{}.streaming().validate());
  EXPECT_EQ(Params{}.streaming().query_peaks, 18);  // 28 peaks per 63 frames, over 40
  EXPECT_EQ(Params{}.streaming().query_early_dt, Params::kStreamEarlyDt);
  EXPECT_EQ(Params{}.query_early_dt, 0);  // files: none
  p = Params{};
  p.dt_min = p.dt_max = 20;  // no room for early pairs
  EXPECT_EQ(p.streaming().query_early_dt, 0);
  EXPECT_NO_THROW(p.streaming().validate());
}

TEST(Params, DigestFollowsIndexFieldsOnly) {
  Params a, b;
  EXPECT_EQ(a.digest(), b.digest());
  b.query_peaks += 5;  // query side does not change what the index holds
  b.query_fanout += 3;
  EXPECT_EQ(a.digest(), b.digest());
  b.index_fanout += 1;
  EXPECT_NE(a.digest(), b.digest());
  Params c;
  c.hop = 256;
  EXPECT_NE(a.digest(), c.digest());
}

TEST(Params, HashLayoutRoundTrips) {
  const uint32_t h = Params::pack(200, -17, 45);
  EXPECT_EQ(h >> 24, 0u);
  EXPECT_EQ((h >> 16) & 0xff, 200u);
  EXPECT_EQ(static_cast<int8_t>((h >> 8) & 0xff), -17);
  EXPECT_EQ(h & 0xff, 45u);
  EXPECT_NE(Params::pack(1, 2, 3), Params::pack(1, 3, 2));
}
