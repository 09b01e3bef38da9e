// End to end: evidence clips from the real aircheckd. A programme of synthesized songs runs
// through a file source with evidence on; every airing_end must name a clip that exists, is
// complete, lasts pre-roll + airing (or max_s), sits at the right place of the source and is
// recognised by the matcher as the aired track at the right offset.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"
#include "dsp/fingerprinter.h"
#include "dsp/params.h"
#include "matcher/matcher.h"
#include "store/index.h"
#include "tests/daemon/aircheckd_harness.h"
#include "tests/support/files.h"

namespace {

using namespace aircheck::e2e;

constexpr double kPreRoll = 2.0;  // seconds, in the configurations below
constexpr double kMax = 20.0;     // seconds

std::vector<float> decode(const std::string& path) {
  aircheck::dsp::decode::OpenOptions o;
  o.sample_rate = kRate;
  return aircheck::dsp::decode::decode_all(path, o);
}

/// "2026-11-21T00:00:06.123Z" -> "20261121T000006.123Z"
std::string compact(std::string iso) {
  std::erase(iso, '-');
  std::erase(iso, ':');
  return iso;
}

/// Normalised correlation of a and b shifted by `lag` samples (b[i + lag] against a[i]).
double correlation(const std::vector<float>& a, const std::vector<float>& b, long lag) {
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    const long j = static_cast<long>(i) + lag;
    if (j < 0 || j >= static_cast<long>(b.size())) continue;
    ab += static_cast<double>(a[i]) * b[static_cast<std::size_t>(j)];
    aa += static_cast<double>(a[i]) * a[i];
    bb += static_cast<double>(b[static_cast<std::size_t>(j)]) * b[static_cast<std::size_t>(j)];
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0;
}

class EvidenceClips : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("aircheckd_clips_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    const aircheck::dsp::Params params;
    auto index = aircheck::store::Index::open(dir_ / "index", {params.digest(), params.describe()},
                                              aircheck::store::OpenMode::create);
    const double lengths[] = {12, 40, 18, 26};
    for (int i = 0; i < 4; ++i) {
      Song s;
      s.title = "clip" + std::to_string(i);
      aircheck::eval::SynthOptions o;
      o.seconds = lengths[i];
      o.sample_rate = kRate;
      s.pcm = aircheck::eval::synth_music(static_cast<uint64_t>(300 + i), o);
      aircheck::store::TrackInfo info;
      info.title = s.title;
      info.duration_s = static_cast<double>(s.pcm.size()) / kRate;
      s.id = index->add_track(
          info, aircheck::dsp::fingerprint(params, aircheck::dsp::Side::index, s.pcm));
      songs_.push_back(std::move(s));
    }
    // Airings of 12 s (clip 14 s), 40 s (capped at 20 s), a 12-s excerpt, 26 s (capped).
    Programme p;
    p.add(music(9301, 6));
    p.play(songs_[0], 0, -1, truth_);
    aircheck::eval::SynthOptions o;
    o.seconds = 4;
    o.sample_rate = kRate;
    p.add(aircheck::eval::synth_babble(31, o));
    p.play(songs_[1], 0, -1, truth_);
    p.add(music(9302, 5));
    p.play(songs_[2], 3, 12, truth_);
    p.add(music(9303, 4));
    p.play(songs_[3], 0, -1, truth_);
    p.add(music(9304, 5));
    programme_ = dir_ / "programme.flac";
    aircheck::dsp::decode::encode_file(programme_.string(), p.pcm, kRate);
    programme_pcm_ = decode(programme_.string());  // what the daemon hears (16-bit)
  }
  static void TearDownTestSuite() { fs::remove_all(dir_); }

  static std::vector<float> music(uint64_t seed, double seconds) {
    aircheck::eval::SynthOptions o;
    o.seconds = seconds;
    o.sample_rate = kRate;
    return aircheck::eval::synth_music(seed, o);
  }

  /// Runs aircheckd over the programme with evidence in `format`; a second source on the same
  /// file has no evidence. Returns the events.
  static std::vector<json> run(const std::string& format, const fs::path& clips) {
    const fs::path log = dir_ / ("clips_" + format + ".jsonl");
    const fs::path cfg = dir_ / ("clips_" + format + ".yaml");
    {
      std::ofstream out(cfg);
      out << "index: " << (dir_ / "index").string() << "\nthreads: 2\n"
          << "evidence: {enabled: true, dir: " << clips.string() << ", format: " << format
          << ", pre_roll_s: " << kPreRoll << ", max_s: " << kMax << "}\n"
          << "sinks:\n  journald: {enabled: false}\n  jsonl: {path: " << log.string() << "}\n"
          << "sources:\n"
          << "  - {id: prog, kind: file, address: " << programme_.string()
          << ", options: {pace: fast, start: \"2026-11-21T00:00:00Z\"}, evidence: true}\n"
          << "  - {id: plain, kind: file, address: " << programme_.string()
          << ", options: {pace: fast}}\n";
    }
    Daemon d({"--config", cfg.string()});
    EXPECT_EQ(d.wait(std::chrono::seconds(240)), 0) << "aircheckd did not exit by itself with 0";
    return read_events(log);
  }

