// Evidence clips: what they cost. Encoding and writing a clip (clip thread), cutting it out of
// the history (worker), feeding the history (worker, per block), and the history's memory.
//   build/bench/bench_evidence --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
// Clips are written under $TMPDIR (default /tmp): the fsync cost is that disk's.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "bench/eval/synth.h"
#include "config/settings.h"
#include "daemon/evidence/audio_history.h"
#include "daemon/evidence/clip_writer.h"
#include "daemon/source.h"
#include "daemon/source_runner.h"
#include "dsp/params.h"

using namespace aircheck;

namespace {

constexpr int kRate = 8000;

const std::vector<float>& three_minutes() {
  static const auto s = eval::synth_music(42, {180.0, kRate, 0.3});
  return s;
}

std::filesystem::path bench_dir() {
  static const auto d = [] {
    auto p = std::filesystem::temp_directory_path() /
             ("aircheck_bench_evidence_" + std::to_string(::getpid()));
    std::filesystem::create_directories(p);
    return p;
  }();
  return d;
}

// Encoding a 3-minute clip at 8 kHz and writing it as the clip thread does (.part, fsync,
// rename, folder fsync). Arg 0: ogg (Opus, 16 kbit/s), 1: flac.
void BM_WriteClip180s(benchmark::State& state) {
  daemon::ClipJob job;
  job.source = "bench";
  job.format = state.range(0) == 0 ? "ogg" : "flac";
  job.path = daemon::clip_path(bench_dir().string(), "bench", 1795219200.0, 1, job.format);
  job.sample_rate = kRate;
  job.pcm = three_minutes();
  for (auto _ : state) daemon::write_clip(job);
  const double audio_s = static_cast<double>(job.pcm.size()) / kRate;
  const auto bytes = static_cast<double>(std::filesystem::file_size(job.path));
  state.counters["x_realtime"] = benchmark::Counter(
      audio_s * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
  state.counters["file_kB"] = bytes / 1000.0;
  state.counters["kbit_per_s"] = bytes * 8.0 / audio_s / 1000.0;
  state.SetLabel(job.format);
}
BENCHMARK(BM_WriteClip180s)->Arg(0)->Arg(1)->Unit(benchmark::kMillisecond);

// Cutting a 120-s clip out of the history into a fresh job buffer (the worker's share of an
// airing_end, or of the snapshot of a long airing).
void BM_CutClip120s(benchmark::State& state) {
  daemon::AudioHistory h(static_cast<std::size_t>(160 * kRate));
  const auto& pcm = three_minutes();
  for (std::size_t i = 0; i < pcm.size(); i += 1024)
    h.write(i, std::span(pcm).subspan(i, std::min<std::size_t>(1024, pcm.size() - i)));
  for (auto _ : state) {
    std::vector<float> out;
    h.copy(h.end() - 120 * kRate, h.end(), out);
    benchmark::DoNotOptimize(out.data());
  }
}
BENCHMARK(BM_CutClip120s)->Unit(benchmark::kMicrosecond);

// Feeding the history: one 1024-sample block (128 ms of audio), as consume() does per block.
void BM_HistoryWrite1024(benchmark::State& state) {
  daemon::AudioHistory h(static_cast<std::size_t>(160 * kRate));
  const auto& pcm = three_minutes();
  uint64_t pos = 0;
  for (auto _ : state) {
    h.write(pos, std::span(pcm).subspan(pos % (pcm.size() - 1024), 1024));
    pos += 1024;
  }
  state.counters["x_realtime"] = benchmark::Counter(
      1024.0 / kRate * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_HistoryWrite1024);

/// A source that never delivers (the runner is only constructed).
class Silent : public daemon::Source {
 public:
  const daemon::SourceSpec& spec() const override { return spec_; }
  void start() override {}
  void stop() override {}
  daemon::Block read_block() override { return {}; }
  bool poll_health(daemon::HealthEvent&) override { return false; }
  double utc_of(uint64_t) const override { return 0; }
  bool finished() const override { return false; }
  uint64_t overflowed() const override { return 0; }

 private:
  daemon::SourceSpec spec_;
};

// Memory a source with evidence holds for its history, with the default profile, at max_s
// (Arg) and pre_roll_s 3: the history covers max_s + pre-roll + decision latency + slack.
void BM_RunnerHistoryMemory(benchmark::State& state) {
  config::SourceSettings s;
  s.id = "fm1";
  s.kind = "file";
  s.evidence = true;
  config::EvidenceSettings ev;
  ev.enabled = true;
  ev.dir = bench_dir().string();
  ev.max_s = static_cast<double>(state.range(0));
  daemon::ClipWriter writer(nullptr);
  std::size_t bytes = 0;
  for (auto _ : state) {
    daemon::SourceRunner r(s, std::make_unique<Silent>(), dsp::Params{}, ev, &writer);
    bytes = r.evidence_bytes();
    benchmark::DoNotOptimize(bytes);
  }
  state.counters["history_MB"] = static_cast<double>(bytes) / 1e6;
  state.counters["history_s"] = static_cast<double>(bytes) / sizeof(float) / kRate;
}
BENCHMARK(BM_RunnerHistoryMemory)->Arg(120)->Arg(600)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  std::filesystem::remove_all(bench_dir());
  return 0;
}
