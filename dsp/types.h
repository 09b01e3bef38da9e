// Small value types shared by every stage of the fingerprint path.
#pragma once

#include <cstdint>
#include <type_traits>

namespace aircheck::dsp {

/// A spectral peak. `t` in frames since the first sample fed, `bin` an FFT bin index,
/// `mag` the peak's level above its band's running mean, in natural-log units.
struct Peak {
  uint32_t t;
  uint16_t bin;
  uint16_t pad_ = 0;
  float mag;
};
static_assert(sizeof(Peak) == 12 && std::is_trivially_copyable_v<Peak>);

/// One landmark hash and the frame of its anchor peak (frames since the first sample fed).
struct TimedHash {
  uint32_t hash;
  uint32_t t;
  friend bool operator==(const TimedHash&, const TimedHash&) = default;
};
static_assert(sizeof(TimedHash) == 8 && std::is_trivially_copyable_v<TimedHash>);

}  // namespace aircheck::dsp
