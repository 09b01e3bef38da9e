#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <span>

#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"
#include "dsp/decode/resample.h"
#include "tests/support/correlation.h"
#include "tests/support/files.h"

using namespace aircheck;
using aircheck::test::best_correlation;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/aircheck-decode-XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { fs::remove_all(path); }
};

}  // namespace

class DecoderFormats : public ::testing::TestWithParam<const char*> {};

TEST_P(DecoderFormats, RoundTripThroughFfmpeg) {
  TempDir dir;
  const auto song = eval::synth_music(77, {6.0, 44100, 0.3});
  const fs::path file = dir.path / (std::string("song.") + GetParam());
  dsp::decode::encode_file(file.string(), song, 44100, 128000);
  dsp::decode::Metadata meta;
  const auto got = dsp::decode::decode_all(file.string(), {}, &meta);
  // 6 s at 8 kHz, give or take encoder padding
  EXPECT_NEAR(static_cast<double>(got.size()), 48000.0, 3000.0) << meta.codec;
  // Same music: resample the reference through the same path and compare waveforms.
  const fs::path ref = dir.path / "ref.wav";
  dsp::decode::encode_file(ref.string(), song, 44100);
  const auto want = dsp::decode::decode_all(ref.string());
  EXPECT_GT(best_correlation(want, got, 2200), 0.8) << GetParam();
  EXPECT_EQ(meta.source_channels, 1);
}

INSTANTIATE_TEST_SUITE_P(Formats, DecoderFormats,
                         ::testing::Values("wav", "flac", "mp3", "ogg", "m4a", "opus"));

