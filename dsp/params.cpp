#include "dsp/params.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace aircheck::dsp {
namespace {
void require(bool ok, const char* field, const char* what) {
  if (!ok) throw std::invalid_argument(std::string("fingerprint parameter ") + field + ": " + what);
}
}  // namespace

void Params::validate() const {
  require(sample_rate >= 4000 && sample_rate <= 48000, "sample_rate", "must be 4000..48000 Hz");
  require(fft_size >= 64 && (fft_size & (fft_size - 1)) == 0, "fft_size",
          "must be a power of two >= 64");
  require(hop > 0 && hop <= fft_size, "hop", "must be 1..fft_size");
  require(min_bin >= 1 && min_bin < max_bin, "min_bin", "must be >= 1 and < max_bin");
  require(max_bin < 256 && max_bin <= fft_size / 2, "max_bin", "must be < 256 and <= fft_size/2");
  require(peak_bins >= 1 && peak_frames >= 1, "peak_bins/peak_frames", "must be >= 1");
  require(band_tc_s > 0, "band_tc_s", "must be > 0");
  require(band_weight >= 0 && band_weight <= 1, "band_weight", "must be 0..1");
  require(density_frames >= 1, "density_frames", "must be >= 1");
  require(index_peaks >= 1 && query_peaks >= 1, "index_peaks/query_peaks", "must be >= 1");
  require(query_density_ahead >= -1 && query_density_ahead <= density_frames, "query_density_ahead",
          "must be -1 (= density_frames) or 0..density_frames");
  require(dt_min >= 1 && dt_min <= dt_max && dt_max < 256, "dt_min/dt_max",
          "must satisfy 1 <= dt_min <= dt_max < 256");
  require(df_max >= 1 && df_max < 128, "df_max", "must be 1..127");
  require(index_fanout >= 1 && query_fanout >= 1, "fanout", "must be >= 1");
  require(query_early_dt == 0 || (query_early_dt >= dt_min && query_early_dt < dt_max),
          "query_early_dt", "must be 0 (none) or dt_min..dt_max - 1");
  require(subband_frames >= 1 && subband_frames <= 64, "subband_frames", "must be 1..64");
  const double bin_hz = static_cast<double>(sample_rate) / fft_size;
  require(kSubbandLowHz / bin_hz >= min_bin && kSubbandHighHz / bin_hz <= max_bin + 1,
          "sample_rate/fft_size/min_bin/max_bin",
          "the sub-band words need the bins from 300 to 3000 Hz");
}

Params Params::streaming() const {
  Params s = *this;
  s.query_density_ahead = std::min(kStreamDensityAhead, density_frames);
  s.query_early_dt = dt_max - 1 >= dt_min ? std::min(kStreamEarlyDt, dt_max - 1) : 0;
  s.query_peaks =
      std::max(1, static_cast<int>(std::lround(static_cast<double>(query_peaks) *
                                               (density_frames + s.query_density_ahead + 1) /
                                               (2.0 * density_frames + 1))));
  return s;
}

std::string Params::describe() const {
  std::ostringstream s;
  s << "landmark/v1 rate=" << sample_rate << " fft=" << fft_size << " hop=" << hop
    << " bins=" << min_bin << '-' << max_bin << " peak=" << peak_bins << 'x' << peak_frames
    << " band_tc=" << band_tc_s << " band_w=" << band_weight << " min_level=" << min_level
    << " density=" << density_frames << '/' << index_peaks << " dt=" << dt_min << '-' << dt_max
    << " df=" << df_max << " fanout=" << index_fanout << " layout=f1:8,df:8,dt:8"
    << " subband=" << kSubbandBands << 'x' << kSubbandLowHz << '-' << kSubbandHighHz << '/'
    << subband_frames;
  return s.str();
}

uint64_t Params::digest() const {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : describe()) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  return h;
}

void rescale_hashes(std::span<const TimedHash> in, double factor, const Params& p,
                    std::vector<TimedHash>& out) {
  out.clear();
  for (const TimedHash& h : in) {
    const Params::HashFields f = Params::unpack(h.hash);
    const long f1 = std::lround(f.f1 / factor);
    const long f2 = std::lround((f.f1 + f.df) / factor);
    const long dt = std::lround(f.dt * factor);
    if (f1 < p.min_bin || f1 > p.max_bin || f2 < p.min_bin || f2 > p.max_bin) continue;
    if (std::abs(f2 - f1) > p.df_max || dt < p.dt_min || dt > p.dt_max) continue;
    out.push_back(TimedHash{Params::pack(static_cast<unsigned>(f1), static_cast<int>(f2 - f1),
                                         static_cast<unsigned>(dt)),
                            static_cast<uint32_t>(std::lround(h.t * factor))});
  }
}

}  // namespace aircheck::dsp
