// A plain map of postings for matcher tests: they check voting logic, not storage (the real
// LMDB index is exercised by the CLI and store tests).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <vector>

#include "dsp/types.h"
#include "store/posting.h"

namespace aircheck::test {

struct MapIndex : store::PostingLookup {
  std::map<uint32_t, std::vector<store::Posting>> m;
  std::map<uint32_t, std::vector<uint32_t>> words;  // sub-band words per track
  std::map<uint32_t, std::vector<uint64_t>> fines;  // fine words per track
  uint64_t frames = 0;
  void add(uint32_t track, const std::vector<dsp::TimedHash>& hs,
           const std::vector<uint32_t>& subband = {}, const std::vector<uint64_t>& fine = {}) {
    for (auto h : hs) m[h.hash].push_back({track, h.t});
    if (!hs.empty()) frames += hs.back().t + 1;
    if (!subband.empty()) words[track] = subband;
    if (!fine.empty()) fines[track] = fine;
  }
  std::size_t lookup(uint32_t h, std::vector<store::Posting>& out) override {
    auto it = m.find(h);
    if (it == m.end()) return 0;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return it->second.size();
  }
  uint64_t indexed_frames() override { return frames; }
  std::size_t subband(uint32_t track, uint64_t from, std::size_t count, uint32_t* out) override {
    const auto it = words.find(track);
    if (it == words.end() || from >= it->second.size()) return 0;
    const std::size_t n = std::min<std::size_t>(count, it->second.size() - from);
    std::copy_n(it->second.begin() + static_cast<std::ptrdiff_t>(from), n, out);
    return n;
  }
  std::size_t fine(uint32_t track, uint64_t from, std::size_t count, uint64_t* out) override {
    const auto it = fines.find(track);
    if (it == fines.end() || from >= it->second.size()) return 0;
    const std::size_t n = std::min<std::size_t>(count, it->second.size() - from);
    std::copy_n(it->second.begin() + static_cast<std::ptrdiff_t>(from), n, out);
    return n;
  }
};

}  // namespace aircheck::test
