#include "bench/eval/programme.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <stdexcept>

#include "bench/eval/degrade.h"
#include "bench/eval/random.h"
#include "bench/eval/speech.h"
#include "dsp/decode/decoder.h"

namespace aircheck::eval {
namespace {

// Streaming 16-bit mono WAV writer; sizes are patched at close().
class WavWriter {
 public:
  WavWriter(const std::filesystem::path& path, int rate)
      : out_(path, std::ios::binary), rate_(rate) {
    if (!out_) throw std::runtime_error(path.string() + ": cannot create");
    header(0);
  }
  void write(std::span<const float> x) {
    buf_.resize(x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
      const float v = std::clamp(x[i], -1.0f, 1.0f);
      buf_[i] = static_cast<int16_t>(std::lround(v * 32767.0f));
    }
    out_.write(reinterpret_cast<const char*>(buf_.data()),
               static_cast<std::streamsize>(buf_.size() * sizeof(int16_t)));
    samples_ += x.size();
    if (!out_) throw std::runtime_error("programme: write failed (disk full?)");
  }
  void close() {
    out_.seekp(0);
    header(samples_);
    out_.close();
    if (!out_) throw std::runtime_error("programme: write failed");
  }

 private:
  void u32(uint32_t v) { out_.write(reinterpret_cast<const char*>(&v), 4); }
  void u16(uint16_t v) { out_.write(reinterpret_cast<const char*>(&v), 2); }
  void header(uint64_t samples) {
    const auto data = static_cast<uint32_t>(samples * 2);
    out_.write("RIFF", 4);
    u32(36 + data);
    out_.write("WAVEfmt ", 8);
    u32(16);
    u16(1);
    u16(1);
    u32(static_cast<uint32_t>(rate_));
    u32(static_cast<uint32_t>(rate_) * 2);
    u16(2);
    u16(16);
    out_.write("data", 4);
    u32(data);
  }
  std::ofstream out_;
  int rate_;
  uint64_t samples_ = 0;
  std::vector<int16_t> buf_;
};

// The programme timeline: items are mixed in at non-decreasing start positions, so anything
// before the latest start is final and is written out.
class Mixer {
 public:
  Mixer(WavWriter& w) : w_(w) {}
  void add(std::size_t start, std::span<const float> x) {
    flush_to(start);
    const std::size_t need = start - base_ + x.size();
    if (buf_.size() < need) buf_.resize(need, 0.0f);
    for (std::size_t i = 0; i < x.size(); ++i) buf_[start - base_ + i] += x[i];
  }
  void finish() {
    w_.write(buf_);
    base_ += buf_.size();
    buf_.clear();
  }
  std::size_t end() const { return base_ + buf_.size(); }

 private:
  void flush_to(std::size_t pos) {
    if (pos < base_) throw std::logic_error("programme: item starts before the written part");
    const std::size_t n = std::min(pos - base_, buf_.size());
    w_.write(std::span<const float>(buf_.data(), n));
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n));
    base_ += n;
    if (pos > base_) {  // a gap beyond the buffer: silence
      std::vector<float> zeros(pos - base_, 0.0f);
      w_.write(zeros);
      base_ = pos;
    }
  }
  WavWriter& w_;
  std::vector<float> buf_;
  std::size_t base_ = 0;
};

void fade(std::vector<float>& x, std::size_t in, std::size_t out) {
  in = std::min(in, x.size());
  out = std::min(out, x.size());
  for (std::size_t i = 0; i < in; ++i) x[i] *= static_cast<float>(i) / static_cast<float>(in);
  for (std::size_t i = 0; i < out; ++i)
    x[x.size() - 1 - i] *= static_cast<float>(i) / static_cast<float>(out);
}

std::vector<float> segment(const RefTrack& t, int rate, double start_s, double len_s) {
  dsp::decode::OpenOptions o;
  o.sample_rate = rate;
  auto pcm = dsp::decode::decode_all(t.path.string(), o);
  const auto a = std::min(pcm.size(), static_cast<std::size_t>(start_s * rate));
  const auto b = std::min(pcm.size(), a + static_cast<std::size_t>(len_s * rate));
  return {pcm.begin() + static_cast<std::ptrdiff_t>(a),
          pcm.begin() + static_cast<std::ptrdiff_t>(b)};
}

}  // namespace

