#include "bench/eval/query_eval.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <limits>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <thread>

#include "bench/eval/degrade.h"
#include "bench/eval/indexing.h"
#include "bench/eval/param_overrides.h"
#include "bench/eval/plot.h"
#include "bench/eval/random.h"
#include "bench/eval/refs.h"
#include "bench/eval/speech.h"
#include "bench/eval/stats.h"
#include "dsp/decode/decoder.h"

extern "C" {
#include <libavutil/log.h>
}

namespace aircheck::eval {
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using json = nlohmann::json;

QueryProbe::QueryProbe(const dsp::Params& params, const matcher::MatchParams& mp,
                       const matcher::IdentifyOptions& io, store::Index& index)
    : id_(params, mp, io), reader_(index.reader()) {
  reader_->begin();
}

QueryProbe::~QueryProbe() { reader_->end(); }

QueryOutcome QueryProbe::run(std::span<const float> pcm) {
  const matcher::Identification& r = id_.identify(pcm, *reader_);
  QueryOutcome q;
  q.candidates = r.candidates;
  q.accepted = r.accepted;
  q.fingerprint_ms = r.fingerprint_ms;
  q.match_ms = r.match_ms;
  q.hashes = r.hashes;
  q.postings = r.postings;
  q.speed = r.candidates.empty() ? 1.0 : r.candidates.front().speed;
  q.tried = r.tried;
  q.screened = r.screened;
  q.verified = r.verified;
  return q;
}

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

struct Excerpt {
  std::size_t ref = 0;  // index into the reference (or negative) list
  double start_s = 0;
  std::size_t length = 0;  // index into opt.lengths
};

struct Result {
  uint32_t best_track = 0;   // best candidate (for queries.tsv)
  double best_offset = 0;    // in frames, to a fraction of one
  double best_speed = kNaN;  // the best candidate's measured speed
  double true_offset = 0;
  int rank = 0;                 // 1-based rank of the first correct candidate, 0 if none
  bool accepted = false;        // best candidate passes the decision rule
  bool top1_track = false;      // best candidate names the right track (any offset)
  double offset_err_ms = kNaN;  // of the correct candidate
  double votes = 0;             // of the best candidate
  double confidence = 0;        // of the best candidate
  double latency_ms = 0;        // fingerprint + match
  double match_ms = 0;
  double postings = 0;
  double hashes = 0;
  double speed_err_pct = kNaN;  // of the best candidate when it is correct: |est - true| / true
  double tried = 1;             // speed hypotheses tried
  double screened = 0;          // speeds screened
  int verified = 0;             // repeats weighed at every frame phase (0: none)
  // When the best candidate names the right track at another offset (a repeat): how close the
  // reference's audio there is to the true passage, in dB (repeat_similarity_db).
  double repeat_db = kNaN;
  bool repeat_checked = false;  // a positive at normal speed: repeat_db is measured on a miss
  bool done = false;
};

// Draws opt.n excerpts per length from `refs`: (track, start), seeded by (seed, length, i)
// only, so adding lengths or conditions leaves the other draws unchanged.
std::vector<Excerpt> draw(const std::vector<RefTrack>& refs, const std::vector<double>& lengths,
                          int n, uint64_t seed, double factor, uint64_t salt) {
  std::vector<Excerpt> out;
  for (std::size_t li = 0; li < lengths.size(); ++li) {
    const double need = lengths[li] * factor + 0.25;
    for (int i = 0; i < n; ++i) {
      Rng rng(
          mix64(mix64(seed, salt), mix64(static_cast<uint64_t>(std::llround(lengths[li] * 1000)),
                                         static_cast<uint64_t>(i))));
      for (int tries = 0; tries < 10000; ++tries) {
        const std::size_t k = rng.below(refs.size());
        if (refs[k].duration_s < need) continue;
        out.push_back({k, rng.uniform(0, refs[k].duration_s - need), li});
        break;
      }
    }
  }
  return out;
}

std::vector<float> cut(const std::vector<float>& pcm, double start_s, double len_s) {
  const auto a = std::min(pcm.size(), static_cast<std::size_t>(std::llround(start_s * kEvalRate)));
  const auto b =
      std::min(pcm.size(), a + static_cast<std::size_t>(std::llround(len_s * kEvalRate)));
  return {pcm.begin() + static_cast<std::ptrdiff_t>(a),
          pcm.begin() + static_cast<std::ptrdiff_t>(b)};
}

std::string pct(double v) {
  if (std::isnan(v)) return "–";
  char b[16];
  std::snprintf(b, sizeof b, "%.1f", 100 * v);
  return b;
}

json jnum(double v) { return std::isnan(v) ? json(nullptr) : json(v); }

std::string len_label(double l) {
  std::ostringstream s;
  s << l << " s";
  return s.str();
}

struct CellStats {
  std::size_t n = 0;
  double top1 = kNaN, top5 = kNaN, mrr = kNaN, detected = kNaN, top1_track = kNaN;
  /// Top-1, where an answer at a repeat holding the true passage's very samples (a loop that
  /// copies them) counts as right: no fingerprint can tell such repeats apart.
  double top1_same = kNaN;
  double offset_p50 = kNaN, postings = kNaN, hashes = kNaN, votes_p50 = kNaN, latency_p50 = kNaN;
  double speed_err_p50 = kNaN, speed_err_p95 = kNaN, tried = kNaN;
  double screened = kNaN;  ///< speeds screened per query (mean)
  double verified = kNaN;  ///< share of queries whose repeats were weighed
  /// Misses answered at another offset of the right track (normal speed), and how many of
  /// those repeats are near copies of the true passage (kNearCopyDb or closer).
  std::size_t repeat_misses = 0, near_copies = 0, same_samples = 0;
  bool repeat_checked = false;  // false: speed or tempo changed, not measured
  std::vector<double> cmc;      // k = 1..5
};

/// A repeat whose audio matches the true passage's to this many dB or more is a near copy
/// (repeat_similarity_db): they differ by 1 % of their energy or less.
constexpr double kNearCopyDb = 20.0;
/// ... and holds the same samples at this many dB or more (a loop's copies measure 99, the
/// cap; the most alike varied repeat among the development corpus's misses, 50).
constexpr double kSameSamplesDb = 60.0;

CellStats cell_stats(const std::vector<const Result*>& rs) {
  CellStats c;
  c.n = rs.size();
  if (rs.empty()) return c;
  double t1 = 0, t5 = 0, rr = 0, det = 0, trk = 0;
  std::vector<double> off, post, hs, votes, lat, speed_err, tried, screened, verified;
  c.cmc.assign(5, 0.0);
  for (const auto* r : rs) {
    if (r->rank == 1) {
      ++t1;
      off.push_back(r->offset_err_ms);
      votes.push_back(r->votes);
      speed_err.push_back(r->speed_err_pct);
      if (r->accepted) ++det;
    }
    if (r->rank >= 1 && r->rank <= 5) ++t5;
    for (int k = 1; k <= 5; ++k) {
      if (r->rank >= 1 && r->rank <= k) c.cmc[static_cast<std::size_t>(k - 1)] += 1;
    }
    if (r->rank >= 1) rr += 1.0 / r->rank;
    if (r->top1_track) ++trk;
    c.repeat_checked |= r->repeat_checked;
    if (r->rank != 1 && !std::isnan(r->repeat_db)) {
      ++c.repeat_misses;
      c.near_copies += r->repeat_db >= kNearCopyDb;
      c.same_samples += r->repeat_db >= kSameSamplesDb;
    }
    post.push_back(r->postings);
    hs.push_back(r->hashes);
    lat.push_back(r->latency_ms);
    tried.push_back(r->tried);
    screened.push_back(r->screened);
    verified.push_back(r->verified > 0 ? 1.0 : 0.0);
  }
  const auto n = static_cast<double>(rs.size());
  c.top1 = t1 / n;
  c.top1_same = (t1 + static_cast<double>(c.same_samples)) / n;
  c.top5 = t5 / n;
  c.mrr = rr / n;
  c.detected = det / n;
  c.top1_track = trk / n;
  for (auto& v : c.cmc) v /= n;
  c.offset_p50 = percentile(off, 0.5);
  c.votes_p50 = percentile(votes, 0.5);
  c.speed_err_p50 = percentile(speed_err, 0.5);
  c.speed_err_p95 = percentile(speed_err, 0.95);
  c.tried = mean(tried);
  c.screened = mean(screened);
  c.verified = mean(verified);
  c.postings = mean(post);
  c.hashes = mean(hs);
  c.latency_p50 = percentile(lat, 0.5);
  return c;
}

// The literature's landmark-method top-1 rates (1000 songs, white noise), in %.
struct LitCell {
  double length, snr, top1;
};
constexpr LitCell kLiterature[] = {{2, 20, 43},  {2, 10, 30},  {2, 0, 15},
                                   {5, 20, 89},  {5, 10, 83},  {5, 0, 62},
                                   {10, 20, 97}, {10, 10, 96}, {10, 0, 89}};

}  // namespace

