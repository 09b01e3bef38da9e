// Query conditions of the evaluation: "clean", "white:10", "mp3:64", "speed:1.03", ...
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace aircheck::eval {

class SpeechPool;

/// One condition, parsed from its text form:
///   clean | white:SNR_DB | mp3:KBPS | aac:KBPS | speed:RATIO | tempo:RATIO |
///   band:tel | band:am | compress | reverb[:RT60_S] | speech:DB
/// speed:1.03 plays 3 % fast (tempo and pitch); tempo:0.97 is 3 % slow at the same pitch;
/// speech:-6 mixes speech 6 dB below the music.
struct Condition {
  enum class Kind { clean, white, mp3, aac, speed, tempo, band, compress, reverb, speech };
  Kind kind = Kind::clean;
  double value = 0;  ///< SNR in dB, bit rate in kbit/s, ratio, RT60 in s, or level in dB
  std::string text;  ///< canonical text, e.g. "white:10"

  /// Throws std::invalid_argument naming the bad text and the accepted forms.
  static Condition parse(std::string_view text);

  /// Seconds of source audio per second of output (the ratio for speed/tempo, else 1).
  double source_factor() const;
};

/// Parses a comma-separated list.
std::vector<Condition> parse_conditions(std::string_view list);

/// Applies `c` to `src` (mono PCM at `rate`). Output length: src.size()/source_factor(),
/// rounded. `seed` drives noise, room and speech choice; `speech` is needed for Kind::speech.
/// Thread-safe. Throws what the underlying degradation throws.
std::vector<float> apply_condition(const Condition& c, std::span<const float> src, int rate,
                                   uint64_t seed, const SpeechPool* speech);

}  // namespace aircheck::eval
