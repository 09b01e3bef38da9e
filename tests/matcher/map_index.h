// A plain map of postings for matcher tests: they check voting logic, not storage (the real
// LMDB index is exercised by the CLI and store tests).
#pragma once

#include <cstdint>
#include <map>
#include <vector>

#include "dsp/types.h"
#include "store/posting.h"

namespace aircheck::test {

struct MapIndex : store::PostingLookup {
  std::map<uint32_t, std::vector<store::Posting>> m;
  uint64_t frames = 0;
  void add(uint32_t track, const std::vector<dsp::TimedHash>& hs) {
    for (auto h : hs) m[h.hash].push_back({track, h.t});
    if (!hs.empty()) frames += hs.back().t + 1;
  }
  std::size_t lookup(uint32_t h, std::vector<store::Posting>& out) override {
    auto it = m.find(h);
    if (it == m.end()) return 0;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return it->second.size();
  }
  uint64_t indexed_frames() override { return frames; }
};

}  // namespace aircheck::test
