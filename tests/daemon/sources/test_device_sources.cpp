// ALSA and PortAudio capture without a sound card: an asoundrc PCM of type `file` whose
// `infile` supplies the captured frames, over a `null` slave. libasound runs its real capture
// path (open, hw/sw params, readi), and PortAudio's ALSA host lists the PCM as a device.
// The null slave does not pace, so capture runs as fast as the CPU allows; after the infile
// ends the plugin keeps returning stale frames, so only the first infile-length is compared.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "daemon/source.h"
#include "test_media.h"

namespace aircheck::daemon {
namespace {

using testing::decode_at;
using testing::temp_dir;
using testing::wait_for;
using testing::write_song;

constexpr int kRate = 8000;
constexpr int kDeviceRate = 48000;
constexpr const char* kPcm = "aircheck_test_capture";

/// Writes the infile (float32 LE stereo at 48 kHz, both channels the same song) and an
/// asoundrc defining kPcm, points ALSA_CONFIG_PATH at it, and returns the reference: the same
/// song decoded to mono 8 kHz by the project's decoder.
const std::vector<float>& setup_device() {
  static const std::vector<float> ref = [] {
    const std::string wav = write_song("device.wav", 2, kDeviceRate, 21);
    const std::vector<float> mono = decode_at(wav, kDeviceRate);
    const std::string raw = (temp_dir() / "device.f32").string();
    std::ofstream out(raw, std::ios::binary);
    for (float x : mono) {
      out.write(reinterpret_cast<const char*>(&x), sizeof x);
      out.write(reinterpret_cast<const char*>(&x), sizeof x);
    }
    out.close();
    const std::string conf = (temp_dir() / "asoundrc").string();
    std::ofstream c(conf);
    c << "</usr/share/alsa/alsa.conf>\n"
      << "pcm." << kPcm << " {\n  type file\n  slave.pcm { type null }\n"
      << "  file \"/dev/null\"\n  infile \"" << raw << "\"\n  format \"raw\"\n}\n";
    c.close();
    ::setenv("ALSA_CONFIG_PATH", conf.c_str(), 1);
    return decode_at(wav, kRate);
  }();
  return ref;
}

/// Collects the first n samples at their positions (NaN where none arrived).
std::vector<float> capture_first(Source& src, std::size_t n, std::vector<HealthEvent>& events) {
  std::vector<float> got(n, NAN);
  std::size_t filled = 0;
  const bool ok = wait_for([&] {
    for (Block b = src.read_block(); !b.samples.empty(); b = src.read_block()) {
      for (std::size_t i = 0; i < b.samples.size() && b.pos + i < n; ++i) {
        got[b.pos + i] = b.samples[i];
        filled = b.pos + i + 1;
      }
    }
    HealthEvent ev{};
    while (src.poll_health(ev)) events.push_back(ev);
    return filled >= n;
  });
  EXPECT_TRUE(ok) << "only " << filled << " of " << n << " samples arrived";
  return got;
}

/// Best normalized correlation of got against ref over lags 0..max_lag (resampler delay).
double best_correlation(const std::vector<float>& got, const std::vector<float>& ref, int max_lag) {
  double best = -1;
  for (int lag = 0; lag <= max_lag; ++lag) {
    double xy = 0, xx = 0, yy = 0;
    for (std::size_t i = 200; i + static_cast<std::size_t>(lag) < got.size() && i < ref.size();
         ++i) {
      const double x = got[i + static_cast<std::size_t>(lag)], y = ref[i];
      if (std::isnan(x)) continue;
      xy += x * y;
      xx += x * x;
      yy += y * y;
    }
    if (xx > 0 && yy > 0) best = std::max(best, xy / std::sqrt(xx * yy));
  }
  return best;
}

TEST(AlsaSource, CapturesThroughAnAsoundrcFilePcm) {
#ifndef AIRCHECK_HAVE_ALSA
  GTEST_SKIP() << "built without AIRCHECK_WITH_ALSA";
#else
  const std::vector<float>& ref = setup_device();
  // A large ring: the unpaced null device outruns the consumer, and only drops after the
  // first seconds (which are what is compared) would be acceptable.
  auto src =
      make_source(parse_source_spec("mic", std::string("alsa:") + kPcm + "?buffer_s=60"), kRate);
  src->start();
  std::vector<HealthEvent> events;
  const std::vector<float> got = capture_first(*src, ref.size() - 400, events);
  src->stop();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type, HealthEvent::Type::up);
  EXPECT_GT(best_correlation(got, ref, 64), 0.99);
#endif
}

TEST(AlsaSource, UnknownPcmNameFailsAtStart) {
#ifndef AIRCHECK_HAVE_ALSA
  GTEST_SKIP() << "built without AIRCHECK_WITH_ALSA";
#else
  setup_device();
  auto src = make_source(parse_source_spec("x", "alsa:no_such_pcm_here"), kRate);
  try {
    src->start();
    ADD_FAILURE() << "started";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_pcm_here"), std::string::npos) << e.what();
  }
  src->stop();
#endif
}

TEST(PortAudioSource, CapturesThroughTheSameAlsaPcm) {
#ifndef AIRCHECK_HAVE_PORTAUDIO
  GTEST_SKIP() << "built without AIRCHECK_WITH_PORTAUDIO";
#else
  const std::vector<float>& ref = setup_device();
  auto src = make_source(
      parse_source_spec("pa", std::string("pa:") + kPcm + "?rate=48000&buffer_s=60"), kRate);
  try {
    src->start();
  } catch (const std::runtime_error& e) {
    GTEST_SKIP() << "PortAudio cannot see the test PCM here: " << e.what();
  }
  std::vector<HealthEvent> events;
  const std::vector<float> got = capture_first(*src, ref.size() - 400, events);
  src->stop();
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.front().type, HealthEvent::Type::up);
  EXPECT_GT(best_correlation(got, ref, 64), 0.99);
#endif
}

}  // namespace
}  // namespace aircheck::daemon
