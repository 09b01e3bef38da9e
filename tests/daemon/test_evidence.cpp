// Evidence clips, piece by piece: the rolling audio history (positions, wraparound, gaps, no
// allocation), clip names, the clip writer (complete files only, failures reported, bounded
// queue, shutdown) and the per-source recorder (pre-roll, cap keeping the start, gaps).
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "bench/eval/synth.h"
#include "daemon/evidence/audio_history.h"
#include "daemon/evidence/clip_recorder.h"
#include "daemon/evidence/clip_writer.h"
#include "daemon/source.h"
#include "dsp/decode/decoder.h"

#include "tests/support/counting_allocator.h"  // counts allocations; defines operator new
#include "tests/support/files.h"

namespace aircheck::daemon {
namespace {

namespace fs = std::filesystem;

constexpr int kRate = 8000;

/// A distinct value per clock position, exactly representable in 16 bits (FLAC keeps it).
float mark(uint64_t pos) {
  const uint64_t k = (pos * 2654435761u) % 65535u;
  return static_cast<float>(static_cast<double>(k) / 32768.0 - 1.0);
}

std::vector<float> marks(uint64_t from, std::size_t n) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = mark(from + i);
  return v;
}

/// Feeds positions [from, to) of marks() in chunks of odd sizes.
template <class F>
void feed_marks(uint64_t from, uint64_t to, F&& write) {
  static const std::size_t sizes[] = {7, 130, 1, 4096, 333, 1024, 17};
  std::size_t i = 0;
  while (from < to) {
    const auto n = static_cast<std::size_t>(std::min<uint64_t>(sizes[i++ % 7], to - from));
    const auto chunk = marks(from, n);
    write(from, std::span<const float>(chunk));
    from += n;
  }
}

// ---- AudioHistory ----

TEST(AudioHistory, WrapsAroundAndCopiesByClockPosition) {
  AudioHistory h(1000);
  EXPECT_EQ(h.begin(), h.end());
  feed_marks(5000, 12345, [&](uint64_t p, std::span<const float> x) { h.write(p, x); });
  EXPECT_EQ(h.end(), 12345u);
  EXPECT_EQ(h.begin(), 11345u);  // only the newest 1000 are held
  std::vector<float> out;
  // Partly before what is held: starts at begin().
  EXPECT_EQ(h.copy(11000, 11500, out), 11345u);
  EXPECT_EQ(out, marks(11345, 155));
  // Across the physical wrap of the ring (12000 % 1000 == 0).
  EXPECT_EQ(h.copy(11990, 12010, out), 11990u);
  EXPECT_EQ(out, marks(11990, 20));
  // Past the end: up to end() only; wholly outside: empty.
  EXPECT_EQ(h.copy(12300, 13000, out), 12300u);
  EXPECT_EQ(out, marks(12300, 45));
  h.copy(0, 11000, out);
  EXPECT_TRUE(out.empty());
  h.copy(20000, 21000, out);
  EXPECT_TRUE(out.empty());
}

TEST(AudioHistory, GapsAreSilenceAndLaterAudioKeepsItsPosition) {
  AudioHistory h(1000);
  const auto a = marks(100, 50);
  h.write(100, a);
  const auto b = marks(180, 40);
  h.write(180, b);  // 30 samples missing: [150, 180)
  EXPECT_EQ(h.gap_samples(), 30u);
  std::vector<float> out;
  EXPECT_EQ(h.copy(0, 1000, out), 100u);  // nothing before the first write
  ASSERT_EQ(out.size(), 120u);
  for (std::size_t i = 0; i < 120; ++i) {
    const uint64_t pos = 100 + i;
    const float want = pos >= 150 && pos < 180 ? 0.0f : mark(pos);
    ASSERT_EQ(out[i], want) << "position " << pos;
  }
  // A gap longer than the ring: all silence up to the new audio, which lands in place.
  const auto c = marks(50000, 10);
  h.write(50000, c);
  EXPECT_EQ(h.begin(), 49010u);
  EXPECT_EQ(h.copy(49005, 50010, out), 49010u);
  ASSERT_EQ(out.size(), 1000u);
  for (std::size_t i = 0; i < 990; ++i) ASSERT_EQ(out[i], 0.0f) << i;
  for (std::size_t i = 0; i < 10; ++i) EXPECT_EQ(out[990 + i], mark(50000 + i));
}

TEST(AudioHistory, BlockLargerThanTheRingKeepsItsNewestSamples) {
  AudioHistory h(100);
  const auto x = marks(7, 250);
  h.write(7, x);
  EXPECT_EQ(h.begin(), 157u);
  EXPECT_EQ(h.end(), 257u);
  std::vector<float> out;
  EXPECT_EQ(h.copy(0, 1000, out), 157u);
  EXPECT_EQ(out, marks(157, 100));
}

TEST(AudioHistory, AClockGoingBackStartsAgain) {
  AudioHistory h(100);
  const auto x = marks(500, 50);
  h.write(500, x);
  const auto y = marks(20, 10);
  h.write(20, y);
  EXPECT_EQ(h.begin(), 20u);
  EXPECT_EQ(h.end(), 30u);
  std::vector<float> out;
  h.copy(0, 1000, out);
  EXPECT_EQ(out, y);
}

TEST(AudioHistory, WritingNeverAllocates) {
  AudioHistory h(8000 * 3);
  const auto block = marks(0, 4096);
  std::vector<float> out;
  out.reserve(8000 * 3);
  g_allocations = 0;
  g_count_here = true;
  uint64_t pos = 0;
  for (int i = 0; i < 200; ++i) {
    h.write(pos, block);
    pos += block.size() + (i % 7 == 0 ? 5000 : 0);  // with gaps now and then
  }
  h.copy(pos - 20000, pos, out);
  g_count_here = false;
  EXPECT_EQ(g_allocations.load(), 0u);
  EXPECT_EQ(out.size(), 20000u);
}

// ---- names ----

TEST(ClipPath, IsDeterministicAndStaysInsideTheFolder) {
  // 2026-01-01T00:00:00.123Z
  EXPECT_EQ(clip_path("/c", "fm1", 1767225600.123, 42, "ogg"),
            "/c/fm1/20260101T000000.123Z_42.opus");
  EXPECT_EQ(clip_path("/c/", "fm1", 1767225600.123, 42, "flac"),
            "/c/fm1/20260101T000000.123Z_42.flac");
  EXPECT_EQ(clip_path("/c", "a b/c", 0, 1, "flac"), "/c/a_b_c/19700101T000000.000Z_1.flac");
  EXPECT_EQ(clip_path("/c", "..", 0, 1, "flac"), "/c/_../19700101T000000.000Z_1.flac");
  EXPECT_EQ(clip_path("/c", "../etc", 0, 1, "flac"), "/c/_.._etc/19700101T000000.000Z_1.flac");
  EXPECT_EQ(clip_path("/c", "", 0, 1, "flac"), "/c/_/19700101T000000.000Z_1.flac");
  EXPECT_THROW(clip_path("/c", "a", 0, 1, "mp3"), std::invalid_argument);
}

// ---- ClipWriter ----

class TempDir {
 public:
  explicit TempDir(const std::string& name)
      : path_(fs::temp_directory_path() /
              ("aircheck_evidence_" + name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

using aircheck::test::count_files;

/// Collects reported events (any thread).
struct Reports {
  std::mutex mu;
  std::vector<Event> events;
  ClipWriter::Report fn() {
    return [this](const Event& e) {
      std::lock_guard lock(mu);
      events.push_back(e);
    };
  }
  std::vector<Event> take() {
    std::lock_guard lock(mu);
    return events;
  }
};

ClipJob music_job(const fs::path& dir, const std::string& format, uint32_t track, double s) {
  ClipJob j;
  j.source = "fm1";
  j.track_id = track;
  j.start_utc = 1767225600.0 + track;
  j.format = format;
  j.path = clip_path(dir.string(), j.source, j.start_utc, track, format);
  j.sample_rate = kRate;
  eval::SynthOptions o;
  o.seconds = s;
  o.sample_rate = kRate;
  j.pcm = eval::synth_music(700 + track, o);
  return j;
}

TEST(ClipWriter, WritesCompleteFilesInBothFormats) {
  TempDir tmp("writer");
  Reports reports;
  const ClipJob flac = music_job(tmp.path(), "flac", 1, 7.5);
  const ClipJob ogg = music_job(tmp.path(), "ogg", 2, 7.5);
  {
    ClipWriter w(reports.fn());
    EXPECT_TRUE(w.submit(flac));
    EXPECT_TRUE(w.submit(ogg));
    w.stop(std::chrono::seconds(30));
    EXPECT_EQ(w.written(), 2u);
    EXPECT_EQ(w.failed() + w.dropped(), 0u);
  }
  EXPECT_TRUE(reports.take().empty());
  EXPECT_EQ(count_files(tmp.path(), ".part"), 0u);
  for (const ClipJob* j : {&flac, &ogg}) {
    SCOPED_TRACE(j->path);
    ASSERT_TRUE(fs::exists(j->path));
    dsp::decode::Metadata meta;
    dsp::decode::OpenOptions o;
    o.sample_rate = kRate;
    const auto pcm = dsp::decode::decode_all(j->path, o, &meta);
    EXPECT_NEAR(static_cast<double>(pcm.size()) / kRate, 7.5, 0.05);
    EXPECT_EQ(meta.source_channels, 1);
    if (j->format == "flac") {
      EXPECT_EQ(meta.codec, "flac");
      ASSERT_EQ(pcm.size(), j->pcm.size());
      for (std::size_t i = 0; i < pcm.size(); i += 97) ASSERT_NEAR(pcm[i], j->pcm[i], 1.0 / 32768);
    } else {
      EXPECT_EQ(meta.codec, "opus");
    }
  }
}

TEST(ClipWriter, AFailedWriteIsReportedAndLeavesNothing) {
  TempDir tmp("fail");
  { std::ofstream(tmp.path() / "file") << "x"; }
  Reports reports;
  ClipJob j = music_job(tmp.path() / "file" / "sub", "ogg", 3, 2);  // a file is in the way
  const std::string path = j.path;
  ClipWriter w(reports.fn());
  EXPECT_TRUE(w.submit(std::move(j)));
  w.stop(std::chrono::seconds(30));
  EXPECT_EQ(w.failed(), 1u);
  EXPECT_EQ(w.written(), 0u);
  const auto ev = reports.take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::clip_failed);
  EXPECT_EQ(ev[0].source, "fm1");
  EXPECT_EQ(ev[0].track_id, 3u);
  EXPECT_EQ(ev[0].clip, path);
  EXPECT_NE(ev[0].reason.find("cannot create folder"), std::string::npos) << ev[0].reason;
  EXPECT_EQ(count_files(tmp.path(), ".part"), 0u);
}

TEST(ClipWriter, AFullQueueRefusesAtOnceAndShutdownIsBounded) {
  TempDir tmp("full");
  { std::ofstream(tmp.path() / "file") << "x"; }
  // The first job fails, and its report holds the clip thread until released: the queue can
  // then be filled deterministically.
  std::mutex mu;
  std::condition_variable cv;
  bool held = false, release = false;
  std::vector<Event> refused;
  ClipWriter w(
      [&](const Event& e) {
        std::unique_lock lock(mu);
        if (!held) {
          held = true;
          cv.notify_all();
          cv.wait(lock, [&] { return release; });
          return;
        }
        refused.push_back(e);
      },
      /*max_jobs=*/2);
  EXPECT_TRUE(w.submit(music_job(tmp.path() / "file" / "x", "flac", 1, 1)));
  {
    std::unique_lock lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [&] { return held; }));
  }
  EXPECT_TRUE(w.submit(music_job(tmp.path(), "flac", 2, 1)));
  EXPECT_TRUE(w.submit(music_job(tmp.path(), "flac", 3, 1)));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_FALSE(w.submit(music_job(tmp.path(), "flac", 4, 1)));  // full: refused, not waited
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(500));
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(refused.size(), 1u);
    EXPECT_EQ(refused[0].track_id, 4u);
    EXPECT_NE(refused[0].reason.find("behind"), std::string::npos) << refused[0].reason;
  }
  // Stop with no time left: the two queued jobs are reported, not written.
  std::thread stopper([&] { w.stop(std::chrono::milliseconds(0)); });
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  stopper.join();
  EXPECT_EQ(w.written(), 0u);
  EXPECT_EQ(w.failed(), 1u);
  EXPECT_EQ(w.dropped(), 3u);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(refused.size(), 3u);
    EXPECT_NE(refused[1].reason.find("shutdown"), std::string::npos) << refused[1].reason;
  }
  EXPECT_EQ(count_files(tmp.path(), ".flac"), 0u);
  EXPECT_FALSE(w.submit(music_job(tmp.path(), "flac", 5, 1)));  // stopped
  std::lock_guard lock(mu);
  ASSERT_EQ(refused.size(), 4u);
  EXPECT_NE(refused[3].reason.find("stopped"), std::string::npos) << refused[3].reason;
}