Programme make_programme(const std::vector<RefTrack>& refs, const std::vector<uint32_t>& ids,
                         const std::vector<RefTrack>& others, const SpeechPool& speech,
                         const ProgrammeOptions& opt, const std::filesystem::path& wav) {
  if (refs.empty() || refs.size() != ids.size())
    throw std::invalid_argument("programme: no references");
  const int rate = opt.sample_rate;
  const double r = rate;
  const auto total = static_cast<std::size_t>(opt.minutes * 60 * r);
  Rng rng(mix64(opt.seed, 0x9a0a));
  WavWriter writer(wav, rate);
  Mixer mixer(writer);
  Programme prog;
  std::size_t cursor = 0;  // where the next item starts unless it crossfades
  std::size_t xfade = 0;   // fade-in length (samples) owed to the next item
  uint64_t item_no = 0;

  while (cursor < total) {
    ++item_no;
    const double pick = rng.uniform();
    ProgrammeItem item;
    std::vector<float> pcm;
    const bool music = pick < 0.8;
    if (pick < 0.65 || (pick < 0.8 && others.empty())) {
      const std::size_t k = rng.below(refs.size());
      const auto& t = refs[k];
      const bool whole = rng.chance(0.35) || t.duration_s < 25;
      const double len = whole ? t.duration_s : rng.uniform(15, std::min(90.0, t.duration_s - 1));
      const double start = whole ? 0 : rng.uniform(0, t.duration_s - len);
      pcm = segment(t, rate, start, len);
      item.kind = "indexed";
      item.source = t.id;
      item.src_start_s = start;
      if (rng.chance(0.2)) {
        item.speed = rng.uniform(1.01, 1.03);
        pcm = change_speed(pcm, rate, item.speed);
        item.effects += " speed";
      }
      if (rng.chance(0.2)) {
        pcm = reencode(pcm, rate, rng.chance(0.5) ? Codec::mp3 : Codec::aac, 64000);
        item.effects += " reencode";
      }
      if (rng.chance(0.2)) {
        const auto n = std::min(pcm.size(), static_cast<std::size_t>(rng.uniform(5, 10) * r));
        const auto s = speech.excerpt(mix64(opt.seed, item_no), n);
        const auto head = mix_at(std::span<const float>(pcm.data(), n), s, -6);
        std::copy(head.begin(), head.end(), pcm.begin());
        item.effects += " voice-over";
        item.voice_over_s = static_cast<double>(n) / r;
      }
      TruthAiring a;
      a.track = ids[k];
      a.ref_id = t.id;
      a.speed = item.speed;
      a.ref_start_s = start;
      a.ref_end_s = start + static_cast<double>(pcm.size()) / r * item.speed;
      prog.truth.push_back(a);
    } else if (pick < 0.8) {
      const auto& t = others[rng.below(others.size())];
      const double len = std::min(t.duration_s, rng.uniform(15, 60));
      const double start = rng.uniform(0, std::max(0.0, t.duration_s - len));
      pcm = segment(t, rate, start, len);
      item.kind = "other-music";
      item.source = t.id;
      item.src_start_s = start;
    } else if (pick < 0.95) {
      pcm = speech.excerpt(mix64(opt.seed, 0x5eec4 + item_no),
                           static_cast<std::size_t>(rng.uniform(5, 20) * r));
      apply_gain(pcm, 20 * std::log10(0.1 / std::max(rms(pcm), 1e-9)));
      item.kind = "speech";
      item.source = "speech";
    } else {
      pcm.assign(static_cast<std::size_t>(rng.uniform(0.5, 2) * r), 0.0f);
      item.kind = "silence";
    }
    if (pcm.empty()) continue;
    if (music) {
      item.gain_db = rng.uniform(-8, 0);
      apply_gain(pcm, item.gain_db);
      if (rng.chance(0.2)) {  // a fader move: +-6 dB over 2 s somewhere in the item
        const double delta = rng.chance(0.5) ? 6 : -6;
        const auto at = rng.below(pcm.size());
        const auto ramp = static_cast<std::size_t>(2 * r);
        for (std::size_t i = at; i < pcm.size(); ++i) {
          const double f = std::min(1.0, static_cast<double>(i - at) / static_cast<double>(ramp));
          pcm[i] *= static_cast<float>(std::pow(10.0, delta * f / 20));
        }
        item.effects += " ramp";
      }
    }
    // Crossfade into the next item (music only): a fade-out here, a fade-in there.
    const std::size_t fade_in = music ? xfade : 0;
    const std::size_t start = cursor - std::min(cursor, xfade);
    const std::size_t fade_out =
        music && rng.chance(0.4) ? static_cast<std::size_t>(rng.uniform(2, 5) * r) : 0;
    fade(pcm, fade_in, std::min(fade_out, pcm.size() / 3));
    xfade = std::min(fade_out, pcm.size() / 3);
    mixer.add(start, pcm);
    item.start_s = static_cast<double>(start) / r;
    item.end_s = static_cast<double>(start + pcm.size()) / r;
    if (item.kind == "indexed") {
      prog.truth.back().start_s = item.start_s;
      prog.truth.back().end_s = item.end_s;
      prog.truth.back().fade_in_s = static_cast<double>(fade_in) / r;
      prog.truth.back().fade_out_s = static_cast<double>(xfade) / r;
    }
    item.effects.erase(0, item.effects.find_first_not_of(' '));
    prog.items.push_back(item);
    cursor = start + pcm.size();
  }
  mixer.finish();
  writer.close();
  prog.duration_s = static_cast<double>(mixer.end()) / r;
  return prog;
}

}  // namespace aircheck::eval
