// Typed access to SourceSpec::options with errors that name the source and the option.
// Control thread only; every function throws std::invalid_argument on a bad value.
#pragma once

#include <string>
#include <string_view>

#include "daemon/source.h"

namespace aircheck::daemon::sources {

/// Option `key` as a number in [lo, hi], or `fallback` when absent.
double option_double(const SourceSpec& spec, const std::string& key, double fallback, double lo,
                     double hi);
/// Option `key` as an integer in [lo, hi], or `fallback` when absent.
long option_int(const SourceSpec& spec, const std::string& key, long fallback, long lo, long hi);
/// Option `key`, or `fallback` when absent.
std::string option_string(const SourceSpec& spec, const std::string& key,
                          const std::string& fallback);

/// "YYYY-MM-DDTHH:MM:SS[.fff](Z|+HH:MM|-HH:MM)" -> Unix seconds.
double parse_utc(std::string_view text);

/// Checks option names and values for spec.kind (all kinds: buffer_s; file: pace, start;
/// alsa: rate; portaudio: rate; stream: program, stall_s).
void validate_options(const SourceSpec& spec);

}  // namespace aircheck::daemon::sources
