#include "dsp/fingerprinter.h"

#include <fftw3.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <mutex>
#include <numbers>
#include <stdexcept>

namespace aircheck::dsp {
namespace {

// FFTW's planner is not thread-safe; plans are made and destroyed under this lock.
std::mutex& planner_mutex() {
  static std::mutex m;
  return m;
}

struct FftwFloats {
  float* p = nullptr;
  explicit FftwFloats(std::size_t n) : p(fftwf_alloc_real(n)) {
    if (!p) throw std::bad_alloc();
  }
  ~FftwFloats() { fftwf_free(p); }
  FftwFloats(const FftwFloats&) = delete;
  FftwFloats& operator=(const FftwFloats&) = delete;
};

// A peak candidate before density selection. `strength` orders candidates; ties broken by
// (t, bin) so the choice never depends on evaluation order.
struct Cand {
  uint32_t t;
  uint16_t bin;
  float strength;
};

inline bool stronger(const Cand& a, const Cand& b) {
  if (a.strength != b.strength) return a.strength > b.strength;
  if (a.t != b.t) return a.t < b.t;
  return a.bin < b.bin;
}

// FIFO over a vector with a moving head; compacts in place so that, once the vector has reached
// its working capacity, pushing never allocates.
template <class T>
class Fifo {
 public:
  void reserve(std::size_t n) { v_.reserve(n); }
  void push(const T& x) {
    if (head_ > 0 && v_.size() == v_.capacity()) compact();
    v_.push_back(x);
  }
  std::size_t size() const { return v_.size() - head_; }
  bool empty() const { return size() == 0; }
  T& operator[](std::size_t i) { return v_[head_ + i]; }
  const T& operator[](std::size_t i) const { return v_[head_ + i]; }
  void pop_front(std::size_t n = 1) {
    head_ += n;
    if (head_ == v_.size()) {
      v_.clear();
      head_ = 0;
    }
  }
  void clear() {
    v_.clear();
    head_ = 0;
  }

 private:
  void compact() {
    v_.erase(v_.begin(), v_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
  std::vector<T> v_;
  std::size_t head_ = 0;
};

}  // namespace

struct Fingerprinter::Impl {
  Params p;
  Side side;
  int nbins;        // bins used: min_bin..max_bin
  int ring_frames;  // spectral frames kept for the time-neighbourhood test
  int max_peaks;    // per density window
  int ahead;        // frames the density window reaches ahead of a peak
  int fanout;
  int early_dt;  // query side: early pairs' reach (Params::query_early_dt); 0: none
  float alpha;   // EMA coefficient per frame

  // --- framing / FFT ---
  FftwFloats in;
  fftwf_complex* out = nullptr;
  fftwf_plan plan = nullptr;
  std::vector<float> window;
  std::vector<float> pending;  // samples not yet framed (< fft_size + chunk)
  std::size_t pending_len = 0;
  uint64_t samples = 0;
  uint64_t frames = 0;

  // --- levels ---
  std::vector<float> band_mean;
  float all_mean = 0;
  bool means_init = false;
  std::vector<float> levels;  // ring: ring_frames x nbins, level above reference
  std::vector<float> fmax;    // ring: same shape, max over +-peak_bins in frequency
  std::vector<float> scratch_a, scratch_b;
  std::vector<float> power;  // the current frame's bin powers, min_bin .. max_bin

  // --- peaks ---
  uint64_t tested = 0;         // frames whose peak test is done
  Fifo<Cand> cands;            // candidates in (t, bin) order
  std::size_t undecided = 0;   // index into cands of the first undecided candidate
  Fifo<Peak> selected;         // selected peaks in (t, bin) order, awaiting pairing
  std::size_t early_done = 0;  // of those, the first ones whose early pairs are out
  uint64_t peak_count = 0;
  std::vector<Peak> zone;
  std::vector<Peak> early_zone;

  bool flushed = false;

