// Fingerprinting and voting micro-benchmarks on synthesized music.
//   build/bench/bench_dsp --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <unordered_map>

#include "bench/eval/synth.h"
#include "dsp/fingerprinter.h"
#include "matcher/matcher.h"

using namespace aircheck;

namespace {
const std::vector<float>& song() {
  static const auto s = eval::synth_music(42, {60.0, 8000, 0.3});
  return s;
}

// Fingerprinting one minute of audio, fed in 1024-sample chunks as the daemon does.
void BM_Fingerprint(benchmark::State& state) {
  const auto side = state.range(0) == 0 ? dsp::Side::index : dsp::Side::query;
  dsp::Fingerprinter fp(dsp::Params{}, side);
  std::vector<dsp::TimedHash> out;
  out.reserve(200000);
  const auto& pcm = song();
  for (auto _ : state) {
    fp.reset();
    out.clear();
    for (std::size_t i = 0; i < pcm.size(); i += 1024)
      fp.feed(std::span(pcm).subspan(i, std::min<std::size_t>(1024, pcm.size() - i)), out);
    fp.flush(out);
    benchmark::DoNotOptimize(out.data());
  }
  const double audio_s = static_cast<double>(pcm.size()) / 8000.0;
  state.counters["x_realtime"] = benchmark::Counter(
      audio_s * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["hashes_per_s"] = static_cast<double>(out.size()) / audio_s;
}
BENCHMARK(BM_Fingerprint)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

struct MemIndex : store::PostingLookup {
  std::unordered_map<uint32_t, std::vector<store::Posting>> m;
  std::size_t lookup(uint32_t h, std::vector<store::Posting>& out) override {
    auto it = m.find(h);
    if (it == m.end()) return 0;
    out.insert(out.end(), it->second.begin(), it->second.end());
    return it->second.size();
  }
};

// Voting for a 10-s query against an in-memory index of N synthesized one-minute songs:
// the matcher's own cost, without LMDB (see bench_store for lookups).
void BM_Vote10s(benchmark::State& state) {
  const dsp::Params p;
  MemIndex idx;
  for (int i = 0; i < state.range(0); ++i) {
    const auto s = eval::synth_music(1000 + static_cast<uint64_t>(i), {60.0, 8000, 0.3});
    for (const auto& h : dsp::fingerprint(p, dsp::Side::index, s))
      idx.m[h.hash].push_back({static_cast<uint32_t>(i), h.t});
  }
  const auto q =
      dsp::fingerprint(p, dsp::Side::query, std::span(song()).subspan(8000 * 20, 8000 * 10));
  matcher::Matcher m(p);
  for (auto _ : state) benchmark::DoNotOptimize(m.match(q, idx).data());
  state.counters["postings"] = static_cast<double>(m.stats().postings);
}
BENCHMARK(BM_Vote10s)->Arg(10)->Arg(100)->Unit(benchmark::kMicrosecond);
}  // namespace

BENCHMARK_MAIN();
