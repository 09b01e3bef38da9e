#include "bench/eval/synth.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <numbers>
#include <random>

namespace aircheck::eval {
namespace {

constexpr double kTwoPi = 2.0 * std::numbers::pi;

double midi_hz(double note) { return 440.0 * std::pow(2.0, (note - 69.0) / 12.0); }

struct Timbre {
  std::array<double, 8> partials{};  // amplitude of harmonic k+1
  double attack_s, decay_s, sustain, release_s;
  double vibrato_hz, vibrato_depth;  // depth in semitones
  double inharmonic;                 // stretch of partial k: f*(k+1)*(1+inh*k^2)
};

Timbre random_timbre(std::mt19937_64& rng, bool percussive) {
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Timbre t{};
  double tilt = 0.4 + 1.4 * u(rng);
  for (std::size_t k = 0; k < t.partials.size(); ++k) {
    t.partials[k] = std::pow(1.0 / static_cast<double>(k + 1), tilt) * (0.4 + 0.6 * u(rng));
  }
  if (u(rng) < 0.4) {  // hollow (clarinet-like): weaken even partials
    for (std::size_t k = 1; k < t.partials.size(); k += 2) t.partials[k] *= 0.15;
  }
  t.attack_s = percussive ? 0.003 + 0.01 * u(rng) : 0.01 + 0.08 * u(rng);
  t.decay_s = 0.05 + 0.3 * u(rng);
  t.sustain = percussive ? 0.05 + 0.2 * u(rng) : 0.4 + 0.5 * u(rng);
  t.release_s = 0.03 + 0.2 * u(rng);
  t.vibrato_hz = 4.0 + 3.0 * u(rng);
  t.vibrato_depth = u(rng) < 0.5 ? 0.0 : 0.05 + 0.15 * u(rng);
  t.inharmonic = percussive ? 0.0005 * u(rng) : 0.0;
  return t;
}

double envelope(const Timbre& tb, double t, double dur) {
  double a;
  if (t < tb.attack_s) {
    a = t / tb.attack_s;
  } else if (t < tb.attack_s + tb.decay_s) {
    a = 1.0 - (1.0 - tb.sustain) * (t - tb.attack_s) / tb.decay_s;
  } else {
    a = tb.sustain;
  }
  if (t > dur) a *= std::max(0.0, 1.0 - (t - dur) / tb.release_s);
  return a;
}

// Adds one note (additive synthesis) into `out` starting at sample `start`.
void add_note(std::vector<float>& out, int rate, std::size_t start, double dur_s, double hz,
              double amp, const Timbre& tb, double phase0) {
  const double total = dur_s + tb.release_s;
  const std::size_t n = static_cast<std::size_t>(total * rate);
  const double nyq = rate * 0.45;
  std::array<double, 8> ph{};
  for (std::size_t i = 0; i < n && start + i < out.size(); ++i) {
    const double t = static_cast<double>(i) / rate;
    const double env = envelope(tb, t, dur_s);
    if (env <= 0.0) continue;
    const double vib =
        tb.vibrato_depth > 0
            ? std::pow(2.0, tb.vibrato_depth / 12.0 * std::sin(kTwoPi * tb.vibrato_hz * t + phase0))
            : 1.0;
    double s = 0;
    for (std::size_t k = 0; k < tb.partials.size(); ++k) {
      const double kk = static_cast<double>(k + 1);
      const double f = hz * vib * kk * (1.0 + tb.inharmonic * kk * kk);
      if (f >= nyq) break;
      ph[k] += kTwoPi * f / rate;
      s += tb.partials[k] * std::sin(ph[k] + phase0 * kk);
    }
    out[start + i] += static_cast<float>(amp * env * s);
  }
}

void add_kick(std::vector<float>& out, int rate, std::size_t start, double amp) {
  const std::size_t n = static_cast<std::size_t>(0.25 * rate);
  double ph = 0;
  for (std::size_t i = 0; i < n && start + i < out.size(); ++i) {
    const double t = static_cast<double>(i) / rate;
    const double f = 45.0 + 110.0 * std::exp(-t * 30.0);
    ph += kTwoPi * f / rate;
    out[start + i] += static_cast<float>(amp * std::exp(-t * 12.0) * std::sin(ph));
  }
}

void add_noise_hit(std::vector<float>& out, int rate, std::size_t start, double amp, double decay,
                   double tone_hz, std::mt19937_64& rng, bool highpass) {
  std::normal_distribution<double> g(0.0, 1.0);
  const std::size_t n = static_cast<std::size_t>(5.0 / decay * rate);
  double prev = 0;
  for (std::size_t i = 0; i < n && start + i < out.size(); ++i) {
    const double t = static_cast<double>(i) / rate;
    double x = g(rng);
    double y = highpass ? x - prev : x;
    prev = x;
    double tone = tone_hz > 0 ? 0.5 * std::sin(kTwoPi * tone_hz * t) : 0.0;
    out[start + i] += static_cast<float>(amp * std::exp(-t * decay) * (0.6 * y + tone));
  }
}

}  // namespace

std::vector<float> synth_music(uint64_t seed, const SynthOptions& opt) {
  std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ull + 12345);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int rate = opt.sample_rate;
  std::vector<float> out(static_cast<std::size_t>(opt.seconds * rate), 0.0f);

