#include "daemon/rt/spsc_ring.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

namespace aircheck::daemon::rt {
namespace {

TEST(SpscRing, CapacityIsRoundedUpToAPowerOfTwo) {
  EXPECT_EQ(SpscRing<int>(1).capacity(), 2u);
  EXPECT_EQ(SpscRing<int>(5).capacity(), 8u);
  EXPECT_EQ(SpscRing<int>(1024).capacity(), 1024u);
  EXPECT_THROW(SpscRing<int>(0), std::invalid_argument);
}

TEST(SpscRing, IndicesLiveOnSeparateCacheLines) {
  static_assert(sizeof(SpscRing<float>) >= 3 * kCacheLine);
  static_assert(alignof(SpscRing<float>) == kCacheLine);
}

TEST(SpscRing, WritesWhatFitsAndReadsItBackInOrder) {
  SpscRing<int> r(8);
  std::vector<int> in(11);
  std::iota(in.begin(), in.end(), 0);
  EXPECT_EQ(r.write_space(), 8u);
  EXPECT_EQ(r.write(in), 8u);
  EXPECT_EQ(r.write_space(), 0u);
  EXPECT_EQ(r.write(std::span<const int>(in).subspan(8)), 0u);
  EXPECT_EQ(r.read_available(), 8u);
  std::vector<int> out(5);
  EXPECT_EQ(r.read(out), 5u);
  EXPECT_EQ(out, (std::vector<int>{0, 1, 2, 3, 4}));
  EXPECT_EQ(r.write_space(), 5u);
  EXPECT_EQ(r.write(std::span<const int>(in).subspan(8)), 3u);
  out.assign(10, -1);
  EXPECT_EQ(r.read(out), 6u);
  EXPECT_EQ(std::vector<int>(out.begin(), out.begin() + 6), (std::vector<int>{5, 6, 7, 8, 9, 10}));
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.producer_index(), 11u);
  EXPECT_EQ(r.consumer_index(), 11u);
}

TEST(SpscRing, ReadViewSplitsAtTheWrap) {
  SpscRing<int> r(8);
  const std::vector<int> a{1, 2, 3, 4, 5, 6};
  ASSERT_EQ(r.write(a), 6u);
  std::vector<int> sink(6);
  ASSERT_EQ(r.read(sink), 6u);
  const std::vector<int> b{7, 8, 9, 10, 11};
  ASSERT_EQ(r.write(b), 5u);  // slots 6, 7, 0, 1, 2
  const ReadView<int> v = r.read_view();
  ASSERT_EQ(v.first.size(), 2u);
  ASSERT_EQ(v.second.size(), 3u);
  EXPECT_EQ(v.first[0], 7);
  EXPECT_EQ(v.first[1], 8);
  EXPECT_EQ(v.second[0], 9);
  EXPECT_EQ(v.second[2], 11);
  r.consume(3);
  const ReadView<int> w = r.read_view();
  EXPECT_EQ(w.first.size(), 2u);
  EXPECT_EQ(w.second.size(), 0u);
  EXPECT_EQ(w.first[0], 10);
}

TEST(SpscRing, PushAndPopSingleElements) {
  struct Rec {
    int a;
    double b;
  };
  SpscRing<Rec> r(2);
  EXPECT_TRUE(r.push({1, 1.5}));
  EXPECT_TRUE(r.push({2, 2.5}));
  EXPECT_FALSE(r.push({3, 3.5}));
  Rec x{};
  EXPECT_TRUE(r.pop(x));
  EXPECT_EQ(x.a, 1);
  EXPECT_TRUE(r.pop(x));
  EXPECT_EQ(x.b, 2.5);
  EXPECT_FALSE(r.pop(x));
}

// Two threads, odd chunk sizes on both sides, both read styles; every element is checked in
// order. Run under ThreadSanitizer by building with -DAIRCHECK_SANITIZE=thread.
TEST(SpscRing, TwoThreadStressDeliversEveryElementInOrder) {
  constexpr uint64_t kTotal = 3'000'000;
  SpscRing<uint64_t> r(1000);
  std::thread producer([&] {
    std::vector<uint64_t> chunk(97);
    uint64_t next = 0;
    std::size_t size = 1;
    while (next < kTotal) {
      size = size % 97 + 1;
      const std::size_t n = std::min<uint64_t>(size, kTotal - next);
      for (std::size_t i = 0; i < n; ++i) chunk[i] = next + i;
      std::size_t done = 0;
      while (done < n) {
        const std::size_t w = r.write(std::span<const uint64_t>(chunk.data() + done, n - done));
        done += w;
        if (w == 0) std::this_thread::yield();
      }
      next += n;
    }
  });
  uint64_t expect = 0, errors = 0;
  std::vector<uint64_t> out(61);
  bool use_view = false;
  while (expect < kTotal) {
    use_view = !use_view;
    if (use_view) {
      const ReadView<uint64_t> v = r.read_view();
      if (v.size() == 0) {
        std::this_thread::yield();
        continue;
      }
      for (uint64_t x : v.first) errors += x != expect++;
      for (uint64_t x : v.second) errors += x != expect++;
      r.consume(v.size());
    } else {
      const std::size_t n = r.read(out);
      if (n == 0) std::this_thread::yield();
      for (std::size_t i = 0; i < n; ++i) errors += out[i] != expect++;
    }
  }
  producer.join();
  EXPECT_EQ(errors, 0u);
  EXPECT_EQ(expect, kTotal);
  EXPECT_TRUE(r.empty());
}

}  // namespace
}  // namespace aircheck::daemon::rt