  /// Every check on the clips of one run.
  static void check_clips(const std::vector<json>& events, const fs::path& clips,
                          const std::string& format) {
    EXPECT_TRUE(of_type(events, "clip_failed").empty()) << "a clip was not written";
    const auto ends = of_type(events, "airing_end", "prog");
    ASSERT_EQ(ends.size(), truth_.size()) << "airings found vs. programme";
    EXPECT_EQ(of_type(events, "airing_end", "plain").size(), truth_.size());
    for (const json& e : of_type(events, "airing_end", "plain")) EXPECT_FALSE(e.contains("clip"));
    EXPECT_FALSE(fs::exists(clips / "plain"));
    EXPECT_EQ(aircheck::test::count_files(clips, ".part"), 0u) << "a .part was left behind";
    const std::string ext = format == "ogg" ? ".opus" : ".flac";
    EXPECT_EQ(aircheck::test::count_files(clips, ext), ends.size());

    const aircheck::dsp::Params params;
    auto index = aircheck::store::Index::open(dir_ / "index", {params.digest(), params.describe()},
                                              aircheck::store::OpenMode::read_only);
    auto reader = index->reader();
    aircheck::matcher::Matcher matcher(params);
    int capped = 0;
    for (const json& e : ends) {
      SCOPED_TRACE(e.dump());
      ASSERT_TRUE(e.contains("clip"));
      const std::string path = e["clip"];
      const double start = e["start_pos_s"], end = e["end_pos_s"];
      const double clip_start = e["clip_start_pos_s"], clip_len = e["clip_duration_s"];
      // Named after the source and the airing's start, in the configured folder and format.
      EXPECT_EQ(path,
                (clips / "prog" /
                 (compact(e["start_utc"]) + "_" + std::to_string(e["track_id"].get<int>()) + ext))
                    .string());
      // Pre-roll + airing, capped at max_s keeping the start.
      const bool cap = end - start + kPreRoll > kMax;
      capped += cap;
      EXPECT_EQ(e["clip_capped"].get<bool>(), cap);
      EXPECT_NEAR(clip_start, start - kPreRoll, 0.0011);
      EXPECT_NEAR(clip_len, cap ? kMax : end - start + kPreRoll, 0.0011);
      // clip_start_pos_s is rounded to the millisecond, the UTC text truncated: one of two.
      const std::string utc = e["clip_start_utc"];
      EXPECT_TRUE(utc == utc_of_pos(clip_start) || utc == utc_of_pos(clip_start - 0.001)) << utc;

      ASSERT_TRUE(fs::exists(path));
      const auto pcm = decode(path);
      const double decoded_s = static_cast<double>(pcm.size()) / kRate;
      EXPECT_NEAR(decoded_s, clip_len, 0.1) << "decoded length";

      // The clip is the source's audio at clip_start_pos_s.
      const auto at = static_cast<std::size_t>(std::llround(clip_start * kRate));
      ASSERT_LE(at + pcm.size(), programme_pcm_.size() + kRate / 10);
      const std::vector<float> src(
          programme_pcm_.begin() + static_cast<long>(at),
          programme_pcm_.begin() +
              static_cast<long>(std::min(programme_pcm_.size(), at + pcm.size())));
      if (format == "flac") {
        // Lossless: sample for sample.
        ASSERT_EQ(pcm.size(), src.size());
        float worst = 0;
        for (std::size_t i = 0; i < pcm.size(); ++i)
          worst = std::max(worst, std::abs(pcm[i] - src[i]));
        EXPECT_LE(worst, 1.0f / 32768) << "FLAC clip differs from the source audio";
      } else {
        // Lossy: the waveform correlates best at lag 0 (±1 sample), and strongly.
        long best_lag = 0;
        double best = -2;
        for (long lag = -80; lag <= 80; ++lag) {
          const double c = correlation(pcm, src, lag);
          if (c > best) best = c, best_lag = lag;
        }
        std::printf("  %s: %.2f s, correlation %.3f at lag %ld\n", path.c_str(), decoded_s, best,
                    best_lag);
        EXPECT_LE(std::abs(best_lag), 1);
        EXPECT_GT(best, 0.8);
      }

      // The matcher recognises the aired track in the clip, at the offset of its first sample.
      const auto hashes = aircheck::dsp::fingerprint(params, aircheck::dsp::Side::query, pcm);
      reader->begin();
      const auto cands = matcher.match(hashes, *reader);
      ASSERT_FALSE(cands.empty());
      EXPECT_TRUE(matcher.accepted(cands[0]));
      EXPECT_EQ(cands[0].track, e["track_id"].get<uint32_t>());
      const double want = e["ref_start_s"].get<double>() - (start - clip_start);
      EXPECT_NEAR(cands[0].offset * params.frame_seconds(), want, 0.05) << "offset in the track";
      reader->end();
    }
    EXPECT_EQ(capped, 2) << "two airings are longer than max_s";
  }