// ---- ClipRecorder ----

/// A source that only answers utc_of(): 2026-11-21T00:00:00Z at position 0.
class ClockOnly : public Source {
 public:
  const SourceSpec& spec() const override { return spec_; }
  void start() override {}
  void stop() override {}
  Block read_block() override { return {}; }
  bool poll_health(HealthEvent&) override { return false; }
  double utc_of(uint64_t pos) const override { return kStart + static_cast<double>(pos) / kRate; }
  bool finished() const override { return false; }
  uint64_t overflowed() const override { return 0; }
  static constexpr double kStart = 1795219200.0;  // 2026-11-21T00:00:00Z

 private:
  SourceSpec spec_;
};

class Recorder : public ::testing::Test {
 protected:
  Recorder() : tmp_("recorder") {
    settings_.enabled = true;
    settings_.dir = tmp_.path().string();
    settings_.format = "flac";  // lossless: the marks survive, so positions can be checked
    settings_.pre_roll_s = 1;
    settings_.max_s = 10;
  }
  /// Feeds positions [from_s, to_s) of marks in odd chunks.
  void feed(ClipRecorder& r, double from_s, double to_s) {
    feed_marks(static_cast<uint64_t>(from_s * kRate), static_cast<uint64_t>(to_s * kRate),
               [&](uint64_t p, std::span<const float> x) { r.feed(p, x); });
  }
  /// Closes an airing [start_s, end_s) of track 7; returns its event.
  Event end(ClipRecorder& r, ClipWriter& w, double start_s, double end_s) {
    AiringEvent a;
    a.kind = AiringEvent::Kind::end;
    a.track = 7;
    a.start_s = start_s;
    a.end_s = end_s;
    Event e;
    e.type = EventType::airing_end;
    e.start_utc = src_.utc_of(static_cast<uint64_t>(start_s * kRate));
    r.ended(a, src_, w, e);
    return e;
  }
  /// Decodes a written clip and checks it holds exactly the marks of [from_s, from_s + len_s),
  /// silence where `silent` says.
  void expect_clip(const std::string& path, double from_s, double len_s,
                   const std::function<bool(uint64_t)>& silent = {}) {
    SCOPED_TRACE(path);
    ASSERT_TRUE(fs::exists(path));
    dsp::decode::OpenOptions o;
    o.sample_rate = kRate;
    const auto pcm = dsp::decode::decode_all(path, o);
    const auto from = static_cast<uint64_t>(from_s * kRate);
    ASSERT_EQ(pcm.size(), static_cast<std::size_t>(len_s * kRate));
    for (std::size_t i = 0; i < pcm.size(); ++i) {
      const uint64_t pos = from + i;
      const float want = silent && silent(pos) ? 0.0f : mark(pos);
      ASSERT_NEAR(pcm[i], want, 1e-6) << "sample " << i << " (position " << pos << ")";
    }
  }