  // --- sub-band energy words (when collected) ---
  std::vector<uint32_t>* sub_out = nullptr;
  bool words_only = false;      // sub-band words, no peaks or hashes
  std::vector<int> band_lo;     // first FFT bin of each sub-band, and the end of the last
  std::vector<float> sub_ring;  // subband_frames x kSubbandBands: band energies of recent frames
  std::vector<double> sub_cur, sub_prev;

  // --- fine words (when collected) ---
  std::vector<uint64_t>* fine_out = nullptr;
  std::vector<int> fine_lo;      // first FFT bin of each fine band, and the end of the last
  std::vector<float> fine_prev;  // the frame before's band energies
  bool fine_have_prev = false;

  Impl(const Params& params, Side s)
      : p(params), side(s), in(static_cast<std::size_t>(params.fft_size)) {
    p.validate();
    nbins = p.max_bin - p.min_bin + 1;
    ring_frames = 2 * p.peak_frames + 1;
    max_peaks = p.peaks_for(side);
    ahead = p.density_ahead(side);
    fanout = p.fanout_for(side);
    early_dt = side == Side::query ? p.query_early_dt : 0;
    alpha = static_cast<float>(1.0 - std::exp(-p.frame_seconds() / p.band_tc_s));
    const auto n = static_cast<std::size_t>(p.fft_size);
    {
      std::lock_guard lock(planner_mutex());
      out = fftwf_alloc_complex(n / 2 + 1);
      if (!out) throw std::bad_alloc();
      plan = fftwf_plan_dft_r2c_1d(p.fft_size, in.p, out, FFTW_ESTIMATE);
      if (!plan) {
        fftwf_free(out);
        throw std::runtime_error("FFTW could not plan a real FFT of size " +
                                 std::to_string(p.fft_size));
      }
    }
    window.resize(n);
    for (std::size_t i = 0; i < n; ++i)  // periodic Hann
      window[i] =
          static_cast<float>(0.5 - 0.5 * std::cos(2.0 * std::numbers::pi * static_cast<double>(i) /
                                                  static_cast<double>(n)));
    pending.resize(n);
    band_mean.assign(static_cast<std::size_t>(nbins), 0.0f);
    levels.assign(static_cast<std::size_t>(ring_frames * nbins), 0.0f);
    fmax.assign(levels.size(), 0.0f);
    scratch_a.resize(static_cast<std::size_t>(nbins));
    power.resize(static_cast<std::size_t>(nbins));
    scratch_b.resize(static_cast<std::size_t>(nbins));
    // Candidates: at most one per (peak_bins+1) bins per frame, kept for a density window on
    // both sides plus the pairing horizon.
    const std::size_t per_frame = static_cast<std::size_t>(nbins / (p.peak_bins + 1) + 1);
    const std::size_t horizon =
        static_cast<std::size_t>(2 * p.density_frames + 2 * p.peak_frames + p.dt_max + 8);
    cands.reserve(per_frame * horizon * 2);
    selected.reserve(per_frame * horizon * 2);
    zone.reserve(per_frame * horizon);
    early_zone.reserve(per_frame * horizon);
    // Sub-band edges, log-spaced: band k holds the bins from band_lo[k] up to band_lo[k+1]
    // (validate() keeps them inside min_bin..max_bin).
    constexpr int kBands = Params::kSubbandBands;
    const double bin_hz = static_cast<double>(p.sample_rate) / p.fft_size;
    band_lo.resize(kBands + 1);
    for (int k = 0; k <= kBands; ++k) {
      const double hz =
          Params::kSubbandLowHz *
          std::pow(Params::kSubbandHighHz / Params::kSubbandLowHz, k / double(kBands));
      band_lo[static_cast<std::size_t>(k)] =
          std::clamp(static_cast<int>(std::lround(hz / bin_hz)), p.min_bin, p.max_bin + 1);
    }
    sub_ring.assign(static_cast<std::size_t>(p.subband_frames * kBands), 0.0f);
    sub_cur.assign(kBands, 0.0);
    sub_prev.assign(kBands, 0.0);
    // Fine bands, log-spaced, each at least one bin: the lowest ones are a bin wide.
    constexpr int kFine = Params::kFineBands;
    fine_lo.resize(kFine + 1);
    for (int k = 0; k <= kFine; ++k) {
      const double hz = Params::kFineLowHz *
                        std::pow(Params::kFineHighHz / Params::kFineLowHz, k / double(kFine));
      int b = static_cast<int>(std::lround(hz / bin_hz));
      if (k > 0) b = std::max(b, fine_lo[static_cast<std::size_t>(k) - 1] + 1);
      fine_lo[static_cast<std::size_t>(k)] = std::clamp(b, p.min_bin, p.max_bin + 1);
    }
    fine_prev.assign(kFine, 0.0f);
  }

