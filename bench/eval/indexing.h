// Making sure an index holds a reference set, and finding each reference's track id.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <vector>

#include "bench/eval/refs.h"
#include "dsp/params.h"
#include "store/index.h"

namespace aircheck::eval {

struct IndexedRefs {
  std::shared_ptr<store::Index> index;
  std::vector<uint32_t> ids;  ///< ids[i] is the track id of refs[i]
  std::size_t added = 0;      ///< references this call indexed
  double seconds = 0;         ///< wall time spent indexing
};

/// Opens (creating if needed) the index in `dir` for `params`, and indexes every reference
/// it lacks. References already present are recognised by their source path (absolute, or as
/// a relative path naming the same file) or, failing that, a unique file name. New tracks are
/// decoded and fingerprinted on `threads` threads and added by the calling thread, in
/// reference order, so ids are the same on every run. Throws StoreError, DecodeError.
IndexedRefs ensure_indexed(const std::filesystem::path& dir, const std::vector<RefTrack>& refs,
                           const dsp::Params& params, int threads, bool verbose);

/// store::Format of `params`.
store::Format format_of(const dsp::Params& params);

}  // namespace aircheck::eval