  TempDir tmp_;
  config::EvidenceSettings settings_;
  ClockOnly src_;
  Reports reports_;
};

TEST_F(Recorder, ClipIsPreRollPlusTheAiring) {
  ClipRecorder r(settings_, "fm1", kRate, 0);
  ClipWriter w(reports_.fn());
  feed(r, 0, 5);
  r.started(7, 3.0);
  feed(r, 5, 9);
  const Event e = end(r, w, 3.0, 8.5);
  w.stop(std::chrono::seconds(30));
  EXPECT_TRUE(reports_.take().empty());
  EXPECT_EQ(e.clip, tmp_.path().string() + "/fm1/20261121T000003.000Z_7.flac");
  EXPECT_DOUBLE_EQ(e.clip_start_pos_s, 2.0);
  EXPECT_DOUBLE_EQ(e.clip_start_utc, ClockOnly::kStart + 2.0);
  EXPECT_DOUBLE_EQ(e.clip_duration_s, 6.5);
  EXPECT_FALSE(e.clip_capped);
  expect_clip(e.clip, 2.0, 6.5);
  EXPECT_EQ(r.open_clips(), 0u);
}

TEST_F(Recorder, ALongAiringIsCappedAtMaxKeepingItsStart) {
  ClipRecorder r(settings_, "fm1", kRate, 0);  // holds 10 + 1 + 5 = 16 s
  EXPECT_EQ(r.history().capacity(), 16u * kRate);
  ClipWriter w(reports_.fn());
  feed(r, 0, 6);
  r.started(7, 5.0);
  feed(r, 6, 100);  // the start is long gone from the history by the end
  EXPECT_GT(r.history().begin(), 4u * kRate);
  const Event e = end(r, w, 5.0, 95.0);
  w.stop(std::chrono::seconds(30));
  EXPECT_TRUE(reports_.take().empty());
  EXPECT_TRUE(e.clip_capped);
  EXPECT_DOUBLE_EQ(e.clip_start_pos_s, 4.0);
  EXPECT_DOUBLE_EQ(e.clip_duration_s, 10.0);
  expect_clip(e.clip, 4.0, 10.0);
}