void run_query_eval(const QueryEvalOptions& opt) {
  if (opt.conditions.empty()) throw std::invalid_argument("eval queries: no conditions");
  if (opt.lengths.empty()) throw std::invalid_argument("eval queries: no lengths");
  if (opt.n <= 0) throw std::invalid_argument("eval queries: --n must be positive");
  const int threads = opt.threads > 0
                          ? opt.threads
                          : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  fs::create_directories(opt.out);
  av_log_set_level(AV_LOG_ERROR);  // the encoders' statistics lines would drown the progress
  const auto t_start = Clock::now();

  const auto refs = list_refs(opt.refs_dir);
  std::vector<RefTrack> negs;
  for (const auto& d : opt.negatives) {
    auto v = list_refs(d);
    negs.insert(negs.end(), v.begin(), v.end());
  }
  IndexedRefs indexed;
  try {
    indexed = ensure_indexed(opt.index_dir, refs, opt.params, threads, opt.verbose);
  } catch (const store::FormatMismatchError& e) {
    std::string set;
    for (const auto& o : opt.overrides) set += " " + o;
    throw store::FormatMismatchError(
        "eval queries: the index in " + opt.index_dir.string() +
        " was built with other fingerprint parameters than this run's" +
        (set.empty() ? std::string(" (the defaults)") : " (--set" + set + ")") +
        "; give every parameter set its own --index folder (a new one is created and filled "
        "from --refs). " +
        e.what());
  }
  store::Index& index = *indexed.index;

  double factor = 1.1;
  for (const auto& c : opt.conditions) {
    factor = std::max(factor, c.source_factor());
  }
  const int speech_n = opt.speech_negatives >= 0 ? opt.speech_negatives : std::max(10, opt.n / 4);
  const auto speech = SpeechPool::make(kEvalRate, mix64(opt.seed, 0x5BEEC4), 8, 25);

  const auto pos = draw(refs, opt.lengths, opt.n, opt.seed, factor, 0x9051);
  const auto neg =
      negs.empty() ? std::vector<Excerpt>{} : draw(negs, opt.lengths, opt.n, opt.seed, 1.0, 0x4e6);
  const std::size_t nc = opt.conditions.size();
  std::vector<Result> results(pos.size() * nc);
  std::vector<Result> neg_results(neg.size());

  // Work items: one per source file (decoded once), positives then negatives.
  struct Item {
    bool negative;
    std::size_t file;
    std::vector<std::size_t> excerpts;
  };
  std::vector<Item> items;
  {
    std::map<std::size_t, std::vector<std::size_t>> by_ref, by_neg;
    for (std::size_t e = 0; e < pos.size(); ++e) by_ref[pos[e].ref].push_back(e);
    for (std::size_t e = 0; e < neg.size(); ++e) by_neg[neg[e].ref].push_back(e);
    for (auto& [f, ex] : by_ref) items.push_back({false, f, std::move(ex)});
    for (auto& [f, ex] : by_neg) items.push_back({true, f, std::move(ex)});
  }
  if (opt.verbose) {
    std::cerr << "eval queries: " << refs.size() << " refs, " << pos.size() << " excerpts x " << nc
              << " conditions, " << neg.size() << " negative excerpts, "
              << speech_n * opt.lengths.size() << " speech negatives, " << threads
              << " thread(s), speech from " << (speech.espeak() ? "espeak-ng" : "synth_babble")
              << "\n";
  }

  const double frame_ms = opt.params.frame_seconds() * 1000;
  const double fp_rate = opt.params.sample_rate;
  std::atomic<std::size_t> next{0};
  std::atomic<std::size_t> done_items{0};
  std::mutex err_mu;
  std::string first_error;

  auto score = [&](const QueryOutcome& q, uint32_t track, double true_off, double drift,
                   double true_speed, Result& r) {
    const double lo = true_off + std::min(0.0, drift), hi = true_off + std::max(0.0, drift);
    for (std::size_t k = 0; k < q.candidates.size(); ++k) {
      const auto& c = q.candidates[k];
      if (c.track != track) continue;
      const double off = c.exact_offset();
      const double dist = off < lo ? lo - off : (off > hi ? off - hi : 0.0);
      if (dist <= 1.0) {
        r.rank = static_cast<int>(k + 1);
        r.offset_err_ms = dist * frame_ms;
        r.speed_err_pct = 100 * std::abs(c.speed - true_speed) / true_speed;
        break;
      }
    }
    r.true_offset = true_off;
    if (!q.candidates.empty()) {
      r.best_track = q.candidates.front().track;
      r.best_offset = q.candidates.front().exact_offset();
      r.best_speed = q.candidates.front().speed;
      r.top1_track = q.candidates.front().track == track;
      r.votes = q.candidates.front().votes;
      r.confidence = q.candidates.front().confidence;
    }
    r.accepted = q.accepted;
    r.latency_ms = q.fingerprint_ms + q.match_ms;
    r.tried = q.tried;
    r.screened = q.screened;
    r.verified = q.verified;
    r.match_ms = q.match_ms;
    r.postings = static_cast<double>(q.postings);
    r.hashes = static_cast<double>(q.hashes);
    r.done = true;
  };

  auto worker = [&] {
    try {
      QueryProbe probe(opt.params, opt.match, opt.identify, index);
      dsp::decode::OpenOptions dopt;
      dopt.sample_rate = kEvalRate;
      for (;;) {
        const std::size_t it = next.fetch_add(1);
        if (it >= items.size()) break;
        const auto& item = items[it];
        const auto& file = item.negative ? negs[item.file] : refs[item.file];
        const auto pcm = dsp::decode::decode_all(file.path.string(), dopt);
        std::vector<float> pcm_fp;  // the same at the fingerprint rate, made when needed
        for (const std::size_t e : item.excerpts) {
          if (item.negative) {
            const auto& ex = neg[e];
            const auto x = cut(pcm, ex.start_s, opt.lengths[ex.length]);
            const auto q = probe.run(resample(x, kEvalRate, opt.params.sample_rate));
            score(q, std::numeric_limits<uint32_t>::max(), 0, 0, 1, neg_results[e]);
            continue;
          }
          const auto& ex = pos[e];
          const double len = opt.lengths[ex.length];
          const double start_samples = std::round(ex.start_s * kEvalRate);
          const double true_off = start_samples / kEvalRate * fp_rate / opt.params.hop;
          for (std::size_t ci = 0; ci < nc; ++ci) {
            const auto& cond = opt.conditions[ci];
            const double f = cond.source_factor();
            const auto src = cut(pcm, ex.start_s, len * f);
            const uint64_t seed = mix64(mix64(opt.seed, e), ci);
            // White noise is added at the fingerprint rate, so the SNR holds in the band the
            // fingerprinter sees (noise added at 44.1 kHz would lose ~80 % of its power there).
            const bool late = cond.kind == Condition::Kind::white;
            const auto y = late ? std::vector<float>(src.begin(), src.end())
                                : apply_condition(cond, src, kEvalRate, seed, &speech);
            auto z = resample(y, kEvalRate, opt.params.sample_rate);
            if (late) z = apply_condition(cond, z, opt.params.sample_rate, seed, &speech);
            const double q_frames = static_cast<double>(z.size()) / opt.params.hop;
            const auto q = probe.run(z);
            Result& r = results[e * nc + ci];
            score(q, indexed.ids[ex.ref], true_off, q_frames * (f - 1), f, r);
            r.repeat_checked = f == 1.0;
            // Answered at another offset of the right track, at normal speed: how close is the
            // reference there to the true passage?
            if (f == 1.0 && r.rank != 1 && r.top1_track &&
                std::abs(r.best_offset - true_off) > 1.0) {
              // Both cut from the whole reference at the fingerprint rate, so that a loop
              // repeating the same samples lines up to the sample.
              if (pcm_fp.empty()) pcm_fp = resample(pcm, kEvalRate, opt.params.sample_rate);
              const auto n = static_cast<std::size_t>(std::llround(len * fp_rate));
              const auto a = static_cast<std::size_t>(std::llround(ex.start_s * fp_rate));
              const auto b = static_cast<int64_t>(std::llround(r.best_offset * opt.params.hop));
              if (b >= 0 && a + n <= pcm_fp.size() &&
                  static_cast<std::size_t>(b) + n <= pcm_fp.size()) {
                r.repeat_db = repeat_similarity_db(
                    std::span<const float>(pcm_fp).subspan(a, n),
                    std::span<const float>(pcm_fp).subspan(static_cast<std::size_t>(b), n),
                    opt.params.hop / 2);
              }
            }
          }
        }
        const auto d = done_items.fetch_add(1) + 1;
        if (opt.verbose && (d % 20 == 0 || d == items.size())) {
          std::cerr << "  " << d << "/" << items.size() << " files\n";
        }
      }
    } catch (const std::exception& e) {
      std::lock_guard lock(err_mu);
      if (first_error.empty()) first_error = e.what();
      next = items.size();
    }
  };
  {
    std::vector<std::thread> pool;
    for (int k = 0; k < threads; ++k) pool.emplace_back(worker);
    for (auto& t : pool) t.join();
  }
  if (!first_error.empty()) throw std::runtime_error("eval queries: " + first_error);

  // Speech negatives (generated speech is never indexed).
  std::vector<Result> speech_results;
  std::vector<std::size_t> speech_len;
  {
    QueryProbe probe(opt.params, opt.match, opt.identify, index);
    for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
      for (int i = 0; i < speech_n; ++i) {
        const auto n = static_cast<std::size_t>(opt.lengths[li] * kEvalRate);
        const auto x =
            speech.excerpt(mix64(mix64(opt.seed, 0x5e), mix64(li, static_cast<uint64_t>(i))), n);
        const auto q = probe.run(resample(x, kEvalRate, opt.params.sample_rate));
        Result r;
        score(q, std::numeric_limits<uint32_t>::max(), 0, 0, 1, r);
        speech_results.push_back(r);
        speech_len.push_back(li);
      }
    }
  }

  // ---- aggregate ----
  std::vector<std::vector<CellStats>> cells(opt.lengths.size(), std::vector<CellStats>(nc));
  std::vector<CellStats> by_length(opt.lengths.size());
  for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
    std::vector<const Result*> all;
    for (std::size_t ci = 0; ci < nc; ++ci) {
      std::vector<const Result*> rs;
      for (std::size_t e = 0; e < pos.size(); ++e) {
        if (pos[e].length == li) rs.push_back(&results[e * nc + ci]);
      }
      cells[li][ci] = cell_stats(rs);
      all.insert(all.end(), rs.begin(), rs.end());
    }
    by_length[li] = cell_stats(all);
  }
  std::vector<double> lat, mlat;
  for (const auto& r : results) {
    lat.push_back(r.latency_ms);
    mlat.push_back(r.match_ms);
  }
  struct NegStats {
    std::size_t n = 0, false_matches = 0;
    std::vector<double> conf, votes;
    double rate() const {
      return n ? static_cast<double>(false_matches) / static_cast<double>(n) : kNaN;
    }
  };
  NegStats neg_all, neg_music, neg_speech;
  std::vector<NegStats> neg_len(opt.lengths.size());
  auto add_neg = [](NegStats& s, const Result& r) {
    ++s.n;
    if (r.accepted) ++s.false_matches;
    s.conf.push_back(r.confidence);
    s.votes.push_back(r.votes);
  };
  for (std::size_t e = 0; e < neg.size(); ++e) {
    add_neg(neg_all, neg_results[e]);
    add_neg(neg_music, neg_results[e]);
    add_neg(neg_len[neg[e].length], neg_results[e]);
  }
  for (std::size_t i = 0; i < speech_results.size(); ++i) {
    add_neg(neg_all, speech_results[i]);
    add_neg(neg_speech, speech_results[i]);
    add_neg(neg_len[speech_len[i]], speech_results[i]);
  }
  const double wall_s = std::chrono::duration<double>(Clock::now() - t_start).count();

  // ---- JSON ----
  json j;
  j["cells"] = json::array();
  for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
    for (std::size_t ci = 0; ci < nc; ++ci) {
      const auto& c = cells[li][ci];
      j["cells"].push_back(
          {{"length_s", opt.lengths[li]},
           {"condition", opt.conditions[ci].text},
           {"n", c.n},
           {"top1", jnum(c.top1)},
           {"top5", jnum(c.top5)},
           {"mrr", jnum(c.mrr)},
           {"offset_err_ms_p50", jnum(c.offset_p50)},
           {"detected", jnum(c.detected)},
           {"top1_track", jnum(c.top1_track)},
           {"votes_p50", jnum(c.votes_p50)},
           {"postings_mean", jnum(c.postings)},
           {"hashes_mean", jnum(c.hashes)},
           {"latency_ms_p50", jnum(c.latency_p50)},
           {"speed_err_pct_p50", jnum(c.speed_err_p50)},
           {"speed_err_pct_p95", jnum(c.speed_err_p95)},
           {"hypotheses_mean", jnum(c.tried)},
           {"screened_mean", jnum(c.screened)},
           {"repeats_weighed", jnum(c.verified)},
           {"repeat_misses", c.repeat_checked ? json(c.repeat_misses) : json()},
           {"near_copy_misses", c.repeat_checked ? json(c.near_copies) : json()},
           {"same_sample_misses", c.repeat_checked ? json(c.same_samples) : json()},
           {"top1_same_samples", c.repeat_checked ? jnum(c.top1_same) : json()}});
    }
  }
  j["negatives"] = {
      {"n", neg_all.n},
      {"false_match_rate", jnum(neg_all.rate())},
      {"false_matches", neg_all.false_matches},
      {"music", {{"n", neg_music.n}, {"false_match_rate", jnum(neg_music.rate())}}},
      {"speech", {{"n", neg_speech.n}, {"false_match_rate", jnum(neg_speech.rate())}}},
      {"confidence_p99", jnum(percentile(neg_all.conf, 0.99))},
      {"votes_p99", jnum(percentile(neg_all.votes, 0.99))},
      {"by_length", json::array()}};
  for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
    j["negatives"]["by_length"].push_back({{"length_s", opt.lengths[li]},
                                           {"n", neg_len[li].n},
                                           {"false_match_rate", jnum(neg_len[li].rate())}});
  }
  j["latency_ms"] = {{"p50", jnum(percentile(lat, 0.5))},
                     {"p99", jnum(percentile(lat, 0.99))},
                     {"match_p50", jnum(percentile(mlat, 0.5))},
                     {"match_p99", jnum(percentile(mlat, 0.99))}};
  j["cmc"] = json::array();
  for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
    j["cmc"].push_back({{"length_s", opt.lengths[li]}, {"top_k", by_length[li].cmc}});
  }
  double ref_hours = 0;
  for (const auto& r : refs) ref_hours += r.duration_s / 3600;
  const store::Stats istats = index.stats();
  std::string overrides;
  for (const auto& o : opt.overrides) overrides += (overrides.empty() ? "" : " ") + o;
  const double index_hours = istats.seconds / 3600;
  const double bytes_per_hour =
      index_hours > 0 ? static_cast<double>(istats.bytes_used) / index_hours : kNaN;
  j["index"] = {
      {"tracks", istats.tracks},
      {"hours", index_hours},
      {"postings", istats.postings},
      {"distinct_hashes", istats.distinct_hashes},
      {"bytes_used", istats.bytes_used},
      {"bytes_on_disk", istats.bytes_on_disk},
      {"bytes_used_per_hour", jnum(bytes_per_hour)},
      {"postings_per_hour",
       jnum(index_hours > 0 ? static_cast<double>(istats.postings) / index_hours : kNaN)}};
  j["setup"] = {{"seed", opt.seed},
                {"n", opt.n},
                {"refs", refs.size()},
                {"refs_hours", ref_hours},
                {"negative_files", negs.size()},
                {"index_tracks", istats.tracks},
                {"indexed_now", indexed.added},
                {"params", opt.params.describe()},
                {"params_query_side", describe_query_side(opt.params)},
                {"overrides", opt.overrides},
                {"min_votes", opt.match.min_votes},
                {"min_confidence", opt.match.min_confidence},
                {"speech", speech.espeak() ? "espeak-ng" : "synth_babble"},
                {"threads", threads},
                {"wall_s", wall_s},
                {"command", opt.command_line}};
  {
    std::ofstream f(opt.out / "report.json");
    f << j.dump(2) << "\n";
    if (!f) throw std::runtime_error((opt.out / "report.json").string() + ": write failed");
  }

  if (opt.details) {
    std::ofstream f(opt.out / "queries.tsv");
    f << "length_s\tcondition\tref\tstart_s\ttrack\ttrue_offset\trank\taccepted\tbest_track\tbest_"
         "offset\tvotes"
         "\tconfidence\thashes\tpostings\tlatency_ms\tspeed_err_"
         "pct\thypotheses\tscreened\tverified\trepeat_similarity_db\tbest_speed\n";
    for (std::size_t e = 0; e < pos.size(); ++e) {
      for (std::size_t ci = 0; ci < nc; ++ci) {
        const auto& r = results[e * nc + ci];
        f << opt.lengths[pos[e].length] << "\t" << opt.conditions[ci].text << "\t"
          << refs[pos[e].ref].id << "\t" << pos[e].start_s << "\t" << indexed.ids[pos[e].ref]
          << "\t" << r.true_offset << "\t" << r.rank << "\t" << r.accepted << "\t" << r.best_track
          << "\t" << r.best_offset << "\t" << r.votes << "\t" << r.confidence << "\t" << r.hashes
          << "\t" << r.postings << "\t" << r.latency_ms << "\t" << r.speed_err_pct << "\t"
          << r.tried << "\t" << r.screened << "\t" << r.verified << "\t";
        if (std::isnan(r.repeat_db)) {
          f << "-";
        } else {
          f << std::round(r.repeat_db * 10) / 10;
        }
        f << "\t" << r.best_speed << "\n";
      }
    }
    for (std::size_t e = 0; e < neg.size(); ++e) {
      const auto& r = neg_results[e];
      f << opt.lengths[neg[e].length] << "\tnegative\t" << negs[neg[e].ref].id << "\t"
        << neg[e].start_s << "\t-\t-\t-\t" << r.accepted << "\t" << r.best_track << "\t"
        << r.best_offset << "\t" << r.votes << "\t" << r.confidence << "\t" << r.hashes << "\t"
        << r.postings << "\t" << r.latency_ms << "\t" << r.speed_err_pct << "\t" << r.tried << "\t"
        << r.screened << "\t" << r.verified << "\t-\t" << r.best_speed << "\n";
    }
    for (std::size_t i = 0; i < speech_results.size(); ++i) {
      const auto& r = speech_results[i];
      f << opt.lengths[speech_len[i]] << "\tspeech\tspeech\t-\t-\t-\t-\t" << r.accepted << "\t"
        << r.best_track << "\t" << r.best_offset << "\t" << r.votes << "\t" << r.confidence << "\t"
        << r.hashes << "\t" << r.postings << "\t" << r.latency_ms << "\t" << r.speed_err_pct << "\t"
        << r.tried << "\t" << r.screened << "\t" << r.verified << "\t-\t" << r.best_speed << "\n";
    }
  }

  // ---- Markdown ----
  std::ostringstream md;
  md << "# aircheck eval queries\n\n"
     << "`" << opt.command_line << "`\n\n"
     << "- references: " << refs.size() << " files, " << format_fixed(ref_hours, 2) << " h ("
     << opt.refs_dir.string() << ")\n"
     << "- negatives: " << negs.size() << " files, " << neg_music.n << " music excerpts + "
     << neg_speech.n << " speech excerpts (" << (speech.espeak() ? "espeak-ng" : "synth_babble")
     << ")\n"
     << "- seed " << opt.seed << ", n = " << opt.n
     << " excerpts per cell (the same excerpts for every condition)\n"
     << "- fingerprint: `" << opt.params.describe() << "`; query side: `"
     << describe_query_side(opt.params) << "`"
     << (overrides.empty() ? std::string(" (defaults)") : " (set: `" + overrides + "`)") << "\n"
     << "- index: " << istats.tracks << " tracks, " << format_fixed(index_hours, 2) << " h, "
     << istats.postings << " postings, "
     << format_fixed(static_cast<double>(istats.bytes_used) / 1e6, 1) << " MB used ("
     << format_fixed(bytes_per_hour / 1e6, 2) << " MB per hour of audio)\n"
     << "- decision: min_votes " << opt.match.min_votes << ", min_confidence "
     << opt.match.min_confidence << "\n"
     << "- " << threads << " thread(s), " << format_fixed(wall_s, 0) << " s wall\n\n";
  auto table = [&](const char* title, auto value) {
    md << "### " << title << "\n\n| condition |";
    for (double l : opt.lengths) md << " " << len_label(l) << " |";
    md << "\n|---|";
    for (std::size_t i = 0; i < opt.lengths.size(); ++i) md << "---:|";
    md << "\n";
    for (std::size_t ci = 0; ci < nc; ++ci) {
      md << "| " << opt.conditions[ci].text << " |";
      for (std::size_t li = 0; li < opt.lengths.size(); ++li)
        md << " " << value(cells[li][ci]) << " |";
      md << "\n";
    }
    md << "\n";
  };
  table("Top-1 accuracy (%)", [](const CellStats& c) { return pct(c.top1); });
  table(
      "Top-1, an answer at a repeat with the true passage's very samples counted as right "
      "(repeat_similarity_db >= 60; normal speed only) (%)",
      [](const CellStats& c) { return c.repeat_checked ? pct(c.top1_same) : std::string("–"); });
  table("Top-1, track only (offset ignored; tracks that loop repeat their audio) (%)",
        [](const CellStats& c) { return pct(c.top1_track); });
  table("Top-5 accuracy (%)", [](const CellStats& c) { return pct(c.top5); });
  table("Mean reciprocal rank", [](const CellStats& c) { return format_fixed(c.mrr, 3); });
  table("Detected: top-1 correct and accepted by the decision rule (%)",
        [](const CellStats& c) { return pct(c.detected); });
  table("Offset error of correct matches, p50 (ms)",
        [](const CellStats& c) { return format_fixed(c.offset_p50, 1); });
  table("Matcher work: postings read per query (mean)",
        [](const CellStats& c) { return format_fixed(c.postings, 0); });
  table("Speed hypotheses tried per query (mean; 1 = decided at normal speed)",
        [](const CellStats& c) { return format_fixed(c.tried, 2); });
  table("Speeds screened per query (mean; rescaled hashes, not full passes)",
        [](const CellStats& c) { return format_fixed(c.screened, 2); });
  table("Queries whose repeats were weighed at every frame phase (%)",
        [](const CellStats& c) { return pct(c.verified); });
  table(
      "Misses at another repeat of the right track (of which near copies of the true passage, "
      "repeat_similarity_db >= 20, and the same samples, >= 60; normal speed only)",
      [](const CellStats& c) {
        if (!c.repeat_checked) return std::string("–");
        return std::to_string(c.repeat_misses) + " (" + std::to_string(c.near_copies) + ", " +
               std::to_string(c.same_samples) + ")";
      });
  table("Speed estimate error of correct matches, p50 / p95 (% of the true speed)",
        [](const CellStats& c) {
          return format_fixed(c.speed_err_p50, 2) + " / " + format_fixed(c.speed_err_p95, 2);
        });

  md << "### Beside the literature (landmark method, 1000 songs, top-1 %, white noise)\n\n"
     << "| length | SNR | literature | aircheck (track + offset) | same samples counted | "
        "aircheck (track only) |\n|---|---:|---:|---:|---:|---:|\n";
  for (const auto& lc : kLiterature) {
    std::string ours = "not run", ours_same = "not run", ours_track = "not run";
    for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
      if (std::fabs(opt.lengths[li] - lc.length) > 1e-9) continue;
      for (std::size_t ci = 0; ci < nc; ++ci) {
        const auto& c = opt.conditions[ci];
        if (c.kind == Condition::Kind::white && std::fabs(c.value - lc.snr) < 1e-9) {
          ours = pct(cells[li][ci].top1);
          ours_same = pct(cells[li][ci].top1_same);
          ours_track = pct(cells[li][ci].top1_track);
        }
      }
    }
    md << "| " << lc.length << " s | " << lc.snr << " dB | " << lc.top1 << " | " << ours << " | "
       << ours_same << " | " << ours_track << " |\n";
  }
  md << "\nOur reference set is " << refs.size()
     << " tracks, not 1000: fewer distractors make top-1 "
     << "easier, so compare trends, not single cells.\n\n";

  md << "### False matches on audio not in the index\n\n| length | n | false-match rate (%) "
        "|\n|---|---:|---:|\n";
  for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
    md << "| " << len_label(opt.lengths[li]) << " | " << neg_len[li].n << " | "
       << pct(neg_len[li].rate()) << " |\n";
  }
  md << "| all music | " << neg_music.n << " | " << pct(neg_music.rate()) << " |\n"
     << "| all speech | " << neg_speech.n << " | " << pct(neg_speech.rate()) << " |\n"
     << "| **all** | " << neg_all.n << " | " << pct(neg_all.rate()) << " |\n\n"
     << "Best candidate on negatives: confidence p99 "
     << format_fixed(percentile(neg_all.conf, 0.99), 3) << ", votes p99 "
     << format_fixed(percentile(neg_all.votes, 0.99), 0) << ".\n\n";

  md << "### Query latency (fingerprint + match, one thread)\n\n| length | p50 ms | p99 ms | "
        "match-only p50 ms |\n"
     << "|---|---:|---:|---:|\n";
  for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
    std::vector<double> l, m;
    for (std::size_t e = 0; e < pos.size(); ++e) {
      if (pos[e].length != li) continue;
      for (std::size_t ci = 0; ci < nc; ++ci) {
        l.push_back(results[e * nc + ci].latency_ms);
        m.push_back(results[e * nc + ci].match_ms);
      }
    }
    md << "| " << len_label(opt.lengths[li]) << " | " << format_fixed(percentile(l, 0.5), 2)
       << " | " << format_fixed(percentile(l, 0.99), 2) << " | "
       << format_fixed(percentile(m, 0.5), 2) << " |\n";
  }
  md << "| all | " << format_fixed(percentile(lat, 0.5), 2) << " | "
     << format_fixed(percentile(lat, 0.99), 2) << " | " << format_fixed(percentile(mlat, 0.5), 2)
     << " |\n";
  {
    // Audio that matches nothing tries every speed hypothesis: the costliest queries.
    std::vector<double> l, m;
    for (const auto* v : {&neg_results, &speech_results}) {
      for (const Result& r : *v) {
        l.push_back(r.latency_ms);
        m.push_back(r.match_ms);
      }
    }
    md << "| negatives (all lengths) | " << format_fixed(percentile(l, 0.5), 2) << " | "
       << format_fixed(percentile(l, 0.99), 2) << " | " << format_fixed(percentile(m, 0.5), 2)
       << " |\n";
  }
  md << "\n";

  md << "### How to read this\n\n"
     << "- An excerpt (track, start) is drawn per length from the seed; every condition degrades "
        "the same "
        "excerpts, so rows are paired. Excerpts are cut at 44.1 kHz, degraded, then resampled to "
        "the "
        "fingerprint rate. The noise and speech a condition adds are drawn from the seed, the "
        "excerpt and the condition's place in `--conditions`: runs compare query by query only "
        "with the same list.\n"
     << "- **Correct** = right track and offset (reference frame of query t = 0) within ±1 frame ("
     << format_fixed(frame_ms, 0)
     << " ms). For speed/tempo conditions the alignment drifts by (ratio − 1) × query length over "
        "the "
        "excerpt, so any offset within that drift range ±1 frame counts; the offset error is the "
        "distance to that range.\n"
     << "- **Top-k**: a correct candidate among the first k ranked (no threshold). **Detected**: "
        "the "
        "top-1 is correct *and* passes the decision rule, what a monitor would report. **MRR**: "
        "mean of "
        "1/rank (0 when absent from the top 5).\n"
     << "- **False-match rate**: fraction of negative excerpts (music not indexed, generated "
        "speech) "
        "whose best candidate passes the decision rule.\n"
     << "- White Gaussian noise is added after resampling to the fingerprint rate, with the SNR "
        "measured "
        "on each excerpt itself at that rate (0 to Nyquist). Codecs: FFmpeg's libmp3lame / "
        "aac at the given kbit/s, delay removed. speed: resampling (tempo and pitch). tempo: "
        "libavfilter "
        "atempo (pitch kept). band:tel 300–3400 Hz, band:am 100–4500 Hz Butterworth. compress: 4:1 "
        "feed-forward above RMS − 12 dB, 5/120 ms. reverb: exponentially decaying noise room, RT60 "
        "0.6 s. "
        "speech:-6: speech 6 dB below the music.\n\n"
     << "Plots: `accuracy_vs_snr.png`, `accuracy_vs_speed.png`, `cmc.png`.\n";
  {
    std::ofstream f(opt.out / "report.md");
    f << md.str();
    if (!f) throw std::runtime_error((opt.out / "report.md").string() + ": write failed");
  }

  // ---- plots ----
  if (!opt.plots) return;
  {
    std::vector<PlotSeries> ss;
    double max_snr = -1e9;
    bool have_clean = false;
    for (const auto& c : opt.conditions) {
      if (c.kind == Condition::Kind::white) max_snr = std::max(max_snr, c.value);
      have_clean |= c.kind == Condition::Kind::clean;
    }
    const double clean_x = max_snr + 10;
    PlotSpec spec{"Top-1 accuracy vs SNR (white noise)", "SNR (dB)", "top-1 (%)", 0, 100, {}};
    for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
      PlotSeries s{len_label(opt.lengths[li]), {}, false};
      for (std::size_t ci = 0; ci < nc; ++ci) {
        const auto& c = opt.conditions[ci];
        if (c.kind == Condition::Kind::white)
          s.points.emplace_back(c.value, 100 * cells[li][ci].top1);
      }
      std::sort(s.points.begin(), s.points.end());
      for (std::size_t ci = 0; ci < nc; ++ci) {
        if (opt.conditions[ci].kind == Condition::Kind::clean && !s.points.empty())
          s.points.emplace_back(clean_x, 100 * cells[li][ci].top1);
      }
      if (!s.points.empty()) ss.push_back(std::move(s));
    }
    for (const auto& c : opt.conditions) {
      if (c.kind == Condition::Kind::white)
        spec.xtics.emplace_back(c.value, format_fixed(c.value, 0));
    }
    if (have_clean && !ss.empty()) spec.xtics.emplace_back(clean_x, "clean");
    if (!ss.empty()) plot_lines(opt.out / "accuracy_vs_snr.png", spec, ss);
  }
  {
    std::vector<PlotSeries> ss;
    for (auto kind : {Condition::Kind::speed, Condition::Kind::tempo}) {
      for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
        PlotSeries s{
            len_label(opt.lengths[li]) + (kind == Condition::Kind::speed ? " speed" : " tempo"),
            {},
            kind == Condition::Kind::tempo,
            static_cast<int>(li + 1)};
        bool any = false;
        for (std::size_t ci = 0; ci < nc; ++ci) {
          const auto& c = opt.conditions[ci];
          if (c.kind == kind) any = true;
          if (c.kind == kind || c.kind == Condition::Kind::clean) {
            s.points.emplace_back(c.kind == kind ? 100 * (c.value - 1) : 0.0,
                                  100 * cells[li][ci].top1);
          }
        }
        std::sort(s.points.begin(), s.points.end());
        if (any) ss.push_back(std::move(s));
      }
    }
    if (!ss.empty()) {
      plot_lines(opt.out / "accuracy_vs_speed.png",
                 {"Top-1 accuracy vs speed change (solid: resampled speed, dashed: tempo)",
                  "change (%)",
                  "top-1 (%)",
                  0,
                  100,
                  {}},
                 ss);
    }
  }
  {
    std::vector<PlotSeries> ss;
    for (std::size_t li = 0; li < opt.lengths.size(); ++li) {
      PlotSeries s{len_label(opt.lengths[li]), {}, false};
      for (std::size_t k = 0; k < by_length[li].cmc.size(); ++k) {
        s.points.emplace_back(static_cast<double>(k + 1), 100 * by_length[li].cmc[k]);
      }
      ss.push_back(std::move(s));
    }
    plot_lines(opt.out / "cmc.png",
               {"Cumulative match characteristic (all conditions pooled)",
                "rank k",
                "correct within top k (%)",
                0,
                100,
                {{1, "1"}, {2, "2"}, {3, "3"}, {4, "4"}, {5, "5"}}},
               ss);
  }
  if (opt.verbose) std::cerr << "wrote " << (opt.out / "report.md").string() << "\n";
}

}  // namespace aircheck::eval
