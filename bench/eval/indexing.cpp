#include "bench/eval/indexing.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <ctime>
#include <iostream>
#include <map>
#include <mutex>
#include <optional>
#include <thread>

#include "dsp/decode/decoder.h"
#include "dsp/fingerprinter.h"

namespace aircheck::eval {
namespace fs = std::filesystem;

store::Format format_of(const dsp::Params& params) {
  return store::Format{params.digest(), params.describe()};
}

IndexedRefs ensure_indexed(const fs::path& dir, const std::vector<RefTrack>& refs,
                           const dsp::Params& params, int threads, bool verbose) {
  IndexedRefs r;
  r.index = store::Index::open(dir, format_of(params), store::OpenMode::create);
  r.ids.assign(refs.size(), 0);

  // Known tracks by canonical source path and by file name.
  std::map<std::string, uint32_t> by_path;
  std::map<std::string, std::vector<uint32_t>> by_name;
  for (const auto& t : r.index->tracks()) {
    std::error_code ec;
    fs::path p(t.source);
    const auto canon = fs::weakly_canonical(p, ec);
    by_path[(ec ? p : canon).string()] = t.id;
    by_name[p.filename().string()].push_back(t.id);
  }
  std::vector<std::size_t> missing;
  for (std::size_t i = 0; i < refs.size(); ++i) {
    std::error_code ec;
    const auto canon = fs::weakly_canonical(refs[i].path, ec);
    if (auto it = by_path.find((ec ? refs[i].path : canon).string()); it != by_path.end()) {
      r.ids[i] = it->second;
    } else if (auto jt = by_name.find(refs[i].path.filename().string());
               jt != by_name.end() && jt->second.size() == 1) {
      r.ids[i] = jt->second.front();
    } else {
      missing.push_back(i);
    }
  }
  if (missing.empty()) return r;
  if (verbose) {
    std::cerr << "indexing " << missing.size() << " of " << refs.size() << " references into "
              << dir.string() << " on " << threads << " thread(s)\n";
  }

  struct Slot {
    bool ready = false;
    std::vector<dsp::TimedHash> hashes;
    std::vector<uint32_t> subband;
    std::vector<uint64_t> fine;
    store::TrackInfo info;
    std::string error;
  };
  std::vector<Slot> slots(missing.size());
  std::mutex mu;
  std::condition_variable cv;
  std::atomic<std::size_t> next{0};
  std::atomic<bool> stop{false};
  const auto t0 = std::chrono::steady_clock::now();
  auto worker = [&] {
    dsp::decode::OpenOptions opts;
    opts.sample_rate = params.sample_rate;
    for (;;) {
      const std::size_t j = next.fetch_add(1);
      if (j >= missing.size() || stop) return;
      const auto& ref = refs[missing[j]];
      Slot s;
      try {
        dsp::decode::Metadata meta;
        const auto pcm = dsp::decode::decode_all(ref.path.string(), opts, &meta);
        s.hashes = dsp::fingerprint(params, dsp::Side::index, pcm, &s.subband, &s.fine);
        s.info.title = meta.title.empty() ? ref.id : meta.title;
        s.info.artist = meta.artist;
        s.info.external_id = ref.id;
        s.info.source = ref.path.string();
        s.info.content_hash = store::content_hash(pcm);
        s.info.duration_s = static_cast<double>(pcm.size()) / params.sample_rate;
        s.info.added_unix = static_cast<int64_t>(std::time(nullptr));
      } catch (const std::exception& e) {
        s.error = ref.path.string() + ": " + e.what();
      }
      s.ready = true;
      std::lock_guard lock(mu);
      slots[j] = std::move(s);
      cv.notify_all();
    }
  };
  std::vector<std::thread> pool;
  for (int k = 0; k < std::max(1, threads); ++k) pool.emplace_back(worker);
  struct Join {
    std::vector<std::thread>& p;
    std::atomic<bool>& stop;
    ~Join() {
      stop = true;
      for (auto& t : p) t.join();
    }
  } join{pool, stop};

  for (std::size_t j = 0; j < missing.size(); ++j) {
    Slot s;
    {
      std::unique_lock lock(mu);
      cv.wait(lock, [&] { return slots[j].ready; });
      s = std::move(slots[j]);
      slots[j] = Slot{};
    }
    if (!s.error.empty()) throw std::runtime_error("indexing: " + s.error);
    r.ids[missing[j]] = r.index->add_track(s.info, s.hashes, s.subband, s.fine);
    ++r.added;
    if (verbose && (j + 1) % 20 == 0) std::cerr << "  " << (j + 1) << "/" << missing.size() << "\n";
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return r;
}

}  // namespace aircheck::eval
