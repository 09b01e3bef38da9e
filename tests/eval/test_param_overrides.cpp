#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

#include "bench/eval/param_overrides.h"

namespace aircheck::eval {
namespace {

// The message of the std::invalid_argument `fn` throws; fails the test if it throws none.
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  ADD_FAILURE() << "no std::invalid_argument thrown";
  return {};
}

TEST(ParamOverrides, SetsIntegerAndDecimalFields) {
  const dsp::Params p =
      with_overrides({}, {"index_peaks=18", "index_fanout=5", "query_peaks=36", "query_fanout=10",
                          "band_weight=0.25", "min_level=1.5", "density_frames=40", "dt_max=80",
                          "df_max=50", "peak_bins=6", "peak_frames=3"});
  EXPECT_EQ(p.index_peaks, 18);
  EXPECT_EQ(p.index_fanout, 5);
  EXPECT_EQ(p.query_peaks, 36);
  EXPECT_EQ(p.query_fanout, 10);
  EXPECT_FLOAT_EQ(p.band_weight, 0.25f);
  EXPECT_FLOAT_EQ(p.min_level, 1.5f);
  EXPECT_EQ(p.density_frames, 40);
  EXPECT_EQ(p.dt_max, 80);
  EXPECT_EQ(p.df_max, 50);
  EXPECT_EQ(p.peak_bins, 6);
  EXPECT_EQ(p.peak_frames, 3);
  // Untouched fields keep their defaults.
  const dsp::Params d;
  EXPECT_EQ(p.sample_rate, d.sample_rate);
  EXPECT_EQ(p.hop, d.hop);
  EXPECT_FLOAT_EQ(p.band_tc_s, d.band_tc_s);
}

TEST(ParamOverrides, EveryKeyIsAFieldThatChanges) {
  const dsp::Params d;
  for (const auto& key : param_keys()) {
    dsp::Params p;
    // 3 is a legal integer and decimal for every field, and differs from every default.
    apply_override(p, key + "=3");
    const bool index_side = key != "query_peaks" && key != "query_fanout";
    EXPECT_NE(p.describe() + describe_query_side(p), d.describe() + describe_query_side(d)) << key;
    EXPECT_EQ(p.digest() != d.digest(), index_side) << key;
  }
  EXPECT_EQ(param_keys().size(), 18u);
}

TEST(ParamOverrides, LaterAssignmentWins) {
  const auto p = with_overrides({}, {"index_peaks=12", "index_peaks=16"});
  EXPECT_EQ(p.index_peaks, 16);
}

TEST(ParamOverrides, NoAssignmentsIsTheDefault) {
  EXPECT_EQ(with_overrides({}, {}).digest(), dsp::Params{}.digest());
}

TEST(ParamOverrides, UnknownKeyNamesItAndTheAllowedKeys) {
  for (const char* text : {"index_peak=14", "fanout=4", "=3", "Index_peaks=14"}) {
    dsp::Params p;
    const std::string msg = error_of([&] { apply_override(p, text); });
    EXPECT_NE(msg.find(std::string(text)), std::string::npos) << msg;
    EXPECT_NE(msg.find("unknown key"), std::string::npos) << msg;
    EXPECT_NE(msg.find("allowed keys: sample_rate,"), std::string::npos) << msg;
    EXPECT_NE(msg.find("query_fanout"), std::string::npos) << msg;
  }
}

TEST(ParamOverrides, BadValuesAreRefusedAndNamed) {
  const dsp::Params d;
  for (const char* text :
       {"index_peaks", "index_peaks=", "index_peaks=abc", "index_peaks=14.5", "index_peaks=14 ",
        "index_peaks= 14", "index_peaks=99999999999", "band_weight=x", "band_weight=0.1.2",
        "band_weight=nan", "min_level=inf", "min_level=", "min_level=1,5"}) {
    dsp::Params p;
    const std::string msg = error_of([&] { apply_override(p, text); });
    EXPECT_NE(msg.find(std::string("'") + text + "'"), std::string::npos) << msg;
    EXPECT_EQ(p.digest(), d.digest()) << text
                                      << ": a refused value must leave the params as "
                                         "they were";
  }
  EXPECT_NE(error_of([] {
              dsp::Params p;
              apply_override(p, "index_fanout=2.5");
            }).find("takes an integer"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              dsp::Params p;
              apply_override(p, "min_level=high");
            }).find("takes a decimal number"),
            std::string::npos);
}

TEST(ParamOverrides, OutOfRangeValuesFailValidation) {
  for (const char* text :
       {"index_peaks=0", "query_fanout=0", "band_weight=1.5", "df_max=128", "fft_size=500"}) {
    const std::string msg = error_of([&] { (void)with_overrides({}, {text}); });
    EXPECT_NE(msg.find("fingerprint parameter"), std::string::npos) << text << ": " << msg;
  }
  const std::string msg = error_of([] { (void)with_overrides({}, {"band_weight=-0.5"}); });
  EXPECT_NE(msg.find("band_weight"), std::string::npos) << msg;
}

TEST(ParamOverrides, QuerySideIsDescribedSeparately) {
  const auto p = with_overrides({}, {"query_peaks=36", "query_fanout=10"});
  EXPECT_EQ(describe_query_side(p), "query_peaks=36 query_fanout=10");
  EXPECT_EQ(p.describe(), dsp::Params{}.describe());
}

}  // namespace
}  // namespace aircheck::eval
