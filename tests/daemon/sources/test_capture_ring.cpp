#include "daemon/rt/capture_ring.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <numeric>
#include <thread>
#include <vector>

#include "daemon/rt/sample_clock.h"

#include "tests/support/counting_allocator.h"  // counts allocations; defines operator new

namespace aircheck::daemon::rt {
namespace {

std::vector<float> ramp(float from, std::size_t n) {
  std::vector<float> v(n);
  std::iota(v.begin(), v.end(), from);
  return v;
}

TEST(CaptureRing, BlocksCarryConsecutivePositions) {
  CaptureRing ring(64, 10);
  const auto a = ramp(0, 25);
  EXPECT_EQ(ring.write(a), 25u);
  uint64_t expect = 0;
  for (Block b = ring.read(); !b.samples.empty(); b = ring.read()) {
    EXPECT_EQ(b.pos, expect);
    EXPECT_LE(b.samples.size(), 10u);
    for (float x : b.samples) EXPECT_EQ(x, static_cast<float>(expect++));
  }
  EXPECT_EQ(expect, 25u);
}

TEST(CaptureRing, OverflowDropsNewSamplesAndShowsAsAGap) {
  CaptureRing ring(16, 64);
  EXPECT_EQ(ring.write(ramp(0, 10)), 10u);
  EXPECT_EQ(ring.write(ramp(10, 10)), 6u);  // 4 dropped: samples 16..19
  EXPECT_EQ(ring.write(ramp(20, 5)), 0u);   // dropped: 20..24
  EXPECT_EQ(ring.dropped(), 9u);
  EXPECT_EQ(ring.produced(), 25u);
  Block b = ring.read();
  EXPECT_EQ(b.pos, 0u);
  ASSERT_EQ(b.samples.size(), 16u);
  EXPECT_EQ(b.samples.back(), 15.0f);
  EXPECT_EQ(ring.write(ramp(25, 3)), 3u);
  b = ring.read();
  EXPECT_EQ(b.pos, 25u);  // the gap: 9 samples never delivered
  ASSERT_EQ(b.samples.size(), 3u);
  EXPECT_EQ(b.samples[0], 25.0f);
  HealthEvent ev{};
  ASSERT_TRUE(ring.poll(ev));
  EXPECT_EQ(ev.type, HealthEvent::Type::overflow);
  EXPECT_EQ(ev.pos, 16u);
  EXPECT_EQ(ev.count, 9u);
  EXPECT_FALSE(ring.poll(ev));
}

TEST(CaptureRing, SkipAdvancesTheClockWithoutAnOverflowEvent) {
  CaptureRing ring(64, 64);
  ring.write(ramp(0, 4));
  ring.skip(100);
  ring.write(ramp(104, 4));
  Block b = ring.read();
  EXPECT_EQ(b.pos, 0u);
  EXPECT_EQ(b.samples.size(), 4u);  // a block never spans a gap
  b = ring.read();
  EXPECT_EQ(b.pos, 104u);
  EXPECT_EQ(b.samples[0], 104.0f);
  HealthEvent ev{};
  EXPECT_FALSE(ring.poll(ev));
  EXPECT_EQ(ring.dropped(), 0u);
}

TEST(CaptureRing, HealthEventsArriveInPositionOrderAndFinishedAfterTheLastSample) {
  CaptureRing ring(8, 64);
  ring.post(HealthEvent::Type::up);
  ring.write(ramp(0, 12));  // 4 dropped at pos 8
  ring.post(HealthEvent::Type::down, std::string(500, 'x'));
  ring.set_done();
  HealthEvent ev{};
  ASSERT_TRUE(ring.poll(ev));
  EXPECT_EQ(ev.type, HealthEvent::Type::up);
  EXPECT_EQ(ev.pos, 0u);
  ASSERT_TRUE(ring.poll(ev));
  EXPECT_EQ(ev.type, HealthEvent::Type::down);
  EXPECT_EQ(ev.pos, 12u);
  EXPECT_EQ(ev.reason.size(), CaptureRing::kReasonBytes - 1);
  EXPECT_FALSE(ring.poll(ev));  // finished waits for the samples to be read
  EXPECT_FALSE(ring.drained());
  EXPECT_EQ(ring.read().samples.size(), 8u);
  EXPECT_TRUE(ring.read().samples.empty());
  ASSERT_TRUE(ring.poll(ev));
  EXPECT_EQ(ev.type, HealthEvent::Type::overflow);
  EXPECT_EQ(ev.count, 4u);
  ASSERT_TRUE(ring.poll(ev));
  EXPECT_EQ(ev.type, HealthEvent::Type::finished);
  EXPECT_TRUE(ring.drained());
  EXPECT_FALSE(ring.poll(ev));
}

// The producer side (write with and without overflow, skip, post, clock updates) performs no
// allocation once the channel exists, while a consumer drains concurrently.
TEST(CaptureRing, ProducerPathAllocatesNothingAfterConstruction) {
  CaptureRing ring(1024, 256);
  SampleClock clock(8000);
  clock.set_live();
  std::atomic<bool> done{false};
  uint64_t producer_allocations = 1;
  std::thread producer([&] {
    const std::vector<float> chunk = ramp(0, 333);  // allocated before counting starts
    g_count_here = true;
    const uint64_t before = g_allocations.load();
    for (int i = 0; i < 20000; ++i) {
      ring.write(chunk);
      if (i % 97 == 0) ring.skip(17);
      if (i % 1000 == 0) ring.post(HealthEvent::Type::up, "reason text that is copied");
      clock.observe(ring.produced());
      (void)clock.expected_pos();
    }
    producer_allocations = g_allocations.load() - before;
    g_count_here = false;
    done = true;
  });
  uint64_t last_end = 0, samples = 0;
  bool ordered = true;
  HealthEvent ev{};
  while (!done.load() || !ring.read().samples.empty()) {
    const Block b = ring.read();
    if (b.samples.empty()) {
      std::this_thread::yield();
      continue;
    }
    ordered = ordered && b.pos >= last_end;
    last_end = b.pos + b.samples.size();
    samples += b.samples.size();
    while (ring.poll(ev)) {
    }
  }
  producer.join();
  EXPECT_EQ(producer_allocations, 0u);
  EXPECT_TRUE(ordered);
  EXPECT_GT(samples, 0u);
}

TEST(SampleClock, FixedMappingIsExact) {
  SampleClock c(8000);
  c.set_fixed(1767261600.0);  // 2026-01-01T10:00:00Z
  EXPECT_DOUBLE_EQ(c.utc_of(0), 1767261600.0);
  EXPECT_DOUBLE_EQ(c.utc_of(8000 * 90), 1767261690.0);
  c.observe(123);  // ignored in fixed mode
  EXPECT_DOUBLE_EQ(c.utc_of(4000), 1767261600.5);
}

TEST(SampleClock, LiveMappingStartsNearNow) {
  SampleClock c(8000);
  c.set_live();
  c.observe(800);
  const double now = SampleClock::real_now();
  EXPECT_NEAR(c.utc_of(800), now, 0.5);
  EXPECT_NEAR(c.utc_of(0), now - 0.1, 0.5);
}

TEST(SampleClock, ALiveClockFollowsACardThatRunsFast) {
  // A sound card whose crystal runs 60 ppm fast (48002.88 Hz for a nominal 48 kHz), delivering
  // 10-ms blocks with up to 3 ms of scheduling jitter, for two hours. Counted at the nominal
  // rate its samples would drift 0.43 s from the wall clock; the live clock follows the card.
  constexpr double kNominal = 48000, kTrue = kNominal * (1 + 60e-6), kHours = 2;
  SampleClock c(static_cast<int>(kNominal));
  c.set_live();
  const double t0 = SampleClock::mono_now();
  const double offset = SampleClock::real_now() - SampleClock::mono_now();
  uint32_t x = 12345;
  double worst_after_10_min = 0;
  for (uint64_t pos = 480; pos <= static_cast<uint64_t>(kHours * 3600 * kTrue); pos += 480) {
    x = x * 1103515245u + 12345u;
    const double jitter = 0.003 * static_cast<double>(x >> 8) / static_cast<double>(1u << 24);
    c.observe_at(pos, t0 + static_cast<double>(pos) / kTrue + jitter);
    if (pos % (480 * 6000) == 0 && static_cast<double>(pos) / kTrue > 600) {  // every minute
      const double truth = t0 + offset + static_cast<double>(pos) / kTrue;
      worst_after_10_min = std::max(worst_after_10_min, std::abs(c.utc_of(pos) - truth));
    }
  }
  const double drift_at_nominal = kHours * 3600 * (kTrue / kNominal - 1);
  std::printf("  after 10 min: worst %.1f ms off the wall clock (%.0f ms at the nominal rate)\n",
              worst_after_10_min * 1000, drift_at_nominal * 1000);
  EXPECT_LT(worst_after_10_min, 0.01);
  EXPECT_NEAR(c.rate(), kTrue, kNominal * 5e-6);
}

TEST(SampleClock, ResumeAnchorsAStreamsFirstSampleAtItsConnection) {
  // A stream connected 0.6 s ago, its first audio just out of the decoder: that audio was live
  // at the connection, not now.
  SampleClock c(8000);
  c.set_live();
  const double connected = SampleClock::mono_now() - 0.6;
  const double real_connected = SampleClock::real_now() - 0.6;
  c.resume(0, connected);
  EXPECT_NEAR(c.utc_of(0), real_connected, 0.05);
  EXPECT_NEAR(static_cast<double>(c.expected_pos()), 0.6 * 8000, 0.05 * 8000);
  c.observe(2048);  // the first block, within a second of the anchor: no update yet
  EXPECT_NEAR(c.utc_of(0), real_connected, 0.05);
  // After an outage, the clock expects the position the connection time maps to.
  c.resume(40000, connected);
  EXPECT_EQ(c.expected_pos_at(connected), 40000u);
  EXPECT_NEAR(static_cast<double>(c.expected_pos_at(connected + 2)), 40000 + 2 * 8000, 1);
  // ... and before it: where a server's burst of its last seconds began.
  EXPECT_NEAR(static_cast<double>(c.expected_pos_at(connected - 3)), 40000 - 3 * 8000, 1);
  EXPECT_EQ(c.expected_pos_at(connected - 10), 0u);
}

}  // namespace
}  // namespace aircheck::daemon::rt