  ~Impl() {
    std::lock_guard lock(planner_mutex());
    if (plan) fftwf_destroy_plan(plan);
    if (out) fftwf_free(out);
  }

  float* level_row(uint64_t t) {
    return levels.data() + static_cast<std::size_t>(t % static_cast<uint64_t>(ring_frames)) *
                               static_cast<std::size_t>(nbins);
  }
  float* fmax_row(uint64_t t) {
    return fmax.data() + static_cast<std::size_t>(t % static_cast<uint64_t>(ring_frames)) *
                             static_cast<std::size_t>(nbins);
  }

  void feed(std::span<const float> pcm, std::vector<TimedHash>& outv) {
    if (flushed) throw std::logic_error("Fingerprinter: feed() after flush() without reset()");
    const std::size_t n = static_cast<std::size_t>(p.fft_size);
    const std::size_t hop = static_cast<std::size_t>(p.hop);
    std::size_t i = 0;
    samples += pcm.size();
    while (i < pcm.size()) {
      const std::size_t take = std::min(n - pending_len, pcm.size() - i);
      std::memcpy(pending.data() + pending_len, pcm.data() + i, take * sizeof(float));
      pending_len += take;
      i += take;
      if (pending_len == n) {
        analyse_frame();
        std::memmove(pending.data(), pending.data() + hop, (n - hop) * sizeof(float));
        pending_len = n - hop;
        if (!words_only) advance(outv, false);
      }
    }
  }

  void flush(std::vector<TimedHash>& outv) {
    if (flushed) return;
    flushed = true;
    if (!words_only) advance(outv, true);
  }

  void reset() {
    std::fill(sub_ring.begin(), sub_ring.end(), 0.0f);
    std::fill(sub_cur.begin(), sub_cur.end(), 0.0);
    fine_have_prev = false;
    pending_len = 0;
    samples = frames = tested = 0;
    means_init = false;
    all_mean = 0;
    std::fill(band_mean.begin(), band_mean.end(), 0.0f);
    cands.clear();
    undecided = 0;
    selected.clear();
    early_done = 0;
    peak_count = 0;
    flushed = false;
  }

  // Spectrum of the current frame -> level row and frequency-max row.
  void analyse_frame() {
    const std::size_t n = static_cast<std::size_t>(p.fft_size);
    for (std::size_t k = 0; k < n; ++k) in.p[k] = pending[k] * window[k];
    fftwf_execute(plan);
    // Power of the bins used, once: the levels and both kinds of words read it.
    for (int b = 0; b < nbins; ++b) {
      const auto& c = out[p.min_bin + b];
      power[static_cast<std::size_t>(b)] = c[0] * c[0] + c[1] * c[1];
    }
    if (fine_out != nullptr) fine_word();
    if (words_only) {
      if (sub_out != nullptr) subband_word();
      ++frames;
      return;
    }
    float* lv = level_row(frames);
    float sum = 0;
    for (int b = 0; b < nbins; ++b) {
      const float pw = power[static_cast<std::size_t>(b)];
      const float ln = 0.5f * std::log(pw + 1e-10f);
      scratch_a[static_cast<std::size_t>(b)] = ln;
      sum += ln;
    }
    if (sub_out != nullptr) subband_word();
    const float mean_now = sum / static_cast<float>(nbins);
    if (!means_init) {
      for (int b = 0; b < nbins; ++b)
        band_mean[static_cast<std::size_t>(b)] = scratch_a[static_cast<std::size_t>(b)];
      all_mean = mean_now;
      means_init = true;
    }
    const float w = p.band_weight;
    for (int b = 0; b < nbins; ++b) {
      const auto bb = static_cast<std::size_t>(b);
      const float ref = w * band_mean[bb] + (1.0f - w) * all_mean;
      lv[b] = scratch_a[bb] - ref;
      band_mean[bb] += alpha * (scratch_a[bb] - band_mean[bb]);
    }
    all_mean += alpha * (mean_now - all_mean);
    sliding_max(lv, fmax_row(frames));
    ++frames;
  }

