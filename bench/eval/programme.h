// A synthetic broadcast programme built from real reference audio, with its ground truth.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/eval/refs.h"
#include "bench/eval/scorer.h"

namespace aircheck::eval {

class SpeechPool;

struct ProgrammeOptions {
  double minutes = 30;  ///< programme length
  uint64_t seed = 1;
  int sample_rate = 22050;  ///< of the written WAV, in Hz
};

/// One stretch of the programme, indexed or not (for the report's log).
struct ProgrammeItem {
  std::string kind;    ///< "indexed", "other-music", "speech", "silence"
  std::string source;  ///< corpus id or "speech"
  double start_s = 0, end_s = 0;
  double src_start_s = 0;  ///< position in the source
  double speed = 1;
  double gain_db = 0;
  std::string effects;  ///< e.g. "mp3 voice-over ramp"
  /// Seconds of the item's first audio with speech laid over it (the `voice-over` effect), in
  /// programme time; 0 = none.
  double voice_over_s = 0;
};

struct Programme {
  std::vector<TruthAiring> truth;  ///< indexed items only, in programme order
  std::vector<ProgrammeItem> items;
  double duration_s = 0;
};

/// Generates a programme of about opt.minutes and writes it to `wav` (16-bit mono PCM at
/// opt.sample_rate), streaming: memory stays at a few items. Items: whole and partial plays
/// of `refs` (track ids `ids[i]`), 40 % joined by 2-5 s crossfades; gaps of `others`
/// (non-indexed music; skipped when empty), speech from `speech` (at opt.sample_rate) and
/// short silences; per item a random gain (-8..0 dB), and with some probability a volume
/// ramp, an MP3/AAC 64 kbit/s re-encode, a 1-3 % speed-up, and a voice-over at -6 dB.
/// Deterministic from opt.seed. Throws on decode or write errors.
Programme make_programme(const std::vector<RefTrack>& refs, const std::vector<uint32_t>& ids,
                         const std::vector<RefTrack>& others, const SpeechPool& speech,
                         const ProgrammeOptions& opt, const std::filesystem::path& wav);

}  // namespace aircheck::eval