TEST(Decoder, DownmixesStereoAndResamples) {
  TempDir dir;
  if (std::system("command -v ffmpeg >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "ffmpeg CLI not installed";
  const auto song = eval::synth_music(5, {4.0, 48000, 0.3});
  const fs::path mono = dir.path / "mono.wav", stereo = dir.path / "stereo.mp4";
  dsp::decode::encode_file(mono.string(), song, 48000);
  // A video-style container with a stereo AAC track and tags, made by the ffmpeg tool.
  const std::string cmd =
      "ffmpeg -loglevel error -y -i " + mono.string() +
      " -ac 2 -c:a aac -b:a 128k -metadata title='Night Drive' -metadata artist='The Testers' " +
      stereo.string();
  ASSERT_EQ(std::system(cmd.c_str()), 0);
  dsp::decode::Metadata meta;
  const auto got = dsp::decode::decode_all(stereo.string(), {}, &meta);
  EXPECT_EQ(meta.source_channels, 2);
  EXPECT_EQ(meta.source_rate, 48000);
  EXPECT_EQ(meta.title, "Night Drive");
  EXPECT_EQ(meta.artist, "The Testers");
  EXPECT_NEAR(static_cast<double>(got.size()), 32000.0, 2000.0);
  EXPECT_GT(best_correlation(dsp::decode::decode_all(mono.string()), got, 2200), 0.8);
}

TEST(Decoder, CorruptFileIsNamedInTheError) {
  TempDir dir;
  const fs::path bad = dir.path / "garbage.mp3";
  std::ofstream(bad) << std::string(5000, 'x') << "definitely not audio";
  try {
    dsp::decode::decode_all(bad.string());
    FAIL() << "expected DecodeError";
  } catch (const dsp::decode::DecodeError& e) {
    EXPECT_NE(std::string(e.what()).find(bad.string()), std::string::npos) << e.what();
  }
  EXPECT_THROW(dsp::decode::decode_all((dir.path / "missing.wav").string()),
               dsp::decode::DecodeError);
}

TEST(Decoder, TruncatedFileDecodesWhatIsThere) {
  TempDir dir;
  const auto song = eval::synth_music(6, {8.0, 44100, 0.3});
  const fs::path f = dir.path / "song.flac";
  dsp::decode::encode_file(f.string(), song, 44100);
  const auto full = dsp::decode::decode_all(f.string());
  fs::resize_file(f, fs::file_size(f) / 2);
  std::vector<float> half;
  try {
    half = dsp::decode::decode_all(f.string());
  } catch (const dsp::decode::DecodeError& e) {
    FAIL() << "a truncated file should yield its first part: " << e.what();
  }
  EXPECT_GT(half.size(), full.size() / 4);
  EXPECT_LT(half.size(), full.size() * 3 / 4);
}

// Bytes damaged in the middle of a file: the packets they hit are skipped, and the audio after
// them stays where it was (the gap is filled with silence from the stream's timestamps), so
// offsets and source-clock times measured after the damage stay right. Counted and reported.
// Undamaged files fill nothing: Vorbis' timestamps jitter around its audio by its block
// overlaps. (An MP3 file has no timestamps of its own: a frame its parser loses to the damage
// leaves no trace, so there the audio after the damage can move by a frame, 26 ms.)
TEST(Decoder, DamagedPacketsKeepTheTimeline) {
  for (const char* ext : {"flac", "ogg", "opus", "m4a"}) {
    SCOPED_TRACE(ext);
    TempDir dir;
    const auto song = eval::synth_music(9, {20.0, 44100, 0.3});
    const fs::path f = dir.path / (std::string("song.") + ext);
    dsp::decode::encode_file(f.string(), song, 44100, 128000);
    dsp::decode::Metadata clean_meta;
    const auto clean = dsp::decode::decode_all(f.string(), {}, &clean_meta);
    EXPECT_EQ(clean_meta.decode_errors, 0u);
    EXPECT_EQ(clean_meta.filled_s, 0.0);
    test::overwrite_bytes(f, 60, 0.4, 0.6, 12345);  // 60 bytes between 40 % and 60 %
    dsp::decode::Metadata meta;
    const auto got = dsp::decode::decode_all(f.string(), {}, &meta);
    // Damaged packets the decoder rejects are counted (an Ogg page that fails its checksum
    // is dropped by the demuxer unseen); the audio they cost is measured either way.
    if (std::string(ext) != "ogg" && std::string(ext) != "opus") {
      EXPECT_GT(meta.decode_errors, 0u) << "the damage is counted";
    }
    EXPECT_GT(meta.filled_s, 0.02) << "the audio the damage cost";
    EXPECT_LT(meta.filled_s, 8.0);
    // The same length, give or take a packet, and the audio after the damage at the same
    // sample positions as in the undamaged file (16 to 19 s).
    EXPECT_NEAR(static_cast<double>(got.size()), static_cast<double>(clean.size()), 0.03 * 8000);
    const std::size_t from = 16 * 8000, to = 19 * 8000;
    ASSERT_GE(clean.size(), to);
    ASSERT_GE(got.size(), to) << "audio was lost";
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = from; i < to; ++i) {
      const double a = clean[i], b = got[i];
      ab += a * b;
      aa += a * a;
      bb += b * b;
    }
    EXPECT_GT(ab / std::sqrt(aa * bb + 1e-20), 0.95) << "the audio after the damage moved";
  }
}

// A transport stream with 3 s of its packets gone (a feed interrupted): with a fill of up to
// 1 s and skips up to 5 s, the decoder fills nothing there but says where the gap lies and
// how long it is, once; placed there, the audio after it is where the whole stream has it.
// Without skips the gap is neither filled nor reported, and everything after comes early.
TEST(Decoder, AGapLongerThanTheFillIsLeftToTheCallerToSkip) {
  TempDir dir;
  const auto song = eval::synth_music(23, {10.0, 44100, 0.3});
  const fs::path ts = dir.path / "feed.ts", cut = dir.path / "cut.ts";
  const std::span<const float> streams[] = {song};
  dsp::decode::encode_streams(ts.string(), streams, 44100, 128000);
  const std::string bytes = test::read_file(ts);
  std::string kept;
  const std::size_t packets = bytes.size() / 188;
  for (std::size_t i = 0; i < packets; ++i) {
    if (i < packets * 4 / 10 || i >= packets * 7 / 10) kept.append(bytes, i * 188, 188);
  }
  std::ofstream(cut, std::ios::binary) << kept;
  const auto whole = dsp::decode::decode_all(ts.string());

  const auto read = [&](double max_skip_s, std::vector<float>& placed) {
    dsp::decode::OpenOptions o;
    o.max_gap_s = 1;
    o.max_skip_s = max_skip_s;
    dsp::decode::Decoder d(cut.string(), o);
    std::vector<float> buf;
    int skips = 0;
    while (d.read(buf)) {
      std::size_t at = 0;
      uint64_t samples = 0;
      if (d.take_skip(at, samples)) {
        ++skips;
        EXPECT_NEAR(static_cast<double>(at) / 8000, 4.0, 0.3) << "where the gap lies";
        EXPECT_GT(static_cast<double>(samples) / 8000, 2.95) << "how long it is";
        EXPECT_LT(static_cast<double>(samples) / 8000, 3.4);
        buf.insert(buf.begin() + static_cast<std::ptrdiff_t>(at), samples, 0.0f);
      }
    }
    EXPECT_EQ(d.filled_s(), 0.0);
    placed = std::move(buf);
    return skips;
  };
  const auto after_the_gap = [&](const std::vector<float>& got) {
    const std::size_t from = 7500 * 8, to = 9500 * 8;
    if (got.size() < to) return 0.0;
    double ab = 0, aa = 0, bb = 0;
    for (std::size_t i = from; i < to; ++i) {
      ab += static_cast<double>(whole[i]) * got[i];
      aa += static_cast<double>(whole[i]) * whole[i];
      bb += static_cast<double>(got[i]) * got[i];
    }
    return ab / std::sqrt(aa * bb + 1e-20);
  };
  std::vector<float> placed;
  EXPECT_EQ(read(5, placed), 1);
  EXPECT_GT(after_the_gap(placed), 0.95);
  std::vector<float> unplaced;
  EXPECT_EQ(read(0, unplaced), 0);
  EXPECT_LT(after_the_gap(unplaced), 0.5) << "the audio after the gap came early";
  EXPECT_NEAR(static_cast<double>(placed.size() - unplaced.size()) / 8000, 3.1, 0.3);
}

TEST(Decoder, DecodesTheProgramAskedForOfAMultiplex) {
  // An MPEG-TS of two programs (a TV or DAB multiplex carries several stations), each with
  // its own music: the decoder reads the audio of the program asked for.
  TempDir dir;
  const auto a = eval::synth_music(21, {6.0, 44100, 0.3});
  const auto b = eval::synth_music(22, {6.0, 44100, 0.3});
  const fs::path mux = dir.path / "mux.ts";
  const std::span<const float> streams[] = {a, b};
  dsp::decode::encode_streams(mux.string(), streams, 44100, 128000);
  const fs::path wa = dir.path / "a.wav", wb = dir.path / "b.wav";
  dsp::decode::encode_file(wa.string(), a, 44100);
  dsp::decode::encode_file(wb.string(), b, 44100);
  const auto want_a = dsp::decode::decode_all(wa.string());
  const auto want_b = dsp::decode::decode_all(wb.string());
  for (const int program : {1, 2}) {
    SCOPED_TRACE(program);
    dsp::decode::OpenOptions o;
    o.program_id = program;
    const auto got = dsp::decode::decode_all(mux.string(), o);
    EXPECT_NEAR(static_cast<double>(got.size()), 48000.0, 3000.0);
    const auto& want = program == 1 ? want_a : want_b;
    const auto& other = program == 1 ? want_b : want_a;
    EXPECT_GT(best_correlation(want, got, 2200), 0.8);
    EXPECT_LT(best_correlation(other, got, 2200), 0.3);
  }
  // A program the multiplex does not carry: an error naming the input and the program.
  dsp::decode::OpenOptions o;
  o.program_id = 7;
  try {
    dsp::decode::decode_all(mux.string(), o);
    FAIL() << "expected DecodeError";
  } catch (const dsp::decode::DecodeError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(mux.string()), std::string::npos) << what;
    EXPECT_NE(what.find("no program 7"), std::string::npos) << what;
  }
}