  // The current frame's sub-band energies go into the ring, and into the run's sums in place of
  // those of the frame leaving it. Once subband_frames frames are in, each frame completes the
  // word of the first frame of its run: bit k says whether the energy difference of bands k
  // and k+1, summed over the run, grew since the run before.
  void subband_word() {
    constexpr int kBands = Params::kSubbandBands;
    const auto w = static_cast<uint64_t>(p.subband_frames);
    float* row = sub_ring.data() + static_cast<std::size_t>(frames % w) * kBands;
    for (int k = 0; k < kBands; ++k) {
      float e = 0;
      for (int bin = band_lo[static_cast<std::size_t>(k)];
           bin < band_lo[static_cast<std::size_t>(k) + 1]; ++bin)
        e += power[static_cast<std::size_t>(bin - p.min_bin)];
      // The frame leaving the run (frames - w) held this slot: its energies leave the sums.
      sub_cur[static_cast<std::size_t>(k)] += static_cast<double>(e) - row[k];
      row[k] = e;
    }
    if (frames + 1 < w) return;
    uint32_t word = 0;
    if (frames + 1 > w) {  // the first word has no run before it
      for (std::size_t k = 0; k + 1 < static_cast<std::size_t>(kBands); ++k) {
        const double grew = (sub_cur[k] - sub_cur[k + 1]) - (sub_prev[k] - sub_prev[k + 1]);
        if (grew > 0) word |= 1u << k;
      }
    }
    sub_out->push_back(word);
    std::copy(sub_cur.begin(), sub_cur.end(), sub_prev.begin());
  }

  // The current frame's fine-band energies against the frame before's: bit k set where band k
  // grew.
  void fine_word() {
    uint64_t word = 0;
    for (std::size_t k = 0; k < fine_prev.size(); ++k) {
      float e = 0;
      for (int bin = fine_lo[k]; bin < fine_lo[k + 1]; ++bin)
        e += power[static_cast<std::size_t>(bin - p.min_bin)];
      if (fine_have_prev && e > fine_prev[k]) word |= uint64_t{1} << k;
      fine_prev[k] = e;
    }
    fine_have_prev = true;
    fine_out->push_back(word);
  }

  // out[b] = max(in[b-r .. b+r]) clipped to the row (van Herk / Gil-Werman).
  void sliding_max(const float* x, float* y) {
    const int r = p.peak_bins;
    const int w = 2 * r + 1;
    float* g = scratch_a.data();          // prefix max within blocks
    float* h = scratch_b.data();          // suffix max within blocks
    for (int s = 0; s < nbins; s += w) {  // blocks [s, e)
      const int e = std::min(nbins, s + w);
      g[s] = x[s];
      for (int b = s + 1; b < e; ++b) g[b] = std::max(g[b - 1], x[b]);
      h[e - 1] = x[e - 1];
      for (int b = e - 2; b >= s; --b) h[b] = std::max(h[b + 1], x[b]);
    }
    for (int b = 0; b < nbins; ++b) {
      const int lo = std::max(0, b - r), hi = std::min(nbins - 1, b + r);
      y[b] = std::max(h[lo], g[hi]);
    }
  }

  // Runs the peak test, density selection and pairing as far as the analysed frames allow.
  void advance(std::vector<TimedHash>& outv, bool at_end) {
    const uint64_t pf = static_cast<uint64_t>(p.peak_frames);
    while (tested < frames && (at_end || tested + pf < frames)) test_frame(tested++);
    decide(at_end);
    pair(outv, at_end);
  }