  static constexpr std::array<std::array<int, 7>, 4> kScales{{
      {0, 2, 4, 5, 7, 9, 11},   // major
      {0, 2, 3, 5, 7, 8, 10},   // minor
      {0, 2, 3, 5, 7, 9, 10},   // dorian
      {0, 2, 4, 7, 9, 12, 14},  // pentatonic
  }};
  const auto& scale = kScales[rng() % kScales.size()];
  const int root = 48 + static_cast<int>(rng() % 12);
  const double bpm = 80.0 + 80.0 * u(rng);
  const double beat = 60.0 / bpm;
  std::array<int, 4> prog{};
  for (auto& d : prog) d = static_cast<int>(rng() % 7);
  const Timbre pad = random_timbre(rng, false);
  const Timbre lead = random_timbre(rng, u(rng) < 0.5);
  const Timbre bass = random_timbre(rng, true);
  const int kick_pattern = static_cast<int>(rng() % 16) | 1;
  const int snare_pattern = static_cast<int>(rng() % 16) | 4;
  const double hat_div = u(rng) < 0.5 ? 2.0 : 4.0;

  auto degree_note = [&](int deg, int octave) {
    const int d = ((deg % 7) + 7) % 7;
    return root + 12 * (octave + (deg < 0 ? -1 : deg / 7)) + scale[static_cast<std::size_t>(d)];
  };

  const std::size_t beats = static_cast<std::size_t>(opt.seconds / beat) + 1;
  int melody_deg = static_cast<int>(rng() % 7);
  for (std::size_t b = 0; b < beats; ++b) {
    const std::size_t s0 = static_cast<std::size_t>(static_cast<double>(b) * beat * rate);
    const int chord = prog[(b / 4) % prog.size()];
    if (b % 4 == 0) {  // chord pad, whole bar
      for (int k = 0; k < 3; ++k)
        add_note(out, rate, s0, 4 * beat * 0.95, midi_hz(degree_note(chord + 2 * k, 0)), 0.18, pad,
                 u(rng) * kTwoPi);
    }
    // bass on beats 1 and 3, with octave jumps
    if (b % 2 == 0)
      add_note(out, rate, s0, beat * 0.9, midi_hz(degree_note(chord, -1) + (b % 4 == 2 ? 12 : 0)),
               0.35, bass, u(rng) * kTwoPi);
    // melody: one to four notes per beat, random walk on the scale
    const int sub = 1 + static_cast<int>(rng() % 3);
    for (int k = 0; k < sub; ++k) {
      if (u(rng) < 0.2) continue;  // rest
      melody_deg += static_cast<int>(rng() % 5) - 2;
      melody_deg = std::clamp(melody_deg, -3, 12);
      const std::size_t sk = s0 + static_cast<std::size_t>(k * beat / sub * rate);
      add_note(out, rate, sk, beat / sub * 0.85, midi_hz(degree_note(melody_deg, 1)),
               0.22 + 0.1 * u(rng), lead, u(rng) * kTwoPi);
    }
    // drums
    const int step = static_cast<int>(b % 4);
    if (kick_pattern >> step & 1) add_kick(out, rate, s0, 0.6);
    if (snare_pattern >> step & 1) add_noise_hit(out, rate, s0, 0.3, 18.0, 190.0, rng, false);
    for (int h = 0; h < static_cast<int>(hat_div); ++h) {
      const std::size_t sh = s0 + static_cast<std::size_t>(h * beat / hat_div * rate);
      add_noise_hit(out, rate, sh, 0.08 + 0.04 * u(rng), 60.0, 0.0, rng, true);
    }
  }
  // a little background noise, then normalise
  std::normal_distribution<double> g(0.0, 1.0);
  double peak = 1e-9;
  for (auto& x : out) {
    x += static_cast<float>(0.003 * g(rng));
    peak = std::max(peak, static_cast<double>(std::fabs(x)));
  }
  const float k = static_cast<float>(opt.gain / peak * 2.0);
  for (auto& x : out) x = std::clamp(x * k, -1.0f, 1.0f);
  return out;
}

