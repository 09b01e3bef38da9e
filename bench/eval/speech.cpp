#include "bench/eval/speech.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <stdexcept>
#include <string>

#include "bench/eval/random.h"
#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"

extern char** environ;

namespace aircheck::eval {
namespace {

constexpr std::array<const char*, 64> kWords = {
    "the",    "morning", "news",    "traffic", "weather",  "today",   "and",     "will",
    "be",     "on",      "with",    "our",     "next",     "guest",   "after",   "this",
    "record", "station", "radio",   "city",    "north",    "south",   "rain",    "sunny",
    "clouds", "evening", "music",   "request", "calls",    "you",     "can",     "listen",
    "again",  "later",   "minutes", "past",    "hour",     "report",  "roads",   "bridge",
    "closed", "open",    "market",  "prices",  "football", "match",   "score",   "team",
    "second", "half",    "stay",    "tuned",   "coming",   "up",      "here",    "now",
    "thank",  "for",     "joining", "us",      "tonight",  "concert", "tickets", "free"};
constexpr std::array<const char*, 4> kVoices = {"en-us", "en-gb", "en-gb-scotland", "en"};

bool have_espeak() {
  const char* path = std::getenv("PATH");
  if (!path) return false;
  std::string p(path);
  std::size_t start = 0;
  while (start <= p.size()) {
    const auto end = p.find(':', start);
    const std::string dir =
        p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (!dir.empty() && ::access((dir + "/espeak-ng").c_str(), X_OK) == 0) return true;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

std::string sentences(Rng& rng, int words) {
  std::string s;
  int in_sentence = 0;
  for (int i = 0; i < words; ++i) {
    if (!s.empty()) s += ' ';
    s += kWords[rng.below(kWords.size())];
    if (++in_sentence >= 5 && rng.chance(0.2)) {
      s += '.';
      in_sentence = 0;
    }
  }
  return s + '.';
}

// Runs espeak-ng writing `wav`; returns its exit status (or -1 if it could not start).
int run_espeak(const std::string& voice, int speed, int pitch, const std::string& text,
               const std::string& wav) {
  std::string sp = std::to_string(speed), pi = std::to_string(pitch);
  std::array<const char*, 12> argv = {"espeak-ng", "-v",         voice.c_str(), "-s",
                                      sp.c_str(),  "-p",         pi.c_str(),    "-w",
                                      wav.c_str(), text.c_str(), nullptr,       nullptr};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  const int rc =
      posix_spawnp(&pid, "espeak-ng", &fa, nullptr, const_cast<char* const*>(argv.data()), environ);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return -1;
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

SpeechPool SpeechPool::make(int rate, uint64_t seed, int clips, double clip_s) {
  SpeechPool pool;
  pool.rate_ = rate;
  pool.espeak_ = have_espeak();
  static std::atomic<int> counter{0};
  for (int c = 0; c < clips; ++c) {
    Rng rng(mix64(seed, static_cast<uint64_t>(c)));
    std::vector<float> pcm;
    if (pool.espeak_) {
      const auto wav = (std::filesystem::temp_directory_path() /
                        ("aircheck-speech-" + std::to_string(::getpid()) + "-" +
                         std::to_string(counter.fetch_add(1)) + ".wav"))
                           .string();
      const std::string voice = kVoices[rng.below(kVoices.size())];
      const int speed = 140 + static_cast<int>(rng.below(50));
      const int pitch = 25 + static_cast<int>(rng.below(50));
      const std::string text = sentences(rng, static_cast<int>(clip_s * 2.6));
      const int rc = run_espeak(voice, speed, pitch, text, wav);
      if (rc != 0) {
        std::error_code ec;
        std::filesystem::remove(wav, ec);
        pool.espeak_ = false;
        pool.clips_.clear();
        c = -1;  // start over with babble for every clip, so the pool is homogeneous
        continue;
      }
      dsp::decode::OpenOptions opts;
      opts.sample_rate = rate;
      pcm = dsp::decode::decode_all(wav, opts);
      std::error_code ec;
      std::filesystem::remove(wav, ec);
    } else {
      SynthOptions so;
      so.seconds = clip_s;
      so.sample_rate = rate;
      pcm = synth_babble(mix64(seed, 0xBABB1E + static_cast<uint64_t>(c)), so);
    }
    if (pcm.empty()) throw std::runtime_error("speech: empty clip");
    pool.clips_.push_back(std::move(pcm));
  }
  return pool;
}

std::vector<float> SpeechPool::excerpt(uint64_t seed, std::size_t n) const {
  std::vector<float> out(n);
  if (clips_.empty()) return out;
  Rng rng(seed);
  const auto& c = clips_[rng.below(clips_.size())];
  std::size_t pos = rng.below(c.size());
  for (std::size_t i = 0; i < n; ++i) {
    out[i] = c[pos];
    if (++pos == c.size()) pos = 0;
  }
  return out;
}

}  // namespace aircheck::eval
