// Streaming landmark fingerprinter: PCM in chunks of any size -> TimedHash out, incrementally.
//
//   samples ─▶ Framer ─▶ Spectrogram (FFTW r2c, Hann) ─▶ PeakPicker ─▶ LandmarkHasher ─▶ TimedHash
//
// The result depends only on the sample sequence, never on how it was chunked. Hash times are
// absolute frame numbers counted from the first sample fed since construction or reset().
#pragma once

#include <cstddef>
#include <memory>
#include <span>
#include <vector>

#include "dsp/params.h"
#include "dsp/types.h"

namespace aircheck::dsp {

class Fingerprinter {
 public:
  /// Plans the FFT and allocates every buffer. Call on a control thread: FFTW's planner is not
  /// thread-safe (construction is serialised internally). Throws std::invalid_argument on bad
  /// params, std::runtime_error if FFTW cannot plan.
  Fingerprinter(const Params& params, Side side);
  ~Fingerprinter();
  Fingerprinter(Fingerprinter&&) noexcept;
  Fingerprinter& operator=(Fingerprinter&&) noexcept;
  Fingerprinter(const Fingerprinter&) = delete;
  Fingerprinter& operator=(const Fingerprinter&) = delete;

  /// Feeds mono PCM at params.sample_rate, full scale +-1.0. Appends to `out` every hash whose
  /// anchor and targets are final. Allocation-free as long as `out` has spare capacity
  /// (max_hashes_per_frame() per hop of input). One thread at a time; not real-time safe only
  /// in that it does FFT work proportional to the input.
  void feed(std::span<const float> pcm, std::vector<TimedHash>& out);

  /// Ends the stream: treats the signal as ending here and appends the remaining hashes.
  /// After flush() the object must be reset() before feeding again.
  void flush(std::vector<TimedHash>& out);

  /// Also appends, from now on, one sub-band energy word per analysed frame to `*out` (see
  /// Params::subband_frames): word u describes frames u .. u + subband_frames - 1, and word 0
  /// of a stream is 0 (it has no run before it to compare with). The words of a stream are
  /// those of frames 0 .. frames() - subband_frames. Call before a stream's first feed() (or
  /// after reset()): a run needs all its frames. nullptr stops. Allocation-free when `out`
  /// has spare capacity (one word per hop of input). Kept across reset().
  void collect_subband(std::vector<uint32_t>* out);
  /// Also appends, from now on, one fine word per analysed frame to `*out` (Params::kFineBands
  /// bits: word u says which bands grew from frame u - 1 to frame u; word 0 of a stream is 0).
  /// Call before a stream's first feed() (or after reset()). nullptr stops. Allocation-free
  /// when `out` has spare capacity. Kept across reset().
  void collect_fine(std::vector<uint64_t>* out);
  /// Only the sub-band and fine words (collect_subband, collect_fine): no peaks are picked and
  /// feed()/flush() append no hashes. For reading a query's words at another frame phase. Set it
  /// between streams (before the first feed() or after reset()); kept across reset().
  void set_words_only(bool on);

  /// Starts a new stream at frame 0. Keeps plans and buffers.
  void reset();

  /// Frames fully analysed so far.
  uint64_t frames() const;
  /// Samples consumed so far.
  uint64_t samples() const;
  /// Upper bound of hashes one frame can release; for sizing `out`.
  std::size_t max_hashes_per_frame() const;
  /// Peaks selected so far (for statistics and tests).
  uint64_t peak_count() const;

  const Params& params() const;
  Side side() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Convenience for whole buffers (tests, CLI): same code path as feed()+flush().
/// `subband`: when given, receives the stream's sub-band energy words (collect_subband).
/// `fine`: when given, receives the stream's fine words (collect_fine).
std::vector<TimedHash> fingerprint(const Params& params, Side side, std::span<const float> pcm,
                                   std::vector<uint32_t>* subband = nullptr,
                                   std::vector<uint64_t>* fine = nullptr);

}  // namespace aircheck::dsp
