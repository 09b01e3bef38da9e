// Each degradation does what it claims, measured on synthesized music.
#include <fftw3.h>
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "bench/eval/degrade.h"
#include "bench/eval/synth.h"

namespace aircheck::eval {
namespace {

constexpr int kRate = 44100;

std::vector<float> music(double seconds, uint64_t seed = 7) {
  SynthOptions o;
  o.seconds = seconds;
  o.sample_rate = kRate;
  return synth_music(seed, o);
}

std::vector<float> sine(double hz, double seconds, int rate = kRate) {
  std::vector<float> x(static_cast<std::size_t>(seconds * rate));
  for (std::size_t i = 0; i < x.size(); ++i) {
    x[i] = static_cast<float>(0.5 *
                              std::sin(2 * std::numbers::pi * hz * static_cast<double>(i) / rate));
  }
  return x;
}

// Frequency of a (near) pure tone from its upward zero crossings, in Hz.
double tone_hz(const std::vector<float>& x, int rate) {
  std::size_t first = 0, last = 0, count = 0;
  for (std::size_t i = 1; i < x.size(); ++i) {
    if (x[i - 1] < 0 && x[i] >= 0) {
      if (count == 0) first = i;
      last = i;
      ++count;
    }
  }
  return count > 1 ? static_cast<double>(count - 1) * rate / static_cast<double>(last - first) : 0;
}

// Energy of `x` between lo and hi Hz, from its power spectrum.
double band_energy(const std::vector<float>& x, int rate, double lo, double hi) {
  const int n = static_cast<int>(x.size());
  std::vector<float> in(x);
  std::vector<fftwf_complex> out(x.size() / 2 + 1);
  fftwf_plan p = fftwf_plan_dft_r2c_1d(n, in.data(), out.data(), FFTW_ESTIMATE);
  fftwf_execute(p);
  fftwf_destroy_plan(p);
  double e = 0;
  for (std::size_t k = 0; k < out.size(); ++k) {
    const double f = static_cast<double>(k) * rate / n;
    if (f >= lo && f < hi)
      e += static_cast<double>(out[k][0]) * out[k][0] + static_cast<double>(out[k][1]) * out[k][1];
  }
  return e;
}

double db(double ratio) { return 10 * std::log10(ratio); }

TEST(WhiteNoise, HitsTheRequestedSnrWithinATenthOfADecibel) {
  const auto x = music(10);
  for (double snr : {30.0, 20.0, 10.0, 5.0, 0.0, -5.0}) {
    for (uint64_t seed : {1u, 2u, 3u}) {
      const auto y = add_white_noise(x, snr, seed);
      std::vector<float> noise(y.size());
      for (std::size_t i = 0; i < y.size(); ++i) noise[i] = y[i] - x[i];
      EXPECT_NEAR(snr_db(x, noise), snr, 0.1) << "snr " << snr << " seed " << seed;
    }
  }
}

TEST(WhiteNoise, IsDeterministicAndSeeded) {
  const auto x = music(2);
  EXPECT_EQ(add_white_noise(x, 10, 5), add_white_noise(x, 10, 5));
  EXPECT_NE(add_white_noise(x, 10, 5), add_white_noise(x, 10, 6));
}

TEST(Resample, KeepsTimeAlignment) {
  std::vector<float> x(kRate, 0.0f);
  x[22050] = 1.0f;  // a click at 0.5 s
  const auto y = resample(x, kRate, 8000);
  ASSERT_EQ(y.size(), 8000u);
  std::size_t peak = 0;
  for (std::size_t i = 0; i < y.size(); ++i) {
    if (std::fabs(y[i]) > std::fabs(y[peak])) peak = i;
  }
  EXPECT_NEAR(static_cast<double>(peak), 4000.0, 1.0);
}

TEST(Speed, ChangesDurationByTheRequestedRatio) {
  const auto x = music(10);
  for (double r : {0.95, 0.97, 0.99, 1.01, 1.03, 1.05}) {
    const auto y = change_speed(x, kRate, r);
    const double want = static_cast<double>(x.size()) / r;
    EXPECT_NEAR(static_cast<double>(y.size()) / want, 1.0, 1e-4) << "ratio " << r;
  }
}

TEST(Speed, ShiftsPitchByTheSameRatio) {
  const auto x = sine(1000, 2);
  const auto y = change_speed(x, kRate, 1.03);
  EXPECT_NEAR(tone_hz(y, kRate), 1030.0, 2.0);
}

TEST(Tempo, ChangesDurationAndKeepsPitch) {
  const auto x = sine(1000, 4);
  for (double r : {0.97, 1.03}) {
    const auto y = change_tempo(x, kRate, r);
    const double want = static_cast<double>(x.size()) / r;
    EXPECT_NEAR(static_cast<double>(y.size()) / want, 1.0, 0.01) << "ratio " << r;
    EXPECT_NEAR(tone_hz(y, kRate), 1000.0, 5.0) << "ratio " << r;
  }
  const auto m = music(5);
  const auto ym = change_tempo(m, kRate, 0.97);
  EXPECT_NEAR(static_cast<double>(ym.size()) * 0.97 / static_cast<double>(m.size()), 1.0, 0.01);
}

TEST(BandLimit, TelephoneAttenuatesOutOfBandEnergy) {
  const auto x = music(8);
  const auto y = band_limit(x, kRate, Band::telephone);
  ASSERT_EQ(y.size(), x.size());
  EXPECT_LT(db(band_energy(y, kRate, 0, 120) / band_energy(x, kRate, 0, 120)), -25);
  EXPECT_LT(db(band_energy(y, kRate, 8000, 22050) / band_energy(x, kRate, 8000, 22050)), -25);
  EXPECT_NEAR(db(band_energy(y, kRate, 700, 2000) / band_energy(x, kRate, 700, 2000)), 0, 1.0);
}

TEST(BandLimit, AmAttenuatesHighFrequencies) {
  const auto x = music(8);
  const auto y = band_limit(x, kRate, Band::am);
  EXPECT_LT(db(band_energy(y, kRate, 10000, 22050) / band_energy(x, kRate, 10000, 22050)), -25);
  EXPECT_NEAR(db(band_energy(y, kRate, 300, 3000) / band_energy(x, kRate, 300, 3000)), 0, 1.0);
}

TEST(Compress, NarrowsTheLevelDifferenceBetweenLoudAndQuietParts) {
  auto x = music(8);
  const std::size_t half = x.size() / 2;
  for (std::size_t i = half; i < x.size(); ++i) x[i] *= 0.1f;  // second half 20 dB down
  const auto y = compress(x, kRate);
  auto part_db = [](const std::vector<float>& v, std::size_t a, std::size_t b) {
    return 20 * std::log10(rms(std::span<const float>(v.data() + a, b - a)));
  };
  // Skip the attack/release transitions at the edges of each half.
  const std::size_t q = x.size() / 8;
  const double before = part_db(x, q, half - q) - part_db(x, half + q, x.size() - q);
  const double after = part_db(y, q, half - q) - part_db(y, half + q, x.size() - q);
  EXPECT_NEAR(before, 20, 2.0);
  EXPECT_LT(after, before - 6);
  EXPECT_NEAR(rms(y), rms(x), rms(x) * 1e-3);  // make-up gain restores the level
}

TEST(Reverb, ImpulseDecaysBySixtyDecibelsOverRt60) {
  const auto h = room_impulse(kRate, 0.6, 0.5, 3);
  ASSERT_EQ(h.size(), static_cast<std::size_t>(0.6 * kRate));
  EXPECT_EQ(h[0], 1.0f);
  auto energy = [&](std::size_t a, std::size_t b) {
    double e = 0;
    for (std::size_t i = a; i < b; ++i) e += static_cast<double>(h[i]) * h[i];
    return e / static_cast<double>(b - a);
  };
  const std::size_t w = kRate / 50;
  const double early = energy(kRate / 100, kRate / 100 + w);
  const double late = energy(h.size() - w, h.size());
  // Window centres are 0.58 s - 0.02 s apart: expect about -56 dB.
  EXPECT_NEAR(db(late / early),
              -60.0 * static_cast<double>(h.size() - w - kRate / 100) / (0.6 * kRate), 3.0);
}

TEST(Reverb, FftConvolutionMatchesTheDirectSum) {
  const auto x = music(0.2);
  const auto h = room_impulse(kRate, 0.05, 0.5, 9);
  const auto y = convolve(x, h);
  ASSERT_EQ(y.size(), x.size());
  for (std::size_t i = 0; i < x.size(); i += 97) {
    double s = 0;
    for (std::size_t k = 0; k < h.size() && k <= i; ++k) s += static_cast<double>(h[k]) * x[i - k];
    EXPECT_NEAR(y[i], s, 1e-4) << i;
  }
}

TEST(Reverb, AddsATailAfterTheSignalStops) {
  auto x = music(2);
  std::fill(x.begin() + kRate, x.end(), 0.0f);  // silence after 1 s
  const auto y = reverberate(x, kRate, 0.6, 0.5, 1);
  const std::span<const float> tail(y.data() + kRate + kRate / 20, kRate / 10);
  EXPECT_GT(rms(tail), 1e-3);
}

TEST(MixAt, ScalesTheOtherSignalToTheRequestedRatio) {
  const auto m = music(4);
  SynthOptions o;
  o.seconds = 4;
  o.sample_rate = kRate;
  const auto s = synth_babble(3, o);
  const auto y = mix_at(m, s, -6);
  std::vector<float> added(y.size());
  for (std::size_t i = 0; i < y.size(); ++i) added[i] = y[i] - m[i];
  EXPECT_NEAR(20 * std::log10(rms(added) / rms(m)), -6, 0.01);
}

TEST(Reencode, KeepsLengthAndAlignment) {
  const auto x = music(4);
  for (Codec c : {Codec::mp3, Codec::aac}) {
    const auto y = reencode(x, kRate, c, 64000);
    ASSERT_EQ(y.size(), x.size());
    // Aligned: the error at lag 0 is well below the signal (a misaligned copy gives ~0 dB).
    std::vector<float> err(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) err[i] = y[i] - x[i];
    const std::span<const float> mid_x(x.data() + kRate, 2 * kRate),
        mid_e(err.data() + kRate, 2 * kRate);
    EXPECT_GT(snr_db(mid_x, mid_e), 6) << (c == Codec::mp3 ? "mp3" : "aac");
  }
}

}  // namespace
}  // namespace aircheck::eval
