// The on-disk layout of the "postings" database. Private to store/ (and its tests).
//
// A hash is split into a bucket (the key) and its low kLowBits bits, which lead the value, so
// that a bucket holds the postings of 2^kLowBits neighbouring hashes and its values sort by
// (low bits, track, t): the postings of one hash are one contiguous run in (track, t) order.
//
//   key   uint32, MDB_INTEGERKEY          hash >> 14
//
//   value uint64, native endian, MDB_DUPSORT|MDB_DUPFIXED|MDB_INTEGERDUP
//          63           50 49                      24 23                      0
//         +---------------+-------------------------+------------------------+
//         | hash & 0x3fff |   track id (26 bits)    |  t in frames (24 bits) |
//         +---------------+-------------------------+------------------------+
//
// Buckets are wide (1024 of them for the 24-bit hashes of dsp::Params, of which real music uses
// about 500) so that even a small index puts nearly every value in a bucket's own sub-database:
// 8 bytes apiece in LMDB's fixed-size duplicate pages, no node per hash. Narrower buckets leave
// many of them as inline sub-pages, which pack worse. Track ids must be below 2^26 and frames
// below 2^24 (74 h at 16 ms per frame); add_track refuses anything else.
#pragma once

#include <cstdint>

#include "store/posting.h"

namespace aircheck::store::layout {

inline constexpr unsigned kLowBits = 14;
inline constexpr unsigned kTimeBits = 24;
inline constexpr unsigned kTrackBits = 64 - kLowBits - kTimeBits;
inline constexpr unsigned kTrackShift = kTimeBits;
inline constexpr unsigned kLowShift = kTimeBits + kTrackBits;

inline constexpr uint32_t kLowMask = (uint32_t{1} << kLowBits) - 1;
inline constexpr uint64_t kTimeMask = (uint64_t{1} << kTimeBits) - 1;
inline constexpr uint64_t kTrackMask = (uint64_t{1} << kTrackBits) - 1;
/// Largest track id and frame a value can hold.
inline constexpr uint32_t kMaxTrack = static_cast<uint32_t>(kTrackMask);
inline constexpr uint32_t kMaxFrame = static_cast<uint32_t>(kTimeMask);

constexpr uint32_t key_of(uint32_t hash) { return hash >> kLowBits; }
constexpr uint32_t low_of(uint32_t hash) { return hash & kLowMask; }

/// The value of posting `p` of `hash`. Requires p.track <= kMaxTrack and p.t <= kMaxFrame.
constexpr uint64_t value_of(uint32_t hash, Posting p) {
  return uint64_t{low_of(hash)} << kLowShift | uint64_t{p.track} << kTrackShift | p.t;
}
/// The smallest value `hash` can have: where its run starts within its bucket.
constexpr uint64_t first_value(uint32_t hash) { return uint64_t{low_of(hash)} << kLowShift; }
/// The smallest value of track `track` under `hash`.
constexpr uint64_t first_value(uint32_t hash, uint32_t track) {
  return first_value(hash) | uint64_t{track} << kTrackShift;
}

constexpr uint32_t value_low(uint64_t v) { return static_cast<uint32_t>(v >> kLowShift); }
constexpr Posting posting_of(uint64_t v) {
  return Posting{static_cast<uint32_t>(v >> kTrackShift & kTrackMask),
                 static_cast<uint32_t>(v & kTimeMask)};
}
/// The hash a value was stored for, given its key.
constexpr uint32_t hash_of(uint32_t key, uint64_t v) { return key << kLowBits | value_low(v); }

static_assert(kLowBits + kTrackBits + kTimeBits == 64);
static_assert(kLowBits == 14 && kTrackBits == 26 && kTimeBits == 24);
static_assert(key_of(0x00abcdefu) == 0x2afu && low_of(0x00abcdefu) == 0xdefu);
static_assert(value_of(0x00abcdefu, {5, 7}) == (uint64_t{0xdef} << 50 | uint64_t{5} << 24 | 7));
static_assert(posting_of(value_of(0xffffffffu, {kMaxTrack, kMaxFrame})).track == kMaxTrack);
static_assert(posting_of(value_of(0xffffffffu, {kMaxTrack, kMaxFrame})).t == kMaxFrame);
static_assert(hash_of(key_of(0xffffffffu), value_of(0xffffffffu, {1, 2})) == 0xffffffffu);
static_assert(value_of(0x3ffu, {0, 0}) > value_of(0x3feu, {kMaxTrack, kMaxFrame}));

}  // namespace aircheck::store::layout
