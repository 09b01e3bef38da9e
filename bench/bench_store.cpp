// Index lookups against indexes of several sizes: what a matcher worker pays per query hash.
//
// Each index is built once per run in a temporary folder from landmark-shaped hash lists
// (about 90 hashes per second of audio, 24-bit hashes), then probed with hashes known to be
// present, in random order. Counters: postings returned per lookup, bytes used per posting.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/index.h"

namespace {

namespace fs = std::filesystem;
using aircheck::dsp::TimedHash;
using aircheck::store::Index;
using aircheck::store::OpenMode;
using aircheck::store::Posting;

constexpr double kFramesPerSecond = 62.5;

/// About 18 anchors per second, 5 pairs each; hash = f1 | df | dt (8 bits each).
std::vector<TimedHash> make_hashes(uint32_t seed, double seconds) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> frame_step(1, 6);
  std::uniform_int_distribution<int> bin(4, 255);
  std::uniform_int_distribution<int> df(-63, 63);
  std::geometric_distribution<int> dt(0.06);
  std::vector<TimedHash> out;
  const auto frames = static_cast<uint32_t>(seconds * kFramesPerSecond);
  for (uint32_t t = 0; t < frames; t += static_cast<uint32_t>(frame_step(rng))) {
    const auto f1 = static_cast<uint32_t>(std::min(bin(rng), bin(rng)));
    for (int k = 0; k < 5; ++k) {
      const auto d = static_cast<uint32_t>(std::min(dt(rng) + 1, 63));
      const auto f = static_cast<uint32_t>(df(rng)) & 0xffu;
      out.push_back({f1 << 16 | f << 8 | d, t});
    }
  }
  return out;
}

struct Built {
  fs::path dir;
  std::shared_ptr<Index> index;
  std::vector<uint32_t> probes;  // present hashes in random order, power-of-two count
  double bytes_per_posting = 0;

  Built() = default;
  Built(const Built&) = delete;
  Built& operator=(const Built&) = delete;
  ~Built() {
    index.reset();
    std::error_code ec;
    if (!dir.empty()) fs::remove_all(dir, ec);
  }
};

/// The index of about `postings` postings (3.5-minute tracks), built on first use.
Built& index_of(int64_t postings) {
  static std::mutex m;
  static std::map<int64_t, std::unique_ptr<Built>> cache;
  std::lock_guard lk(m);  // threads of one benchmark arrive together
  auto& slot = cache[postings];
  if (slot) return *slot;
  slot = std::make_unique<Built>();
  Built& b = *slot;
  std::string tmpl = (fs::temp_directory_path() / "aircheck-bench-store-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  b.dir = tmpl;
  b.index = Index::open(b.dir / "idx", {0x5eed, "bench"}, OpenMode::create);
  std::vector<uint32_t> present;
  int64_t added = 0;
  for (uint32_t seed = 1; added < postings; ++seed) {
    const double seconds = std::min(210.0, static_cast<double>(postings - added) / 88.0 + 1);
    const auto hashes = make_hashes(seed, seconds);
    aircheck::store::TrackInfo info;
    info.duration_s = seconds;
    b.index->add_track(info, hashes);
    added += static_cast<int64_t>(info.hashes);
    for (std::size_t i = 0; i < hashes.size(); i += 7) present.push_back(hashes[i].hash);
  }
  std::mt19937 rng(1);
  std::shuffle(present.begin(), present.end(), rng);
  std::size_t n = 1;
  while (n * 2 <= present.size() && n < (std::size_t{1} << 16)) n *= 2;
  present.resize(n);
  b.probes = std::move(present);
  const auto s = b.index->stats();
  b.bytes_per_posting = static_cast<double>(s.bytes_used) / static_cast<double>(s.postings);
  return b;
}

void set_counters(benchmark::State& state, const Built& b, uint64_t lookups, uint64_t postings) {
  state.SetItemsProcessed(static_cast<int64_t>(lookups));
  state.counters["postings/lookup"] = benchmark::Counter(
      lookups == 0 ? 0.0 : static_cast<double>(postings) / static_cast<double>(lookups),
      benchmark::Counter::kAvgThreads);
  state.counters["bytes/posting"] =
      benchmark::Counter(b.bytes_per_posting, benchmark::Counter::kAvgThreads);
}

/// Lookups inside one long snapshot: the steady-state cost per query hash.
void bm_lookup_in_snapshot(benchmark::State& state) {
  Built& b = index_of(state.range(0));
  auto reader = b.index->reader();
  std::vector<Posting> out;
  out.reserve(1 << 16);
  const std::size_t mask = b.probes.size() - 1;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  uint64_t lookups = 0;
  uint64_t postings = 0;
  reader->begin();
  for (auto _ : state) {
    out.clear();
    postings += reader->lookup(b.probes[i++ & mask], out);
    ++lookups;
    benchmark::DoNotOptimize(out.data());
  }
  reader->end();
  set_counters(state, b, lookups, postings);
}

/// The matcher's pattern: begin(), a batch of 256 lookups, end().
void bm_lookup_batch_of_256(benchmark::State& state) {
  Built& b = index_of(state.range(0));
  auto reader = b.index->reader();
  std::vector<Posting> out;
  out.reserve(1 << 16);
  const std::size_t mask = b.probes.size() - 1;
  std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7919;
  uint64_t lookups = 0;
  uint64_t postings = 0;
  for (auto _ : state) {
    reader->begin();
    for (int k = 0; k < 256; ++k) {
      out.clear();
      postings += reader->lookup(b.probes[i++ & mask], out);
    }
    reader->end();
    lookups += 256;
    benchmark::DoNotOptimize(out.data());
  }
  set_counters(state, b, lookups, postings);
}

/// Lookups outside begin()/end(): each takes and releases its own snapshot.
void bm_lookup_implicit_snapshot(benchmark::State& state) {
  Built& b = index_of(state.range(0));
  auto reader = b.index->reader();
  std::vector<Posting> out;
  out.reserve(1 << 16);
  const std::size_t mask = b.probes.size() - 1;
  std::size_t i = 0;
  uint64_t lookups = 0;
  uint64_t postings = 0;
  for (auto _ : state) {
    out.clear();
    postings += reader->lookup(b.probes[i++ & mask], out);
    ++lookups;
  }
  set_counters(state, b, lookups, postings);
}

/// Hashes absent from the index (the common case for noise in a query), spread over the key
/// range: present hashes with dt = 0, which the hasher never makes.
void bm_lookup_absent(benchmark::State& state) {
  Built& b = index_of(state.range(0));
  auto reader = b.index->reader();
  std::vector<Posting> out;
  const std::size_t mask = b.probes.size() - 1;
  std::size_t i = 0;
  reader->begin();
  for (auto _ : state) {
    benchmark::DoNotOptimize(reader->lookup(b.probes[i++ & mask] & ~0xffu, out));
  }
  reader->end();
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void sizes(benchmark::internal::Benchmark* b) {
  b->Arg(10'000)->Arg(100'000)->Arg(1'000'000)->ArgName("postings");
  if (std::getenv("AIRCHECK_BENCH_LARGE") != nullptr) b->Arg(10'000'000);
}

BENCHMARK(bm_lookup_in_snapshot)->Apply(sizes)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(bm_lookup_batch_of_256)->Apply(sizes)->ThreadRange(1, 2)->UseRealTime();
BENCHMARK(bm_lookup_implicit_snapshot)->Apply(sizes);
BENCHMARK(bm_lookup_absent)->Apply(sizes);

}  // namespace

BENCHMARK_MAIN();
