// Test media shared by the source tests: a synthesized song written with the project's own
// encoder into a per-process temporary directory.
#pragma once

#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "bench/eval/synth.h"
#include "daemon/source.h"
#include "dsp/decode/decoder.h"

namespace aircheck::daemon::testing {

/// A per-process temporary directory, removed when the process exits.
inline std::filesystem::path temp_dir() {
  struct Dir {
    std::filesystem::path path;
    Dir()
        : path(std::filesystem::temp_directory_path() /
               ("aircheck-sources-" + std::to_string(::getpid()))) {
      std::filesystem::create_directories(path);
    }
    ~Dir() {
      std::error_code ec;
      std::filesystem::remove_all(path, ec);
    }
  };
  static const Dir dir;
  return dir.path;
}

/// Writes `seconds` of song `seed` at `rate` to temp_dir()/name; returns the path.
inline std::string write_song(const std::string& name, double seconds, int rate,
                              uint64_t seed = 7) {
  eval::SynthOptions o;
  o.seconds = seconds;
  o.sample_rate = rate;
  const std::vector<float> pcm = eval::synth_music(seed, o);
  const std::string path = (temp_dir() / name).string();
  dsp::decode::encode_file(path, pcm, rate);
  return path;
}

inline std::vector<float> decode_at(const std::string& path, int rate) {
  dsp::decode::OpenOptions o;
  o.sample_rate = rate;
  return dsp::decode::decode_all(path, o);
}

/// Polls `pred` every 2 ms for at most `limit_s` seconds (a hang guard, not a timing check).
template <typename Pred>
bool wait_for(Pred pred, double limit_s = 30) {
  const auto until = std::chrono::steady_clock::now() + std::chrono::duration<double>(limit_s);
  while (!pred()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

}  // namespace aircheck::daemon::testing