  // A candidate is the maximum of its (2*peak_bins+1) x (2*peak_frames+1) neighbourhood
  // (frames beyond either end of the stream are absent) and above min_level.
  void test_frame(uint64_t t) {
    const float* lv = level_row(t);
    const float* fm = fmax_row(t);
    const uint64_t pf = static_cast<uint64_t>(p.peak_frames);
    const uint64_t t0 = t >= pf ? t - pf : 0;
    const uint64_t t1 = std::min(frames - 1, t + pf);
    for (int b = 0; b < nbins; ++b) {
      const float v = lv[b];
      if (v < p.min_level || v != fm[b]) continue;
      // Left neighbours in frequency that tie would also claim the peak: keep the lowest bin.
      bool is_peak = true;
      for (int k = std::max(0, b - p.peak_bins); k < b && is_peak; ++k)
        if (lv[k] == v) is_peak = false;
      for (uint64_t u = t0; u <= t1 && is_peak; ++u) {
        if (u == t) continue;
        const float o = fmax_row(u)[b];
        if (o > v || (o == v && u < t)) is_peak = false;
      }
      if (is_peak)
        cands.push(Cand{static_cast<uint32_t>(t), static_cast<uint16_t>(p.min_bin + b), v});
    }
  }

  // A candidate at t is selected if fewer than max_peaks candidates within t - density_frames
  // .. t + ahead are stronger. Needs every candidate up to t + ahead.
  void decide(bool at_end) {
    const uint64_t W = static_cast<uint64_t>(p.density_frames);
    const uint64_t A = static_cast<uint64_t>(ahead);
    while (undecided < cands.size()) {
      const Cand c = cands[undecided];
      if (!at_end && c.t + A >= tested) break;
      int stronger_count = 0;
      for (std::size_t j = 0; j < cands.size(); ++j) {
        const Cand& o = cands[j];
        if (o.t + W < c.t) continue;
        if (o.t > c.t + A) break;
        if (stronger(o, c) && ++stronger_count >= max_peaks) break;
      }
      if (stronger_count < max_peaks) {
        selected.push(Peak{c.t, c.bin, 0, c.strength});
        ++peak_count;
      }
      ++undecided;
    }
    // Drop candidates no longer inside any undecided candidate's window.
    const uint64_t keep_from = undecided < cands.size() ? cands[undecided].t : tested;
    std::size_t drop = 0;
    while (drop < undecided && cands[drop].t + W < keep_from) ++drop;
    cands.pop_front(drop);
    undecided -= drop;
  }

  // The `k` strongest selected peaks in the target zone of selected[i] (dt_min..`reach`
  // frames later, within +-df_max bins) into `z`, strongest first.
  void strongest_targets(std::size_t i, uint32_t reach, std::size_t k, std::vector<Peak>& z) {
    const Peak a = selected[i];
    z.clear();
    for (std::size_t j = i + 1; j < selected.size(); ++j) {
      const Peak& b = selected[j];
      const uint32_t dt = b.t - a.t;
      if (dt > reach) break;
      if (dt < static_cast<uint32_t>(p.dt_min)) continue;
      const int df = static_cast<int>(b.bin) - static_cast<int>(a.bin);
      if (df > p.df_max || df < -p.df_max) continue;
      z.push_back(b);
    }
    k = std::min(z.size(), k);
    std::partial_sort(z.begin(), z.begin() + static_cast<std::ptrdiff_t>(k), z.end(),
                      [](const Peak& x, const Peak& y) {
                        if (x.mag != y.mag) return x.mag > y.mag;
                        if (x.t != y.t) return x.t < y.t;
                        return x.bin < y.bin;
                      });
    z.resize(k);
  }

  static TimedHash landmark(const Peak& a, const Peak& b) {
    return TimedHash{
        Params::pack(a.bin, static_cast<int>(b.bin) - static_cast<int>(a.bin), b.t - a.t), a.t};
  }

