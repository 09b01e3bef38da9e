#include "daemon/sources/capture_source.h"

#include <chrono>
#include <cmath>
#include <stdexcept>

#include "daemon/sources/options.h"

namespace aircheck::daemon::sources {

namespace {
std::size_t ring_capacity(const SourceSpec& spec, int rate) {
  const double seconds = option_double(spec, "buffer_s", 30.0, 0.1, 3600.0);
  return static_cast<std::size_t>(std::ceil(seconds * rate));
}
}  // namespace

CaptureSource::CaptureSource(SourceSpec spec, int sample_rate)
    : spec_(std::move(spec)),
      rate_(sample_rate),
      ring_(ring_capacity(spec_, sample_rate), kMaxBlock),
      clock_(sample_rate) {}

CaptureSource::~CaptureSource() { join(); }

void CaptureSource::prepare() { clock_.set_live(); }

void CaptureSource::start() {
  if (started_) throw std::logic_error("source " + spec_.id + ": start() called twice");
  prepare();
  started_ = true;
  thread_ = std::thread([this] { run(); });
}

void CaptureSource::stop() { join(); }

void CaptureSource::join() noexcept {
  stop_.store(true, std::memory_order_release);
  if (thread_.joinable()) {
    interrupt();
    thread_.join();
  }
}

bool CaptureSource::sleep_for(double seconds) noexcept {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point until =
      Clock::now() + std::chrono::duration_cast<Clock::duration>(
                         std::chrono::duration<double>(std::max(seconds, 0.0)));
  while (!stopping()) {
    const Clock::time_point now = Clock::now();
    if (now >= until) return true;
    const Clock::duration slice = std::chrono::milliseconds(20);
    std::this_thread::sleep_for(std::min<Clock::duration>(until - now, slice));
  }
  return false;
}

void CaptureSource::skip_to(uint64_t expected) noexcept {
  const uint64_t pos = ring_.produced();
  if (expected > pos + static_cast<uint64_t>(rate_ / 4)) ring_.skip(expected - pos);
}

void CaptureSource::resync() noexcept { skip_to(clock_.expected_pos()); }

void CaptureSource::resync_at(double mono) noexcept {
  skip_to(clock_.expected_pos_at(mono));
  clock_.resume(ring_.produced(), mono);
}

}  // namespace aircheck::daemon::sources
