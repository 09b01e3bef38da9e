// The caps on postings per hash of a stream's lanes follow the index's size.
#include <gtest/gtest.h>

#include "daemon/source_runner.h"

using aircheck::daemon::stream_posting_caps;

TEST(PostingCaps, FollowTheIndexsMeanPostingsPerHash) {
  // The 1038-track capacity index: 10.5 M postings of 702 840 distinct hashes (mean 15).
  const auto big = stream_posting_caps(10'500'000, 702'840);
  EXPECT_EQ(big.normal, 239u);    // 16 x the mean
  EXPECT_EQ(big.rescaled, 179u);  // 12 x the mean
  // Ten times the postings per hash: ten times the caps.
  const auto bigger = stream_posting_caps(105'000'000, 702'840);
  EXPECT_EQ(bigger.normal, 2390u);
  EXPECT_EQ(bigger.rescaled, 1793u);
  // A small index keeps the floors: few postings per hash, every hash informative.
  const auto small = stream_posting_caps(20'000, 15'000);
  EXPECT_EQ(small.normal, 64u);
  EXPECT_EQ(small.rescaled, 25u);
  const auto empty = stream_posting_caps(0, 0);
  EXPECT_EQ(empty.normal, 64u);
  EXPECT_EQ(empty.rescaled, 25u);
}
