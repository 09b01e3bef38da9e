// Writes a demo set: synthesized songs to index, and a programme that plays some of them
// (partly, with speech-like talk, other music and noise between, one sped up as radio does),
// with its running order.
//
//   aircheck-make-demo OUTDIR [--songs N] [--seed S]
#include <CLI/CLI.hpp>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

#include "bench/eval/synth.h"
#include "dsp/decode/decoder.h"
#include "dsp/decode/resample.h"

namespace fs = std::filesystem;
using namespace aircheck;

int main(int argc, char** argv) {
  CLI::App app{"write demo songs and a demo programme"};
  std::string out;
  int songs = 8;
  uint64_t seed = 2026;
  app.add_option("outdir", out, "output folder")->required();
  app.add_option("--songs", songs, "songs to write (default 8)");
  app.add_option("--seed", seed, "random seed");
  CLI11_PARSE(app, argc, argv);
  try {
    const int rate = 44100;
    fs::create_directories(fs::path(out) / "songs");
    std::vector<std::vector<float>> audio;
    const char* ext[] = {"flac", "mp3", "ogg", "m4a"};
    for (int i = 0; i < songs; ++i) {
      const double secs = 40.0 + 10.0 * (i % 4);
      audio.push_back(eval::synth_music(seed + static_cast<uint64_t>(i), {secs, rate, 0.3}));
      char name[64];
      std::snprintf(name, sizeof name, "song-%02d.%s", i + 1, ext[i % 4]);
      dsp::decode::encode_file((fs::path(out) / "songs" / name).string(), audio.back(), rate,
                               160000);
    }
    // Programme: talk, song 2 (whole), other music, song 5 from 12 s for 20 s, talk, song 1
    // from its start for 25 s under light noise, talk, song 7 from its start for 30 s played
    // 2.5 % fast (tempo and pitch, as a station's pitch control does).
    std::vector<float> prog;
    std::ofstream truth(fs::path(out) / "programme.tsv");
    truth << "start_s\tend_s\tsong\tref_start_s\tspeed\n";
    auto append = [&](const std::vector<float>& x, std::size_t from, std::size_t len,
                      const char* what, double ref_start, double speed = 1.0) {
      const double t0 = static_cast<double>(prog.size()) / rate;
      len = std::min(len, x.size() - from);
      prog.insert(prog.end(), x.begin() + static_cast<long>(from),
                  x.begin() + static_cast<long>(from + len));
      if (what)
        truth << t0 << '\t' << static_cast<double>(prog.size()) / rate << '\t' << what << '\t'
              << ref_start << '\t' << speed << '\n';
    };
    auto talk = eval::synth_babble(seed + 100, {6.0, rate, 0.25});
    auto other = eval::synth_music(seed + 1000, {10.0, rate, 0.3});
    append(talk, 0, talk.size(), nullptr, 0);
    if (songs >= 2) append(audio[1], 0, audio[1].size(), "song-02", 0);
    append(other, 0, other.size(), nullptr, 0);
    if (songs >= 5) append(audio[4], 12 * rate, 20 * rate, "song-05", 12);
    append(talk, 0, talk.size(), nullptr, 0);
    const std::size_t before = prog.size();
    append(audio[0], 0, 25 * rate, "song-01", 0);
    std::mt19937 rng(static_cast<unsigned>(seed));
    std::normal_distribution<float> g(0.0f, 0.02f);
    for (std::size_t i = before; i < prog.size(); ++i) prog[i] += g(rng);
    if (songs >= 7) {
      append(talk, 0, talk.size(), nullptr, 0);
      const double speed = 1.025;
      const auto fast =
          dsp::decode::resample(audio[6], rate, static_cast<int>(std::lround(rate / speed)));
      append(fast, 0, static_cast<std::size_t>(30 * rate), "song-07", 0, speed);
    }
    dsp::decode::encode_file((fs::path(out) / "programme.wav").string(), prog, rate);
    std::printf("wrote %d songs to %s/songs and a %.0f s programme to %s/programme.wav\n", songs,
                out.c_str(), static_cast<double>(prog.size()) / rate, out.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aircheck-make-demo: %s\n", e.what());
    return 1;
  }
  return 0;
}
