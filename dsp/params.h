// The fingerprint format: every parameter that changes which hashes a signal yields.
//
// These values are an index-format contract. The index stores `Params::digest()` and
// `Params::describe()`; an index built with other values is refused at open, because its
// hashes would never match. Operational settings (thresholds, sources, sinks) are not here.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "dsp/types.h"

namespace aircheck::dsp {

/// Peak density and pairing differ between the two sides: queries pick denser peaks and pair
/// them wider, so that the sparser peaks stored in the index are still found under noise.
enum class Side : uint8_t { index, query };

struct Params {
  // --- analysis ---
  int sample_rate = 8000;  ///< fingerprint rate, in Hz; decoders resample to it
  int fft_size = 512;      ///< FFT length, in samples (64 ms at 8 kHz)
  int hop = 128;           ///< frame advance, in samples (16 ms at 8 kHz): the time resolution
  int min_bin = 4;         ///< lowest FFT bin used (62.5 Hz at 8 kHz / 512)
  int max_bin = 255;       ///< highest FFT bin used, inclusive (3984 Hz); must be < 256

  // --- peaks ---
  int peak_bins = 8;       ///< a peak is the maximum within +-peak_bins in frequency
  int peak_frames = 4;     ///< and within +-peak_frames in time
  float band_tc_s = 2.0f;  ///< time constant of the running level means, in seconds
  /// Weight of the per-band mean against the all-band mean in the reference level a peak is
  /// measured from: 1 = fully per band (whitens the spectrum), 0 = one level for all bands.
  float band_weight = 0.1f;
  float min_level = 1.0f;   ///< a peak must exceed its reference level by this (natural log)
  int density_frames = 31;  ///< density window: +-this many frames around a peak (~1 s)
  int index_peaks = 14;     ///< index side: at most this many peaks per density window
  int query_peaks = 28;     ///< query side: at most this many peaks per density window
  /// Query side: how far the density window reaches ahead of a peak, in frames; -1: as far as
  /// behind it (density_frames). A peak is final once the audio this far ahead of it has been
  /// analysed, so a live stream, which waits for it, looks ahead less (streaming()).
  int query_density_ahead = -1;

  // --- pairing (target zone ahead of each anchor) ---
  int dt_min = 1;        ///< in frames
  int dt_max = 63;       ///< in frames; must be < 128
  int df_max = 63;       ///< in bins, either direction; must be < 128
  int index_fanout = 4;  ///< index side: pairs per anchor
  int query_fanout = 8;  ///< query side: pairs per anchor
  /// Query side: early pairs. 0: none. Otherwise each anchor also pairs, as soon as the peaks
  /// up to query_early_dt frames after it are final, with the index_fanout strongest of them,
  /// and its full pairs (query_fanout, up to dt_max) leave those out. Every index-side pair
  /// that short is among the early ones (its target is among the index_fanout strongest of the
  /// whole zone, so of any part of it that holds it): a live stream gets them dt_max -
  /// query_early_dt frames sooner (streaming()). Hashes then come out of anchor order.
  int query_early_dt = 0;

  // --- sub-band energy words (telling repeats apart, see matcher/identify.h) ---
  /// Frames whose power spectra are summed into one word's band energies (13: 256 ms of
  /// audio, long enough that a fraction of a hop of misalignment barely moves them). A word
  /// has one bit per pair of adjacent bands among kSubbandBands log-spaced bands from
  /// kSubbandLowHz to kSubbandHighHz: whether their energy difference grew since the word of
  /// the frame before.
  int subband_frames = 13;
  static constexpr int kSubbandBands = 33;
  static constexpr double kSubbandLowHz = 300;
  static constexpr double kSubbandHighHz = 3000;

