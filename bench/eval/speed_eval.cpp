#include "bench/eval/speed_eval.h"

#include <unistd.h>

#include <chrono>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "bench/eval/condition.h"
#include "bench/eval/degrade.h"
#include "bench/eval/indexing.h"
#include "bench/eval/query_eval.h"
#include "bench/eval/random.h"
#include "bench/eval/refs.h"
#include "bench/eval/stats.h"
#include "dsp/decode/decoder.h"
#include "dsp/fingerprinter.h"

namespace aircheck::eval {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

namespace {

double since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

}  // namespace

void run_speed_eval(const SpeedEvalOptions& opt) {
  fs::create_directories(opt.out);
  auto all = list_refs(opt.refs_dir);
  const std::size_t n_refs = all.size();
  for (const auto& d : opt.extra) {
    auto v = list_refs(d);
    all.insert(all.end(), v.begin(), v.end());
  }
  const auto& p = opt.params;
  dsp::decode::OpenOptions dopt;
  dopt.sample_rate = p.sample_rate;

  // ---- 1. fingerprinting speed, one core ----
  double audio_s = 0, decode_s = 0, fp_index_s = 0, fp_query_s = 0;
  uint64_t index_hashes = 0, query_hashes = 0;
  {
    dsp::Fingerprinter fi(p, dsp::Side::index), fq(p, dsp::Side::query);
    std::vector<dsp::TimedHash> out;
    for (std::size_t i = 0; i < all.size() && audio_s < opt.fingerprint_minutes * 60; ++i) {
      auto t = Clock::now();
      const auto pcm = dsp::decode::decode_all(all[i].path.string(), dopt);
      decode_s += since(t);
      audio_s += static_cast<double>(pcm.size()) / p.sample_rate;
      for (auto* fp : {&fi, &fq}) {
        out.clear();
        fp->reset();
        t = Clock::now();
        fp->feed(pcm, out);
        fp->flush(out);
        (fp == &fi ? fp_index_s : fp_query_s) += since(t);
        (fp == &fi ? index_hashes : query_hashes) += out.size();
      }
    }
  }
  if (opt.verbose)
    std::cerr << "fingerprinting: " << format_fixed(audio_s / 60) << " min measured\n";

  // ---- 2. grow an index, measuring ingest, size and query latency per step ----
  fs::path dir = opt.index_dir.empty()
                     ? fs::temp_directory_path() / ("aircheck-speed-" + std::to_string(::getpid()))
                     : opt.index_dir;
  std::error_code ec;
  fs::remove_all(dir, ec);
  struct Step {
    std::size_t tracks;
    double hours, ingest_s, bytes_used, bytes_per_hour, p50, p99, match_p50, match_p99, postings;
  };
  std::vector<Step> steps;
  const int nsteps = std::max(1, opt.steps);
  std::vector<RefTrack> in_index;
  std::vector<uint32_t> ids;
  double ingest_total = 0, hours = 0;
  const auto cond_noise = Condition::parse("white:10");
  for (int s = 1; s <= nsteps; ++s) {
    const std::size_t upto =
        all.size() * static_cast<std::size_t>(s) / static_cast<std::size_t>(nsteps);
    std::vector<RefTrack> add(all.begin() + static_cast<std::ptrdiff_t>(in_index.size()),
                              all.begin() + static_cast<std::ptrdiff_t>(upto));
    in_index.insert(in_index.end(), add.begin(), add.end());
    const auto t = Clock::now();
    auto r = ensure_indexed(dir, in_index, p, 1, false);
    ingest_total += since(t);
    ids = r.ids;
    for (const auto& a : add) hours += a.duration_s / 3600;
    const auto st = r.index->stats();

    // Queries: 5 s excerpts of indexed references, half clean, half at 10 dB SNR.
    std::vector<double> lat, mlat, post;
    {
      QueryProbe probe(p, opt.match, {}, *r.index);
      std::size_t last_file = SIZE_MAX;
      std::vector<float> pcm;
      std::vector<std::pair<std::size_t, double>> draws;
      for (int q = 0; q < opt.queries; ++q) {
        Rng rng(mix64(opt.seed, static_cast<uint64_t>(q)));
        const std::size_t k =
            rng.below(std::min(in_index.size(), std::max<std::size_t>(1, n_refs)));
        if (in_index[k].duration_s < 6) continue;
        draws.emplace_back(k, rng.uniform(0, in_index[k].duration_s - 5.5));
      }
      std::sort(draws.begin(), draws.end());
      for (std::size_t q = 0; q < draws.size(); ++q) {
        const auto [k, start] = draws[q];
        if (k != last_file) {
          pcm = dsp::decode::decode_all(in_index[k].path.string(), dopt);
          last_file = k;
        }
        const auto a = std::min(pcm.size(), static_cast<std::size_t>(start * p.sample_rate));
        const auto b = std::min(pcm.size(), a + static_cast<std::size_t>(5 * p.sample_rate));
        std::vector<float> x(pcm.begin() + static_cast<std::ptrdiff_t>(a),
                             pcm.begin() + static_cast<std::ptrdiff_t>(b));
        if (q % 2) x = apply_condition(cond_noise, x, p.sample_rate, mix64(opt.seed, q), nullptr);
        const auto o = probe.run(x);
        lat.push_back(o.fingerprint_ms + o.match_ms);
        mlat.push_back(o.match_ms);
        post.push_back(static_cast<double>(o.postings));
      }
    }
    steps.push_back({in_index.size(), hours, ingest_total, static_cast<double>(st.bytes_used),
                     static_cast<double>(st.bytes_used) / std::max(hours, 1e-9),
                     percentile(lat, 0.5), percentile(lat, 0.99), percentile(mlat, 0.5),
                     percentile(mlat, 0.99), mean(post)});
    if (opt.verbose) {
      std::cerr << "  index " << in_index.size() << " tracks, " << format_fixed(hours, 2)
                << " h: query p50 " << format_fixed(steps.back().p50, 2) << " ms\n";
    }
  }
  if (opt.index_dir.empty()) fs::remove_all(dir, ec);

  const double xrt_index = audio_s / std::max(fp_index_s, 1e-9);
  const double xrt_query = audio_s / std::max(fp_query_s, 1e-9);
  const double xrt_decode = audio_s / std::max(fp_index_s + decode_s, 1e-9);
  const double ingest_h_per_h = hours / std::max(ingest_total / 3600, 1e-12);
  json j = {
      {"fingerprint",
       {{"audio_s", audio_s},
        {"xrt_index_side", xrt_index},
        {"xrt_query_side", xrt_query},
        {"xrt_index_side_with_decode", xrt_decode},
        {"decode_xrt", audio_s / std::max(decode_s, 1e-9)},
        {"index_hashes_per_s", static_cast<double>(index_hashes) / std::max(audio_s, 1e-9)},
        {"query_hashes_per_s", static_cast<double>(query_hashes) / std::max(audio_s, 1e-9)}}},
      {"ingest",
       {{"tracks", in_index.size()},
        {"hours", hours},
        {"wall_s", ingest_total},
        {"audio_hours_per_hour", ingest_h_per_h},
        {"tracks_per_s", static_cast<double>(in_index.size()) / std::max(ingest_total, 1e-9)}}},
      {"steps", json::array()},
      {"params", p.describe()},
      {"command", opt.command_line}};
  for (const auto& s : steps) {
    j["steps"].push_back({{"tracks", s.tracks},
                          {"hours", s.hours},
                          {"bytes_used", s.bytes_used},
                          {"bytes_per_hour", s.bytes_per_hour},
                          {"latency_ms_p50", s.p50},
                          {"latency_ms_p99", s.p99},
                          {"match_ms_p50", s.match_p50},
                          {"match_ms_p99", s.match_p99},
                          {"postings_mean", s.postings}});
  }
  std::ofstream(opt.out / "speed.json") << j.dump(2) << "\n";

  std::ostringstream md;
  md << "# aircheck eval speed\n\n`" << opt.command_line << "`\n\nOne thread; fingerprint `"
     << p.describe() << "`.\n\n| measure | value |\n|---|---:|\n"
     << "| audio measured | " << format_fixed(audio_s / 60) << " min |\n"
     << "| fingerprinting, index side | " << format_fixed(xrt_index, 0)
     << " × real time per core |\n"
     << "| fingerprinting, query side | " << format_fixed(xrt_query, 0)
     << " × real time per core |\n"
     << "| decode + resample + fingerprint (index side) | " << format_fixed(xrt_decode, 0)
     << " × real time per core |\n"
     << "| hashes per second of audio (index / query side) | "
     << format_fixed(static_cast<double>(index_hashes) / std::max(audio_s, 1e-9), 1) << " / "
     << format_fixed(static_cast<double>(query_hashes) / std::max(audio_s, 1e-9), 1) << " |\n"
     << "| ingest (decode, fingerprint, LMDB add) | " << format_fixed(ingest_h_per_h, 0)
     << " h of audio per hour, "
     << format_fixed(static_cast<double>(in_index.size()) / std::max(ingest_total, 1e-9), 2)
     << " tracks/s |\n\n"
     << "### Index growth and query latency (5 s queries, half clean, half white noise at 10 "
        "dB)\n\n"
     << "| tracks | hours | index MB used | MB per hour of audio | query p50 ms | p99 ms | "
        "match-only p50 ms | postings/query |\n"
     << "|---:|---:|---:|---:|---:|---:|---:|---:|\n";
  for (const auto& s : steps) {
    md << "| " << s.tracks << " | " << format_fixed(s.hours, 2) << " | "
       << format_fixed(s.bytes_used / 1e6, 1) << " | " << format_fixed(s.bytes_per_hour / 1e6, 1)
       << " | " << format_fixed(s.p50, 2) << " | " << format_fixed(s.p99, 2) << " | "
       << format_fixed(s.match_p50, 2) << " | " << format_fixed(s.postings, 0) << " |\n";
  }
  std::ofstream(opt.out / "speed.md") << md.str();
  if (opt.verbose) std::cerr << "wrote " << (opt.out / "speed.md").string() << "\n";
}

}  // namespace aircheck::eval
