#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <thread>
#include <vector>

#include "daemon/rt/sample_clock.h"
#include "daemon/source.h"
#include "test_media.h"
#include "tests/support/files.h"

namespace aircheck::daemon {
namespace {

using testing::decode_at;
using testing::wait_for;
using testing::write_song;

constexpr int kRate = 8000;

struct Received {
  std::vector<float> samples;  ///< indexed by pos; NaN where nothing arrived
  std::vector<HealthEvent> events;
  uint64_t blocks = 0, jumps = 0;
  bool contiguous_or_forward = true;
};

/// Drains `src` until finished() (bounded), storing each sample at its position.
/// `pause_after` samples in, the consumer stops reading for `pause_s` seconds.
Received drain(Source& src, std::size_t pause_after = SIZE_MAX, double pause_s = 0) {
  Received r;
  uint64_t next = 0;
  bool paused = false;
  const bool ok = wait_for([&] {
    for (Block b = src.read_block(); !b.samples.empty(); b = src.read_block()) {
      ++r.blocks;
      if (b.pos < next) r.contiguous_or_forward = false;
      if (b.pos > next) ++r.jumps;
      if (r.samples.size() < b.pos + b.samples.size()) {
        r.samples.resize(b.pos + b.samples.size(), NAN);
      }
      std::copy(b.samples.begin(), b.samples.end(), r.samples.begin() + b.pos);
      next = b.pos + b.samples.size();
      if (!paused && next >= pause_after) {
        paused = true;
        std::this_thread::sleep_for(std::chrono::duration<double>(pause_s));
      }
    }
    HealthEvent ev{};
    while (src.poll_health(ev)) r.events.push_back(ev);
    return src.finished() && !r.events.empty() &&
           r.events.back().type == HealthEvent::Type::finished;
  });
  EXPECT_TRUE(ok) << "source did not finish";
  return r;
}

std::vector<HealthEvent::Type> types(const std::vector<HealthEvent>& evs) {
  std::vector<HealthEvent::Type> t;
  for (const auto& e : evs) t.push_back(e.type);
  return t;
}

/// Every sample of `ref` arrived, at its place, between an `up` and a `finished`.
void expect_whole(const Received& r, const std::vector<float>& ref) {
  ASSERT_EQ(r.samples.size(), ref.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) mismatches += r.samples[i] != ref[i];
  EXPECT_EQ(mismatches, 0u);
  EXPECT_EQ(types(r.events),
            (std::vector<HealthEvent::Type>{HealthEvent::Type::up, HealthEvent::Type::finished}));
}

TEST(FileSource, FastDeliversEverySampleInOrderWithoutDropping) {
  const std::string path = write_song("fast.wav", 6, 44100);
  const std::vector<float> ref = decode_at(path, kRate);
  // A ring of 0.25 s and a consumer that pauses: the backfill producer must wait, not drop.
  auto src =
      make_source(parse_source_spec(
                      "f", "file:" + path + "?pace=fast&start=2026-01-01T10:00:00Z&buffer_s=0.25"),
                  kRate);
  src->start();
  const Received r = drain(*src, 4000, 0.3);
  src->stop();
  EXPECT_EQ(src->overflowed(), 0u);
  EXPECT_EQ(r.jumps, 0u);
  EXPECT_TRUE(r.contiguous_or_forward);
  expect_whole(r, ref);
  EXPECT_EQ(r.events.back().pos, ref.size());
  EXPECT_DOUBLE_EQ(src->utc_of(0), 1767261600.0);
  EXPECT_DOUBLE_EQ(src->utc_of(kRate * 5 / 2), 1767261602.5);
}

TEST(FileSource, RealtimeDeliversEverySampleWithCorrectPositions) {
  const std::string path = write_song("rt.wav", 1.0, 22050, 11);
  const std::vector<float> ref = decode_at(path, kRate);
  auto src = make_source(parse_source_spec("r", "file:" + path), kRate);
  const double before = static_cast<double>(std::time(nullptr));
  src->start();
  const Received r = drain(*src);
  src->stop();
  EXPECT_EQ(src->overflowed(), 0u);
  EXPECT_EQ(r.jumps, 0u);
  ASSERT_EQ(r.samples.size(), ref.size());
  std::size_t mismatches = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) mismatches += r.samples[i] != ref[i];
  EXPECT_EQ(mismatches, 0u);
  // Without start=, pos 0 is the wall clock at start().
  EXPECT_GE(src->utc_of(0), before - 1);
  EXPECT_LE(src->utc_of(0), before + 5);
  EXPECT_DOUBLE_EQ(src->utc_of(kRate) - src->utc_of(0), 1.0);
}

TEST(FileSource, OverflowDropsCountsShowsAGapAndReportsIt) {
  const std::string path = write_song("ovf.wav", 2.5, 8000, 5);
  const std::vector<float> ref = decode_at(path, kRate);
  // 0.25 s of ring, realtime pace, and a consumer that stops reading for a second.
  auto src = make_source(parse_source_spec("o", "file:" + path + "?buffer_s=0.25"), kRate);
  src->start();
  const Received r = drain(*src, 800, 1.0);
  src->stop();
  EXPECT_GT(src->overflowed(), 0u);
  EXPECT_GE(r.jumps, 1u);
  EXPECT_TRUE(r.contiguous_or_forward);
  ASSERT_EQ(r.samples.size(), ref.size());
  // Every sample that arrived sits at its true position; the missing ones are the dropped.
  std::size_t missing = 0, wrong = 0;
  for (std::size_t i = 0; i < ref.size(); ++i) {
    if (std::isnan(r.samples[i])) {
      ++missing;
    } else {
      wrong += r.samples[i] != ref[i];
    }
  }
  EXPECT_EQ(wrong, 0u);
  EXPECT_EQ(missing, src->overflowed());
  uint64_t reported = 0;
  for (const auto& e : r.events) {
    if (e.type == HealthEvent::Type::overflow) {
      reported += e.count;
      EXPECT_TRUE(std::isnan(r.samples[e.pos])) << "overflow event pos " << e.pos;
    }
  }
  EXPECT_EQ(reported, src->overflowed());
}

TEST(FileSource, StopInterruptsARealtimeFile) {
  const std::string path = write_song("long.wav", 20, 8000, 3);
  auto src = make_source(parse_source_spec("s", "file:" + path), kRate);
  src->start();
  ASSERT_TRUE(wait_for([&] { return !src->read_block().samples.empty(); }));
  src->stop();
  src->stop();  // idempotent
  EXPECT_FALSE(src->finished());
}

TEST(FileSource, AFifoIsReadFromWhenItsWriterConnectsAndItsClockStartsThere) {
  // A capture program writing into a FIFO, started a second after the daemon: the source
  // waits for it, reads every sample it writes, and places the first where the writer
  // connected (not where the source started). stop() on a FIFO nobody writes returns.
  const auto fifo = testing::temp_dir() / "feed.fifo";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  const std::string path = write_song("fifo.flac", 3, kRate, 13);
  const std::vector<float> ref = decode_at(path, kRate);
  const std::string bytes = aircheck::test::read_file(path);
  auto src = make_source(parse_source_spec("p", "file:" + fifo.string() + "?pace=fast"), kRate);
  src->start();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  EXPECT_TRUE(src->read_block().samples.empty());
  HealthEvent ev{};
  EXPECT_FALSE(src->poll_health(ev)) << "up before a writer connected";
  double connected = 0;
  std::thread writer([&] {
    const int fd = ::open(fifo.c_str(), O_WRONLY | O_CLOEXEC);
    connected = rt::SampleClock::real_now();
    for (std::size_t done = 0; fd >= 0 && done < bytes.size();) {
      const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
      if (n <= 0) break;
      done += static_cast<std::size_t>(n);
    }
    if (fd >= 0) ::close(fd);  // at once: a writer with little to say
  });
  const Received r = drain(*src);
  writer.join();
  src->stop();
  expect_whole(r, ref);
  EXPECT_NEAR(src->utc_of(0), connected, 0.2);

  auto idle = make_source(parse_source_spec("q", "file:" + fifo.string()), kRate);
  idle->start();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  idle->stop();
  EXPECT_FALSE(idle->finished());
}

}  // namespace
}  // namespace aircheck::daemon
