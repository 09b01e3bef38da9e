// Postings and the narrow read interface the matcher uses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <vector>

namespace aircheck::store {

/// One occurrence of a hash in a reference track. `t` in frames from the track's start.
struct Posting {
  uint32_t track;
  uint32_t t;
};
static_assert(sizeof(Posting) == 8 && std::is_trivially_copyable_v<Posting>);

/// A posting as one uint64 that sorts as (track, t): track id in the high 32 bits, frame in the
/// low 32 bits. For ordering and comparing postings; the index stores another layout.
constexpr uint64_t pack_posting(Posting p) { return uint64_t{p.track} << 32 | p.t; }
constexpr Posting unpack_posting(uint64_t v) {
  return Posting{static_cast<uint32_t>(v >> 32), static_cast<uint32_t>(v)};
}
static_assert(unpack_posting(pack_posting({7, 9})).track == 7);
static_assert(unpack_posting(pack_posting({7, 9})).t == 9);

/// What the matcher needs from an index. Implementations are used by one thread at a time.
class PostingLookup {
 public:
  virtual ~PostingLookup() = default;
  /// Appends every posting of `hash` to `out` (in (track, t) order). Does not clear `out`.
  /// Allocation-free once `out` has grown to its working size. Returns the count appended.
  virtual std::size_t lookup(uint32_t hash, std::vector<Posting>& out) = 0;
  /// Appends the postings of `hash` in track `track` only (in t order); returns their count.
  /// Same allocation rule as lookup(). This default filters lookup(); an index that stores
  /// postings in (track, t) order seeks to the track's run instead.
  virtual std::size_t lookup_track(uint32_t hash, uint32_t track, std::vector<Posting>& out) {
    const std::size_t start = out.size();
    lookup(hash, out);
    std::size_t kept = start;
    for (std::size_t i = start; i < out.size(); ++i)
      if (out[i].track == track) out[kept++] = out[i];
    out.resize(kept);
    return kept - start;
  }
  /// Total length of the indexed tracks, in frames, in the current snapshot; 0 if unknown.
  /// The matcher uses it for the chance rate of votes (confidence).
  virtual uint64_t indexed_frames() { return 0; }
  /// Copies the sub-band energy words of `track` for frames from .. from + count - 1 (as far
  /// as the track has them) to `out`; returns how many. 0: none stored (or past its end).
  virtual std::size_t subband(uint32_t /*track*/, uint64_t /*from*/, std::size_t /*count*/,
                              uint32_t* /*out*/) {
    return 0;
  }
  /// Copies the fine words of `track` (dsp::Fingerprinter::collect_fine) for frames from ..
  /// from + count - 1 (as far as the track has them) to `out`; returns how many. 0: none
  /// stored (or past its end, or an index without them).
  virtual std::size_t fine(uint32_t /*track*/, uint64_t /*from*/, std::size_t /*count*/,
                           uint64_t* /*out*/) {
    return 0;
  }
};

}  // namespace aircheck::store