TEST_F(Recorder, ASnapshotIsTrimmedWhenTheAiringEndsBeforeMax) {
  ClipRecorder r(settings_, "fm1", kRate, 0);
  ClipWriter w(reports_.fn());
  feed(r, 0, 6);
  r.started(7, 5.0);
  feed(r, 6, 30);  // past start - pre_roll + max_s: snapshot taken
  const Event e = end(r, w, 5.0, 12.0);
  w.stop(std::chrono::seconds(30));
  EXPECT_FALSE(e.clip_capped);
  EXPECT_DOUBLE_EQ(e.clip_duration_s, 8.0);
  expect_clip(e.clip, 4.0, 8.0);
}

TEST_F(Recorder, AStartNoLongerHeldIsCutToWhatIsHeld) {
  ClipRecorder r(settings_, "fm1", kRate, 0);  // holds 16 s
  ClipWriter w(reports_.fn());
  feed(r, 0, 25);  // holds [9, 25)
  // An airing whose start was never announced (e.g. moved earlier after airing_start).
  const Event e = end(r, w, 5.0, 12.0);
  w.stop(std::chrono::seconds(30));
  EXPECT_TRUE(reports_.take().empty());
  EXPECT_DOUBLE_EQ(e.clip_start_pos_s, 9.0);  // the event says where the clip starts
  EXPECT_DOUBLE_EQ(e.clip_duration_s, 3.0);
  EXPECT_FALSE(e.clip_capped);
  expect_clip(e.clip, 9.0, 3.0);
}

