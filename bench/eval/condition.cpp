#include "bench/eval/condition.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

#include "bench/eval/degrade.h"
#include "bench/eval/random.h"
#include "bench/eval/speech.h"

namespace aircheck::eval {
namespace {

constexpr const char* kForms =
    "clean, white:SNR_DB, mp3:KBPS, aac:KBPS, speed:RATIO, tempo:RATIO, band:tel, band:am, "
    "compress, reverb[:RT60_S], speech:DB";

double number(std::string_view text, std::string_view arg) {
  double v = 0;
  const auto* end = arg.data() + arg.size();
  const auto [p, ec] = std::from_chars(arg.data(), end, v);
  if (ec != std::errc() || p != end || !std::isfinite(v)) {
    throw std::invalid_argument("condition '" + std::string(text) + "': '" + std::string(arg) +
                                "' is not a number");
  }
  return v;
}

}  // namespace

Condition Condition::parse(std::string_view text) {
  Condition c;
  c.text = std::string(text);
  const auto colon = text.find(':');
  const std::string_view name = text.substr(0, colon);
  const std::string_view arg =
      colon == std::string_view::npos ? std::string_view{} : text.substr(colon + 1);
  auto need_arg = [&] {
    if (arg.empty()) {
      throw std::invalid_argument("condition '" + std::string(text) +
                                  "' needs a value; forms: " + kForms);
    }
  };
  if (name == "clean" && arg.empty()) {
    c.kind = Kind::clean;
  } else if (name == "white") {
    need_arg();
    c.kind = Kind::white;
    c.value = number(text, arg);
  } else if (name == "mp3" || name == "aac") {
    need_arg();
    c.kind = name == "mp3" ? Kind::mp3 : Kind::aac;
    c.value = number(text, arg);
    if (c.value < 8 || c.value > 512)
      throw std::invalid_argument("condition '" + c.text + "': kbit/s not in [8, 512]");
  } else if (name == "speed" || name == "tempo") {
    need_arg();
    c.kind = name == "speed" ? Kind::speed : Kind::tempo;
    c.value = number(text, arg);
    if (c.value < 0.5 || c.value > 2)
      throw std::invalid_argument("condition '" + c.text + "': ratio not in [0.5, 2]");
  } else if (name == "band") {
    c.kind = Kind::band;
    if (arg == "tel") {
      c.value = 0;
    } else if (arg == "am") {
      c.value = 1;
    } else {
      throw std::invalid_argument("condition '" + c.text + "': band must be tel or am");
    }
  } else if (name == "compress" && arg.empty()) {
    c.kind = Kind::compress;
  } else if (name == "reverb") {
    c.kind = Kind::reverb;
    c.value = arg.empty() ? 0.6 : number(text, arg);
    if (c.value <= 0 || c.value > 5)
      throw std::invalid_argument("condition '" + c.text + "': RT60 not in (0, 5] s");
  } else if (name == "speech") {
    need_arg();
    c.kind = Kind::speech;
    c.value = number(text, arg);
  } else {
    throw std::invalid_argument("unknown condition '" + std::string(text) + "'; forms: " + kForms);
  }
  return c;
}

double Condition::source_factor() const {
  return kind == Kind::speed || kind == Kind::tempo ? value : 1.0;
}

std::vector<Condition> parse_conditions(std::string_view list) {
  std::vector<Condition> out;
  while (!list.empty()) {
    const auto comma = list.find(',');
    const auto item = list.substr(0, comma);
    if (!item.empty()) out.push_back(Condition::parse(item));
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return out;
}

std::vector<float> apply_condition(const Condition& c, std::span<const float> src, int rate,
                                   uint64_t seed, const SpeechPool* speech) {
  using K = Condition::Kind;
  std::vector<float> y;
  switch (c.kind) {
    case K::clean:
      y.assign(src.begin(), src.end());
      break;
    case K::white:
      y = add_white_noise(src, c.value, mix64(seed, 1));
      break;
    case K::mp3:
    case K::aac:
      y = reencode(src, rate, c.kind == K::mp3 ? Codec::mp3 : Codec::aac,
                   static_cast<int64_t>(c.value * 1000));
      break;
    case K::speed:
      y = change_speed(src, rate, c.value);
      break;
    case K::tempo:
      y = change_tempo(src, rate, c.value);
      break;
    case K::band:
      y = band_limit(src, rate, c.value == 0 ? Band::telephone : Band::am);
      break;
    case K::compress:
      y = compress(src, rate);
      break;
    case K::reverb:
      y = reverberate(src, rate, c.value, 0.5, mix64(seed, 2));
      break;
    case K::speech: {
      if (!speech) throw std::invalid_argument("condition '" + c.text + "' needs a speech pool");
      if (speech->rate() != rate)
        throw std::invalid_argument("speech pool rate differs from the audio's");
      const auto s = speech->excerpt(mix64(seed, 3), src.size());
      y = mix_at(src, s, c.value);
      break;
    }
  }
  const auto want =
      static_cast<std::size_t>(std::llround(static_cast<double>(src.size()) / c.source_factor()));
  y.resize(want, 0.0f);
  return y;
}

}  // namespace aircheck::eval
