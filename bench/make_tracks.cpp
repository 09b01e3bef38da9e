// Writes N synthesized songs (bench/eval/synth.h, distinct seeds) to a folder, to grow an index
// to a realistic size for capacity and scaling measurements (bench/capacity.sh).
//
//   aircheck-make-tracks OUTDIR [--count N] [--seed S] [--min-s 120] [--max-s 240]
//                        [--rate 11025] [--ext flac] [-j THREADS]
//
// Song i (0-based) uses seed S + i and a length drawn uniformly in [min-s, max-s] from the same
// seed, so a given (S, i) always gives the same file. Files are named synth-NNNNN.EXT. A file
// that already exists is kept, so an interrupted run can be resumed; each file is written under
// a temporary name and renamed when complete. The rate only needs to cover the fingerprint band
// (up to 4 kHz); 11025 Hz keeps synthesis about 4x cheaper than 44.1 kHz.
//
// Exit codes: 0 done, 1 a file could not be written (named on stderr), 2 bad command line.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"

namespace fs = std::filesystem;
using namespace aircheck;

int main(int argc, char** argv) {
  CLI::App app{"write synthesized songs for index-scaling benchmarks"};
  std::string out;
  int count = 850;
  uint64_t seed = 100000;
  double min_s = 120, max_s = 240;
  int rate = 11025;
  std::string ext = "flac";
  unsigned jobs = std::max(1u, std::thread::hardware_concurrency());
  app.add_option("outdir", out, "output folder")->required();
  app.add_option("--count", count, "songs to write (default 850)")->check(CLI::Range(1, 1000000));
  app.add_option("--seed", seed, "seed of the first song (default 100000)");
  app.add_option("--min-s", min_s, "shortest song, in seconds (default 120)")
      ->check(CLI::Range(5.0, 3600.0));
  app.add_option("--max-s", max_s, "longest song, in seconds (default 240)")
      ->check(CLI::Range(5.0, 3600.0));
  app.add_option("--rate", rate, "sample rate in Hz (default 11025)")
      ->check(CLI::Range(8000, 96000));
  app.add_option("--ext", ext, "container/codec by extension: flac, wav, mp3, ... (default flac)");
  app.add_option("-j,--jobs", jobs, "threads (default: one per core)")->check(CLI::Range(1u, 256u));
  CLI11_PARSE(app, argc, argv);
  if (max_s < min_s) {
    std::fprintf(stderr, "aircheck-make-tracks: --max-s is below --min-s\n");
    return 2;
  }
  try {
    fs::create_directories(out);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aircheck-make-tracks: %s\n", e.what());
    return 1;
  }
  std::atomic<int> next{0};
  std::atomic<int> written{0}, kept{0}, failed{0};
  std::atomic<double> seconds{0};
  std::mutex print;
  auto work = [&] {
    for (int i = next++; i < count; i = next++) {
      const uint64_t s = seed + static_cast<uint64_t>(i);
      char name[64];
      std::snprintf(name, sizeof name, "synth-%05d.%s", i, ext.c_str());
      const fs::path path = fs::path(out) / name;
      std::mt19937_64 rng(s ^ 0x9e3779b97f4a7c15ull);
      const double len = std::uniform_real_distribution<double>(min_s, max_s)(rng);
      std::error_code ec;
      if (fs::exists(path, ec)) {
        ++kept;
        seconds.fetch_add(len);
        continue;
      }
      const fs::path tmp = fs::path(out) / (std::string(".part-") + name);
      try {
        const std::vector<float> pcm = eval::synth_music(s, {len, rate, 0.3});
        dsp::decode::encode_file(tmp.string(), pcm, rate);
        fs::rename(tmp, path);
        ++written;
        seconds.fetch_add(len);
      } catch (const std::exception& e) {
        std::lock_guard lock(print);
        std::fprintf(stderr, "aircheck-make-tracks: %s: %s\n", path.c_str(), e.what());
        fs::remove(tmp, ec);
        ++failed;
      }
    }
  };
  try {
    std::vector<std::thread> threads;
    for (unsigned t = 0; t < jobs; ++t) threads.emplace_back(work);
    for (auto& t : threads) t.join();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aircheck-make-tracks: %s\n", e.what());
    return 1;
  }
  std::printf("%d written, %d already there, %d failed: %.2f h of audio in %s\n", written.load(),
              kept.load(), failed.load(), seconds.load() / 3600.0, out.c_str());
  return failed > 0 ? 1 : 0;
}