TEST_F(Recorder, GapsInTheClockStayAligned) {
  ClipRecorder r(settings_, "fm1", kRate, 0);
  ClipWriter w(reports_.fn());
  feed(r, 0, 5);
  r.started(7, 3.0);
  feed(r, 7.5, 12);  // [5, 7.5) never arrived (overflow, outage)
  const Event e = end(r, w, 3.0, 10.0);
  w.stop(std::chrono::seconds(30));
  EXPECT_DOUBLE_EQ(e.clip_duration_s, 8.0);
  expect_clip(e.clip, 2.0, 8.0,
              [](uint64_t pos) { return pos >= 5 * kRate && pos < 15 * kRate / 2; });
}

TEST_F(Recorder, ARefusedClipIsReportedAndNotNamedInTheEvent) {
  ClipRecorder r(settings_, "fm1", kRate, 0);
  ClipWriter w(reports_.fn());
  w.stop(std::chrono::seconds(1));
  feed(r, 0, 5);
  r.started(7, 2.0);
  const Event e = end(r, w, 2.0, 4.0);
  EXPECT_TRUE(e.clip.empty());
  const auto ev = reports_.take();
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].type, EventType::clip_failed);
  EXPECT_EQ(ev[0].clip, tmp_.path().string() + "/fm1/20261121T000002.000Z_7.flac");
  EXPECT_EQ(r.open_clips(), 0u);
}

}  // namespace
}  // namespace aircheck::daemon
