#include "daemon/source.h"

#include <array>
#include <stdexcept>
#include <string_view>

#include "daemon/sources/backends.h"
#include "daemon/sources/options.h"

namespace aircheck::daemon {

namespace {

constexpr const char* kExpected =
    "expected file:PATH[?pace=realtime|fast&start=YYYY-MM-DDTHH:MM:SSZ], alsa:PCM[?rate=HZ], "
    "pa:DEVICE[?rate=HZ], or a stream URL (http://, https://, udp://, rtp://, srt://, "
    "rtmp://, rtmps://, .m3u8) with options after '#', e.g. udp://@239.1.1.1:5000#program=3";

constexpr std::array<std::string_view, 8> kStreamSchemes = {
    "http://", "https://", "udp://", "rtp://", "srt://", "rtmp://", "rtmps://", "rtsp://"};

[[noreturn]] void bad_spec(const std::string& id, const std::string& spec, const std::string& why) {
  throw std::invalid_argument("source '" + id + "': bad spec '" + spec + "': " + why);
}

/// "a=1&b=2" -> options; rejects empty keys and duplicates.
void parse_query(const std::string& id, const std::string& spec, std::string_view query,
                 std::map<std::string, std::string>& out) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const std::string_view item = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    if (item.empty()) continue;
    const auto eq = item.find('=');
    if (eq == 0 || eq == std::string_view::npos) {
      bad_spec(id, spec, "option '" + std::string(item) + "' is not KEY=VALUE");
    }
    const std::string key(item.substr(0, eq));
    if (!out.emplace(key, std::string(item.substr(eq + 1))).second) {
      bad_spec(id, spec, "option '" + key + "' given twice");
    }
  }
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

}  // namespace

SourceSpec parse_source_spec(const std::string& id, const std::string& spec) {
  SourceSpec out;
  out.id = id;
  struct Prefix {
    std::string_view text;
    SourceKind kind;
  };
  bool matched = false;
  for (const Prefix& p : {Prefix{"file:", SourceKind::file}, Prefix{"alsa:", SourceKind::alsa},
                          Prefix{"pa:", SourceKind::portaudio}}) {
    if (!starts_with(spec, p.text)) continue;
    const std::string_view rest = std::string_view(spec).substr(p.text.size());
    const auto q = rest.find('?');
    out.kind = p.kind;
    out.address = std::string(rest.substr(0, q));
    if (q != std::string_view::npos) parse_query(id, spec, rest.substr(q + 1), out.options);
    matched = true;
    break;
  }
  if (!matched) {
    for (std::string_view scheme : kStreamSchemes) {
      if (!starts_with(spec, scheme)) continue;
      const auto hash = spec.find('#');
      out.kind = SourceKind::stream;
      out.address = spec.substr(0, hash);
      if (hash != std::string::npos) {
        parse_query(id, spec, std::string_view(spec).substr(hash + 1), out.options);
      }
      if (out.address.size() <= scheme.size()) bad_spec(id, spec, "URL has no host");
      matched = true;
      break;
    }
  }
  if (!matched) bad_spec(id, spec, kExpected);
  if (out.address.empty()) bad_spec(id, spec, std::string("empty address; ") + kExpected);
  try {
    sources::validate_options(out);
  } catch (const std::invalid_argument& e) {
    bad_spec(id, spec, e.what());
  }
  return out;
}

std::unique_ptr<Source> make_source(const SourceSpec& spec, int sample_rate) {
  if (sample_rate < 1000 || sample_rate > 384000) {
    throw std::invalid_argument("source '" + spec.id + "': sample rate " +
                                std::to_string(sample_rate) + " Hz out of range 1000..384000");
  }
  sources::validate_options(spec);
  switch (spec.kind) {
    case SourceKind::file:
      return sources::make_file_source(spec, sample_rate);
    case SourceKind::stream:
      return sources::make_stream_source(spec, sample_rate);
    case SourceKind::alsa:
#ifdef AIRCHECK_HAVE_ALSA
      return sources::make_alsa_source(spec, sample_rate);
#else
      throw std::invalid_argument("source '" + spec.id +
                                  "': ALSA sources are not in this build; reconfigure with "
                                  "-DAIRCHECK_WITH_ALSA=ON");
#endif
    case SourceKind::portaudio:
#ifdef AIRCHECK_HAVE_PORTAUDIO
      return sources::make_portaudio_source(spec, sample_rate);
#else
      throw std::invalid_argument("source '" + spec.id +
                                  "': PortAudio sources are not in this build; reconfigure "
                                  "with -DAIRCHECK_WITH_PORTAUDIO=ON");
#endif
  }
  throw std::invalid_argument("source '" + spec.id + "': unknown source kind");
}

}  // namespace aircheck::daemon