std::vector<float> synth_babble(uint64_t seed, const SynthOptions& opt) {
  std::mt19937_64 rng(seed ^ 0xB5AD4ECEDA1CE2A9ull);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int rate = opt.sample_rate;
  std::vector<float> out(static_cast<std::size_t>(opt.seconds * rate), 0.0f);
  static constexpr std::array<std::array<double, 3>, 5> kVowels{{{730, 1090, 2440},
                                                                 {270, 2290, 3010},
                                                                 {300, 870, 2240},
                                                                 {530, 1840, 2480},
                                                                 {570, 840, 2410}}};
  std::size_t pos = 0;
  const double f0_base = 100.0 + 120.0 * u(rng);
  while (pos < out.size()) {
    const double syl = 0.12 + 0.2 * u(rng);
    const auto& v = kVowels[rng() % kVowels.size()];
    const std::size_t n = static_cast<std::size_t>(syl * rate);
    double ph = 0;
    const double f0a = f0_base * (0.85 + 0.3 * u(rng)), f0b = f0_base * (0.85 + 0.3 * u(rng));
    for (std::size_t i = 0; i < n && pos + i < out.size(); ++i) {
      const double t = static_cast<double>(i) / static_cast<double>(n);
      const double f0 = f0a + (f0b - f0a) * t;
      ph += kTwoPi * f0 / rate;
      double s = 0;
      for (int h = 1; h * f0 < rate * 0.45 && h < 40; ++h) {
        const double fh = h * f0;
        double a = 0;
        for (std::size_t k = 0; k < 3; ++k) {
          const double bw = 80.0 + 40.0 * static_cast<double>(k);
          a += (1.0 / static_cast<double>(k + 1)) / (1.0 + std::pow((fh - v[k]) / bw, 2));
        }
        s += a * std::sin(h * ph) / h;
      }
      out[pos + i] += static_cast<float>(std::sin(std::numbers::pi * t) * s);
    }
    pos += n;
    if (u(rng) < 0.25) pos += static_cast<std::size_t>((0.1 + 0.4 * u(rng)) * rate);  // pause
  }
  double peak = 1e-9;
  for (auto x : out) peak = std::max(peak, static_cast<double>(std::fabs(x)));
  const float k = static_cast<float>(opt.gain / peak * 2.0);
  for (auto& x : out) x = std::clamp(x * k, -1.0f, 1.0f);
  return out;
}

std::vector<float> white_noise(uint64_t seed, std::size_t n) {
  std::mt19937_64 rng(seed ^ 0x5851F42D4C957F2Dull);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> out(n);
  for (auto& x : out) x = g(rng);
  return out;
}

}  // namespace aircheck::eval