TEST(Decoder, ReadsInChunks) {
  TempDir dir;
  const auto song = eval::synth_music(8, {3.0, 22050, 0.3});
  const fs::path f = dir.path / "s.wav";
  dsp::decode::encode_file(f.string(), song, 22050);
  dsp::decode::Decoder d(f.string());
  std::vector<float> all;
  int calls = 0;
  while (d.read(all, 1000)) ++calls;
  EXPECT_GT(calls, 10);
  EXPECT_EQ(all, dsp::decode::decode_all(f.string()));
}

TEST(StreamResampler, BlocksGiveTheSameSignalAsOneCall) {
  // Music stretched 2.5 % (a speed hypothesis), fed in uneven blocks, is the same signal, time
  // for time, as resampling it in one call.
  const auto x = eval::synth_music(21, {8, 8000, 0.3});
  const int to = 8200;
  const auto whole = dsp::decode::resample(x, 8000, to);
  dsp::decode::StreamResampler rs(8000, to);
  std::vector<float> out;
  std::size_t pos = 0, step = 37;
  while (pos < x.size()) {
    const std::size_t n = std::min(step, x.size() - pos);
    rs.process(std::span(x).subspan(pos, n), out);
    pos += n;
    step = step * 7 % 1500 + 1;
  }
  rs.flush(out);
  ASSERT_NEAR(static_cast<double>(out.size()), static_cast<double>(whole.size()), 64.0);
  double err = 0, energy = 0;
  for (std::size_t i = 0; i < std::min(out.size(), whole.size()); ++i) {
    err += (out[i] - whole[i]) * (out[i] - whole[i]);
    energy += whole[i] * whole[i];
  }
  EXPECT_LT(err, 1e-6 * energy);
  // After flush it starts anew: the same input gives the same output again.
  std::vector<float> again;
  rs.process(x, again);
  rs.flush(again);
  EXPECT_EQ(again.size(), out.size());
}
