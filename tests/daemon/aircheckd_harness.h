// Helpers of the end-to-end tests that run the real aircheckd: a programme built from
// synthesized audio with its ground truth, a child aircheckd process, and its JSON-lines log.
#pragma once

#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#ifndef AIRCHECKD_PATH
#error "AIRCHECKD_PATH must name the aircheckd binary"
#endif

namespace aircheck::e2e {

namespace fs = std::filesystem;
using nlohmann::json;

inline constexpr int kRate = 8000;

struct Song {
  uint32_t id = 0;
  std::string title;
  std::vector<float> pcm;
};

/// One airing of the ground truth, in programme seconds.
struct Truth {
  std::string title;
  double start_s, end_s, ref_start_s;
};

class Programme {
 public:
  void add(std::span<const float> x, double gain = 1.0) {
    for (float v : x) pcm.push_back(static_cast<float>(v * gain));
  }
  /// Plays `song` from `ref_from` for `seconds` (to its end if negative).
  void play(const Song& song, double ref_from, double seconds, std::vector<Truth>& truth) {
    const auto a = static_cast<std::size_t>(ref_from * kRate);
    std::size_t b = song.pcm.size();
    if (seconds >= 0) b = std::min(b, a + static_cast<std::size_t>(seconds * kRate));
    truth.push_back({song.title, now(), now() + static_cast<double>(b - a) / kRate, ref_from});
    add(std::span(song.pcm).subspan(a, b - a));
  }
  /// Plays `next` from its start while the last `fade_s` of the current tail fades out.
  void crossfade(const Song& prev, const Song& next, double fade_s, std::vector<Truth>& truth) {
    const auto n = static_cast<std::size_t>(fade_s * kRate);
    truth.push_back({prev.title, now(), now() + static_cast<double>(prev.pcm.size()) / kRate, 0});
    add(std::span(prev.pcm).first(prev.pcm.size() - n));
    const double next_start = now();
    for (std::size_t i = 0; i < n; ++i) {
      const double g = static_cast<double>(i) / static_cast<double>(n);
      pcm.push_back(
          static_cast<float>(prev.pcm[prev.pcm.size() - n + i] * (1 - g) + next.pcm[i] * g));
    }
    truth.push_back(
        {next.title, next_start, next_start + static_cast<double>(next.pcm.size()) / kRate, 0});
    add(std::span(next.pcm).subspan(n));
  }
  double now() const { return static_cast<double>(pcm.size()) / kRate; }
  std::vector<float> pcm;
};

inline std::vector<json> read_events(const fs::path& p) {
  std::vector<json> out;
  std::ifstream in(p);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(json::parse(line));
  }
  return out;
}

inline std::vector<json> of_type(const std::vector<json>& ev, const std::string& type,
                                 const std::string& source = "") {
  std::vector<json> out;
  for (const json& e : ev) {
    if (e["type"] == type && (source.empty() || e["source"] == source)) out.push_back(e);
  }
  return out;
}

/// A running aircheckd.
class Daemon {
 public:
  explicit Daemon(const std::vector<std::string>& args) {
    pid_ = ::fork();
    if (pid_ == 0) {
      std::vector<char*> argv;
      std::string exe = AIRCHECKD_PATH;
      argv.push_back(exe.data());
      std::vector<std::string> copy = args;
      for (auto& a : copy) argv.push_back(a.data());
      argv.push_back(nullptr);
      ::execv(exe.c_str(), argv.data());
      ::_exit(127);
    }
  }
  ~Daemon() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      int st = 0;
      ::waitpid(pid_, &st, 0);
    }
  }
  void signal(int sig) { ::kill(pid_, sig); }
  /// Waits up to `timeout` for the exit; returns the exit code, or -1 on timeout/abnormal exit.
  int wait(std::chrono::seconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int st = 0;
      const pid_t r = ::waitpid(pid_, &st, WNOHANG);
      if (r == pid_) {
        exited_ = true;
        return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return -1;
  }

 private:
  pid_t pid_ = -1;
  bool exited_ = false;
};

inline bool wait_for(const std::function<bool()>& cond, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (cond()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return cond();
}

}  // namespace aircheck::e2e