  // Each selected peak anchors pairs with the `fanout` strongest selected peaks in its target
  // zone: dt_min..dt_max frames later, within +-df_max bins. With early pairs
  // (Params::query_early_dt) it first pairs, as soon as the peaks up to early_dt frames after
  // it are final, with the index_fanout strongest of those; its full pairs then leave those out.
  void pair(std::vector<TimedHash>& outv, bool at_end) {
    // Selected peaks are final for every t below this frontier.
    const uint64_t frontier = undecided < cands.size() ? cands[undecided].t : tested;
    const auto early_k = static_cast<std::size_t>(p.index_fanout);
    if (early_dt > 0) {
      for (; early_done < selected.size(); ++early_done) {
        if (!at_end && selected[early_done].t + static_cast<uint64_t>(early_dt) >= frontier) break;
        strongest_targets(early_done, static_cast<uint32_t>(early_dt), early_k, early_zone);
        for (const Peak& b : early_zone) outv.push_back(landmark(selected[early_done], b));
      }
    }
    const uint64_t dt_max = static_cast<uint64_t>(p.dt_max);
    std::size_t done = 0;
    for (; done < selected.size(); ++done) {
      const Peak a = selected[done];
      if (!at_end && a.t + dt_max >= frontier) break;
      strongest_targets(done, static_cast<uint32_t>(p.dt_max), static_cast<std::size_t>(fanout),
                        zone);
      if (early_dt > 0) {
        strongest_targets(done, static_cast<uint32_t>(early_dt), early_k, early_zone);
      }
      for (const Peak& b : zone) {
        if (early_dt > 0 && std::any_of(early_zone.begin(), early_zone.end(), [&](const Peak& e) {
              return e.t == b.t && e.bin == b.bin;
            }))
          continue;
        outv.push_back(landmark(a, b));
      }
    }
    selected.pop_front(done);
    early_done -= std::min(early_done, done);
  }
};

Fingerprinter::Fingerprinter(const Params& params, Side side)
    : impl_(std::make_unique<Impl>(params, side)) {}
Fingerprinter::~Fingerprinter() = default;
Fingerprinter::Fingerprinter(Fingerprinter&&) noexcept = default;
Fingerprinter& Fingerprinter::operator=(Fingerprinter&&) noexcept = default;

void Fingerprinter::feed(std::span<const float> pcm, std::vector<TimedHash>& out) {
  impl_->feed(pcm, out);
}
void Fingerprinter::flush(std::vector<TimedHash>& out) { impl_->flush(out); }
void Fingerprinter::reset() { impl_->reset(); }
uint64_t Fingerprinter::frames() const { return impl_->frames; }
uint64_t Fingerprinter::samples() const { return impl_->samples; }
uint64_t Fingerprinter::peak_count() const { return impl_->peak_count; }
std::size_t Fingerprinter::max_hashes_per_frame() const {
  // A frame releases the full pairs of its anchors and the early pairs of later ones.
  const int per_anchor = impl_->fanout + (impl_->early_dt > 0 ? impl_->p.index_fanout : 0);
  return static_cast<std::size_t>(impl_->nbins / (impl_->p.peak_bins + 1) + 1) *
         static_cast<std::size_t>(per_anchor);
}
const Params& Fingerprinter::params() const { return impl_->p; }
Side Fingerprinter::side() const { return impl_->side; }

void Fingerprinter::collect_subband(std::vector<uint32_t>* out) { impl_->sub_out = out; }
void Fingerprinter::collect_fine(std::vector<uint64_t>* out) { impl_->fine_out = out; }
void Fingerprinter::set_words_only(bool on) { impl_->words_only = on; }

std::vector<TimedHash> fingerprint(const Params& params, Side side, std::span<const float> pcm,
                                   std::vector<uint32_t>* subband, std::vector<uint64_t>* fine) {
  Fingerprinter fp(params, side);
  fp.collect_subband(subband);
  fp.collect_fine(fine);
  std::vector<TimedHash> out;
  out.reserve(pcm.size() / static_cast<std::size_t>(params.hop) * 4 + 64);
  fp.feed(pcm, out);
  fp.flush(out);
  return out;
}

}  // namespace aircheck::dsp