  /// The UTC text of a programme position (start=2026-11-21T00:00:00Z).
  static std::string utc_of_pos(double pos_s) {
    const auto ms = static_cast<long>(std::floor(pos_s * 1000 + 1e-6));
    char buf[64];
    std::snprintf(buf, sizeof buf, "2026-11-21T00:%02ld:%02ld.%03ldZ", ms / 60000, ms / 1000 % 60,
                  ms % 1000);
    return buf;
  }

  static inline fs::path dir_;
  static inline std::vector<Song> songs_;
  static inline std::vector<Truth> truth_;
  static inline fs::path programme_;
  static inline std::vector<float> programme_pcm_;
};

TEST_F(EvidenceClips, OggOpusClipsOfEveryAiring) {
  const fs::path clips = dir_ / "clips-ogg";
  const auto events = run("ogg", clips);
  check_clips(events, clips, "ogg");
}

TEST_F(EvidenceClips, FlacClipsAreTheSourceAudioSampleForSample) {
  const fs::path clips = dir_ / "clips-flac";
  const auto events = run("flac", clips);
  check_clips(events, clips, "flac");
}

TEST_F(EvidenceClips, AClipThatCannotBeWrittenIsReportedAndTheDaemonCarriesOn) {
  { std::ofstream(dir_ / "blocker") << "a file where the clip folder should be"; }
  Programme p;
  std::vector<Truth> truth;
  p.add(music(9311, 4));
  p.play(songs_[0], 0, -1, truth);
  p.add(music(9312, 4));
  p.play(songs_[2], 0, -1, truth);
  p.add(music(9313, 4));
  const fs::path prog = dir_ / "blocked.flac";
  aircheck::dsp::decode::encode_file(prog.string(), p.pcm, kRate);
  const fs::path log = dir_ / "blocked.jsonl";
  Daemon d({"--index", (dir_ / "index").string(), "--source",
            "b=file:" + prog.string() + "?pace=fast", "--jsonl", log.string(), "--evidence-dir",
            (dir_ / "blocker" / "clips").string()});
  ASSERT_EQ(d.wait(std::chrono::seconds(120)), 0);
  const auto events = read_events(log);
  const auto ends = of_type(events, "airing_end", "b");
  const auto failed = of_type(events, "clip_failed", "b");
  ASSERT_EQ(ends.size(), truth.size());
  ASSERT_EQ(failed.size(), ends.size());
  for (std::size_t i = 0; i < ends.size(); ++i) {
    SCOPED_TRACE(failed[i].dump());
    EXPECT_EQ(failed[i]["clip"], ends[i]["clip"]);
    EXPECT_EQ(failed[i]["track_id"], ends[i]["track_id"]);
    EXPECT_NE(failed[i]["reason"].get<std::string>().find("cannot create folder"),
              std::string::npos);
    EXPECT_FALSE(fs::exists(ends[i]["clip"].get<std::string>()));
  }
  EXPECT_EQ(of_type(events, "source_finished", "b").size(), 1u);
}

TEST_F(EvidenceClips, SigtermWritesTheClipOfTheAiringItCloses) {
  // A real-time source: SIGTERM arrives mid-song; the drain closes the airing and its clip
  // must be on disk, complete, when aircheckd has exited.
  Programme p;
  std::vector<Truth> truth;
  p.add(music(9321, 3));
  p.play(songs_[1], 0, -1, truth);
  const fs::path prog = dir_ / "live.flac";
  aircheck::dsp::decode::encode_file(prog.string(), p.pcm, kRate);
  const fs::path log = dir_ / "live.jsonl";
  const fs::path clips = dir_ / "clips-live";
  Daemon d({"--index", (dir_ / "index").string(), "--source", "live=file:" + prog.string(),
            "--jsonl", log.string(), "--evidence-dir", clips.string()});
  ASSERT_TRUE(wait_for([&] { return !of_type(read_events(log), "airing_start", "live").empty(); },
                       std::chrono::seconds(60)))
      << "no airing_start";
  d.signal(SIGTERM);
  ASSERT_EQ(d.wait(std::chrono::seconds(20)), 0);
  const auto events = read_events(log);
  const auto ends = of_type(events, "airing_end", "live");
  ASSERT_EQ(ends.size(), 1u);
  const json& e = ends[0];
  ASSERT_TRUE(e.contains("clip")) << e.dump();
  const std::string path = e["clip"];
  EXPECT_EQ(path.substr(path.size() - 5), ".opus");  // the default format
  ASSERT_TRUE(fs::exists(path)) << "the clip was not written before exit";
  EXPECT_EQ(aircheck::test::count_files(clips, ".part"), 0u);
  // Default pre-roll 3 s, reaching back to the start of the file at most.
  const double start = e["start_pos_s"], end = e["end_pos_s"];
  const double want = end - std::max(0.0, start - 3.0);
  EXPECT_NEAR(e["clip_duration_s"].get<double>(), want, 0.0011);
  EXPECT_NEAR(static_cast<double>(decode(path).size()) / kRate, want, 0.1);
  EXPECT_TRUE(of_type(events, "clip_failed").empty());
}

}  // namespace
