#include "daemon/evidence/clip_writer.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "daemon/event.h"
#include "dsp/decode/decoder.h"

namespace aircheck::daemon {

namespace fs = std::filesystem;

namespace {

std::string errno_text(int err) { return std::strerror(err); }

/// fsync of a file or folder by path. Returns 0 or an errno value.
int sync_path(const std::string& path, int flags) {
  const int fd = ::open(path.c_str(), flags | O_CLOEXEC);
  if (fd < 0) return errno;
  const int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

}  // namespace

std::string_view clip_extension(std::string_view format) {
  if (format == "ogg") return "opus";
  if (format == "flac") return "flac";
  throw std::invalid_argument("unknown evidence clip format '" + std::string(format) +
                              "' (expected ogg or flac)");
}

std::string clip_path(const std::string& dir, const std::string& source, double start_utc,
                      uint32_t track_id, std::string_view format) {
  std::string folder;
  for (const char c : source) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '_' || c == '-' || c == '.';
    folder += ok ? c : '_';
  }
  if (folder.empty() || folder[0] == '.') folder.insert(folder.begin(), '_');
  // The event time without its separators: "2026-11-21T14:30:05.120Z" -> "20261121T143005.120Z".
  std::string stamp = utc_iso8601(start_utc);
  std::erase_if(stamp, [](char c) { return c == '-' || c == ':'; });
  const std::string name =
      stamp + "_" + std::to_string(track_id) + "." + std::string(clip_extension(format));
  return (fs::path(dir) / folder / name).string();
}

void write_clip(const ClipJob& job) {
  const std::string ext(clip_extension(job.format));
  const fs::path final_path(job.path);
  const fs::path folder = final_path.parent_path();
  std::error_code ec;
  fs::create_directories(folder, ec);
  if (ec)
    throw std::runtime_error(job.path + ": cannot create folder " + folder.string() + ": " +
                             ec.message());
  const std::string part = job.path + ".part";
  const auto give_up = [&](const std::string& why) {
    std::error_code ignored;
    fs::remove(part, ignored);
    throw std::runtime_error(job.path + ": " + why);
  };
  try {
    dsp::decode::encode_file(part, job.pcm, job.sample_rate, ext == "opus" ? kOpusBitrate : 0, ext);
  } catch (const std::exception& e) {
    give_up(std::string("encoding failed: ") + e.what());
  }
  if (const int err = sync_path(part, O_RDONLY); err != 0) {
    give_up("cannot flush " + part + " to disk: " + errno_text(err));
  }
  if (::rename(part.c_str(), job.path.c_str()) != 0) {
    give_up("cannot rename " + part + ": " + errno_text(errno));
  }
  // Makes the rename itself durable; the clip is complete either way, so this is best effort.
  sync_path(folder.empty() ? "." : folder.string(), O_RDONLY | O_DIRECTORY);
}

ClipWriter::ClipWriter(Report report, std::size_t max_jobs, std::size_t max_bytes)
    : report_(std::move(report)), max_jobs_(max_jobs), max_bytes_(max_bytes) {
  thread_ = std::thread([this] { run(); });
}

ClipWriter::~ClipWriter() { stop(kStopTimeout); }

void ClipWriter::fail(const ClipJob& job, const std::string& reason) {
  Event e;
  e.type = EventType::clip_failed;
  e.source = job.source;
  e.emitted_utc = unix_now();
  e.track_id = job.track_id;
  e.start_utc = job.start_utc;
  e.clip = job.path;
  e.reason = reason;
  if (report_) report_(e);
}

bool ClipWriter::submit(ClipJob job) {
  const std::size_t bytes = job.pcm.size() * sizeof(float);
  std::string refused;
  {
    std::lock_guard lock(mu_);
    if (stopping_) {
      refused = "the clip writer has stopped (shutting down)";
    } else if (!queue_.empty() &&
               (queue_.size() >= max_jobs_ || queued_bytes_ + bytes > max_bytes_)) {
      refused = "the clip writer is behind (" + std::to_string(queue_.size()) +
                " clips waiting): clip dropped";
    } else {
      queued_bytes_ += bytes;
      queue_.push_back(std::move(job));
      cv_.notify_one();
      return true;
    }
    ++dropped_;
  }
  fail(job, refused);
  return false;
}

void ClipWriter::reject(const ClipJob& job, const std::string& reason) {
  {
    std::lock_guard lock(mu_);
    ++dropped_;
  }
  fail(job, reason);
}

void ClipWriter::run() {
  for (;;) {
    ClipJob job;
    bool late = false;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping and nothing left
      job = std::move(queue_.front());
      queue_.pop_front();
      queued_bytes_ -= job.pcm.size() * sizeof(float);
      late = stopping_ && std::chrono::steady_clock::now() >= deadline_;
      if (late) ++dropped_;
    }
    if (late) {
      fail(job, "not written: shutdown time limit reached");
      continue;
    }
    try {
      write_clip(job);
      std::lock_guard lock(mu_);
      ++written_;
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mu_);
        ++failed_;
      }
      fail(job, e.what());
    }
  }
}

void ClipWriter::stop(std::chrono::milliseconds timeout) {
  {
    std::lock_guard lock(mu_);
    if (!stopping_) {
      stopping_ = true;
      deadline_ = std::chrono::steady_clock::now() + timeout;
    }
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

uint64_t ClipWriter::written() const {
  std::lock_guard lock(mu_);
  return written_;
}

uint64_t ClipWriter::failed() const {
  std::lock_guard lock(mu_);
  return failed_;
}

uint64_t ClipWriter::dropped() const {
  std::lock_guard lock(mu_);
  return dropped_;
}

}  // namespace aircheck::daemon
