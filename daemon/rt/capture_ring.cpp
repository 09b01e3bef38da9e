#include "daemon/rt/capture_ring.h"

#include <algorithm>

namespace aircheck::daemon::rt {

namespace {
constexpr std::size_t kGapSlots = 256;
constexpr std::size_t kHealthSlots = 64;
}  // namespace

CaptureRing::CaptureRing(std::size_t capacity, std::size_t max_block)
    : samples_(capacity),
      gaps_(kGapSlots),
      health_(kHealthSlots),
      scratch_(std::max<std::size_t>(max_block, 1)) {}

bool CaptureRing::flush_gap() noexcept {
  if (!gap_pending_) return true;
  if (!gaps_.push(pending_)) return false;
  gap_pending_ = false;
  return true;
}

void CaptureRing::add_gap(uint64_t dropped, uint64_t skipped) noexcept {
  if (dropped) dropped_.fetch_add(dropped, std::memory_order_relaxed);
  pos_ += dropped + skipped;
  if (gap_pending_) {
    // No sample was written since the pending marker, so it sits at the same index.
    pending_.dropped += dropped;
    pending_.skipped += skipped;
  } else {
    pending_ = Gap{samples_.producer_index(), dropped, skipped};
    gap_pending_ = true;
  }
  flush_gap();
}

std::size_t CaptureRing::write(std::span<const float> samples) noexcept {
  if (samples.empty()) return 0;
  if (!flush_gap()) {
    add_gap(samples.size(), 0);
    return 0;
  }
  const std::size_t n = samples_.write(samples);
  pos_ += n;
  if (n < samples.size()) add_gap(samples.size() - n, 0);
  return n;
}

std::size_t CaptureRing::write_space() noexcept {
  return gap_pending_ && !flush_gap() ? 0 : samples_.write_space();
}

void CaptureRing::skip(uint64_t samples) noexcept {
  if (samples) add_gap(0, samples);
}

void CaptureRing::post(HealthEvent::Type type, std::string_view reason) noexcept {
  HealthRecord r;
  r.type = type;
  r.count = r.errors = r.from_pos = 0;
  push(r, reason);
}

void CaptureRing::post_damage(uint64_t from_pos, uint64_t lost, uint64_t errors,
                              std::string_view reason) noexcept {
  HealthRecord r;
  r.type = HealthEvent::Type::damage;
  r.count = lost;
  r.errors = errors;
  r.from_pos = std::min(from_pos, pos_);
  push(r, reason);
}

void CaptureRing::push(HealthRecord& r, std::string_view reason) noexcept {
  r.pos = pos_;
  const std::size_t n = std::min(reason.size(), kReasonBytes - 1);
  std::copy_n(reason.data(), n, r.reason);
  r.reason[n] = '\0';
  if (!health_.push(r)) health_lost_.fetch_add(1, std::memory_order_relaxed);
}

void CaptureRing::set_done() noexcept {
  // A marker still pending here can only carry samples that no sample follows; it is dropped
  // from the clock view, but its counts stay in dropped().
  flush_gap();
  done_.store(true, std::memory_order_release);
}

Block CaptureRing::read() noexcept {
  const std::size_t avail = samples_.read_available();
  const uint64_t index = samples_.consumer_index();
  // Apply every marker sitting at the current read index.
  uint64_t next_gap = UINT64_MAX;
  for (;;) {
    const ReadView<Gap> gv = gaps_.read_view();
    if (gv.size() == 0) break;
    const Gap& g = gv.first.front();
    if (g.index != index) {
      next_gap = g.index;
      break;
    }
    if (g.dropped) {
      if (!overflow_pending_) {
        overflow_pending_ = true;
        overflow_.pos = read_pos_;
        overflow_.count = 0;
      }
      overflow_.count += g.dropped;
    }
    read_pos_ += g.dropped + g.skipped;
    gaps_.consume(1);
  }
  std::size_t n = std::min(avail, scratch_.size());
  if (next_gap != UINT64_MAX) n = std::min<std::size_t>(n, next_gap - index);
  if (n == 0) return Block{read_pos_, {}};
  const ReadView<float> v = samples_.read_view();
  const std::size_t a = std::min(n, v.first.size());
  std::copy_n(v.first.data(), a, scratch_.data());
  std::copy_n(v.second.data(), n - a, scratch_.data() + a);
  samples_.consume(n);
  const Block b{read_pos_, std::span<const float>(scratch_.data(), n)};
  read_pos_ += n;
  return b;
}

bool CaptureRing::poll(HealthEvent& ev) {
  const ReadView<HealthRecord> hv = health_.read_view();
  const HealthRecord* rec = hv.size() ? &hv.first.front() : nullptr;
  if (overflow_pending_ && (!rec || overflow_.pos <= rec->pos)) {
    ev = overflow_;
    overflow_pending_ = false;
    return true;
  }
  if (rec) {
    ev.type = rec->type;
    ev.pos = rec->pos;
    ev.count = rec->count;
    ev.errors = rec->errors;
    ev.from_pos = rec->from_pos;
    ev.reason.assign(rec->reason);
    health_.consume(1);
    return true;
  }
  if (!finished_reported_ && drained()) {
    finished_reported_ = true;
    ev.type = HealthEvent::Type::finished;
    ev.pos = read_pos_;
    ev.count = 0;
    ev.reason.clear();
    return true;
  }
  return false;
}

}  // namespace aircheck::daemon::rt
