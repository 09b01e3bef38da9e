// Backend constructors, one per file, used only by make_source() (daemon/source.cpp).
// Each validates its options and throws std::invalid_argument naming the spec on a bad one.
#pragma once

#include <memory>

#include "daemon/source.h"

namespace aircheck::daemon::sources {

std::unique_ptr<Source> make_file_source(const SourceSpec& spec, int sample_rate);
std::unique_ptr<Source> make_stream_source(const SourceSpec& spec, int sample_rate);
#ifdef AIRCHECK_HAVE_ALSA
std::unique_ptr<Source> make_alsa_source(const SourceSpec& spec, int sample_rate);
#endif
#ifdef AIRCHECK_HAVE_PORTAUDIO
std::unique_ptr<Source> make_portaudio_source(const SourceSpec& spec, int sample_rate);
#endif

}  // namespace aircheck::daemon::sources
