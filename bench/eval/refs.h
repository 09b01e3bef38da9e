// Reference and negative sets: which audio files an evaluation uses, in a fixed order.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace aircheck::eval {

struct RefTrack {
  std::filesystem::path path;  ///< absolute path of the audio file
  std::string id;              ///< corpus id (refs.tsv) or the file's stem
  double duration_s = 0;       ///< in seconds; from refs.tsv or the container
};

/// Lists the audio files of `dir`, sorted by path (so excerpt drawing depends only on the seed
/// and the files). Two layouts are understood: the corpus layout (`refs.tsv` with columns
/// `id path duration ...` beside `refs/`), and any folder of audio files (searched
/// recursively; .wav .flac .mp3 .ogg .opus .m4a .aac .wma), whose durations are read from the
/// containers through FFmpeg. Files FFmpeg cannot open are skipped with a warning on stderr.
/// Throws std::runtime_error if `dir` does not exist or holds no audio.
std::vector<RefTrack> list_refs(const std::filesystem::path& dir);

}  // namespace aircheck::eval