  // --- fine words (telling near copies apart, see matcher/identify.h) ---
  /// One fine word per frame: bit k says whether the energy of band k grew since the frame
  /// before (frame 0's word is 0). kFineBands log-spaced bands from kFineLowHz to kFineHighHz,
  /// each at least one FFT bin wide. Unlike the sub-band words (13-frame sums), each frame's
  /// spectrum counts on its own: two passages alike but for a few dB in some bands of some
  /// frames (a loop's repeats, each with its own coding noise or a quiet part of its own)
  /// differ in a few bits of many words. Stored in kFineBytes bytes per frame.
  static constexpr int kFineBands = 48;
  static constexpr double kFineLowHz = 200;
  static constexpr double kFineHighHz = 3800;
  static constexpr int kFineBytes = kFineBands / 8;
  /// The fine words' layout, as the index records it (they are read only where it matches).
  static constexpr const char* kFineFormat = "fine/v1 48x200-3800 grew";

  /// Hash bit layout (32 bits): [31:24] 0 (reserved for later methods),
  /// [23:16] anchor bin f1, [15:8] (f2 - f1) as int8, [7:0] dt in frames.
  static constexpr uint32_t pack(unsigned f1, int df, unsigned dt) {
    return (f1 & 0xffu) << 16 | (static_cast<uint32_t>(df) & 0xffu) << 8 | (dt & 0xffu);
  }

  /// The fields of a hash packed by pack().
  struct HashFields {
    int f1, df, dt;
  };
  static constexpr HashFields unpack(uint32_t h) {
    return {static_cast<int>((h >> 16) & 0xffu), static_cast<int8_t>((h >> 8) & 0xffu),
            static_cast<int>(h & 0xffu)};
  }

  int peaks_for(Side s) const { return s == Side::index ? index_peaks : query_peaks; }
  /// Frames the density window reaches ahead of a peak on side `s`.
  int density_ahead(Side s) const {
    return s == Side::query && query_density_ahead >= 0 ? query_density_ahead : density_frames;
  }
  /// The query side of a live stream: the density window reaches kStreamDensityAhead frames
  /// ahead instead of density_frames, and holds as many peaks per frame as the centred one
  /// (query_peaks scaled to its length), and it has early pairs (kStreamEarlyDt). Its hashes
  /// are final 23 frames (0.37 s) sooner, its early pairs 32 frames more. It is
  /// still a superset of the index side's peaks in clean audio: an index peak has fewer than
  /// index_peaks stronger peaks within +-density_frames, so fewer within the shorter window.
  /// Index-format fields are unchanged: the index side never uses it.
  Params streaming() const;
  static constexpr int kStreamDensityAhead = 8;
  /// A live stream's early pairs (query_early_dt): its windows wait 31 frames (0.5 s) for
  /// them instead of dt_max (1 s). Their last half second holds only the pairs up to 31 frames
  /// long.
  static constexpr int kStreamEarlyDt = 31;
  int fanout_for(Side s) const { return s == Side::index ? index_fanout : query_fanout; }
  double frame_seconds() const { return static_cast<double>(hop) / sample_rate; }
  /// Throws std::invalid_argument naming the first bad field.
  void validate() const;
  /// Canonical "key=value ..." text of the index-relevant fields (query-side ones excluded).
  std::string describe() const;
  /// 64-bit FNV-1a of describe(); stored in the index.
  uint64_t digest() const;
};

static_assert(Params::unpack(Params::pack(200, -37, 63)).f1 == 200 &&
              Params::unpack(Params::pack(200, -37, 63)).df == -37 &&
              Params::unpack(Params::pack(200, -37, 63)).dt == 63);

/// Hashes of audio as the same audio would hash played `factor` times slower (resampled to
/// undo a speed-up by `factor`): bins divided by it, frames (the anchor's and dt) multiplied.
/// Hashes whose fields leave `p`'s ranges are dropped (no index holds them). Clears `out`
/// first; allocates only when `out` lacks the capacity. Any thread; real-time safe with
/// capacity reserved.
void rescale_hashes(std::span<const TimedHash> in, double factor, const Params& p,
                    std::vector<TimedHash>& out);

}  // namespace aircheck::dsp
