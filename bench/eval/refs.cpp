#include "bench/eval/refs.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>

#include "dsp/decode/decoder.h"

namespace aircheck::eval {
namespace fs = std::filesystem;

namespace {

bool is_audio(const fs::path& p) {
  static constexpr std::array<std::string_view, 8> kExt = {".wav",  ".flac", ".mp3", ".ogg",
                                                           ".opus", ".m4a",  ".aac", ".wma"};
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(kExt.begin(), kExt.end(), ext) != kExt.end();
}

std::vector<RefTrack> from_tsv(const fs::path& dir) {
  std::ifstream in(dir / "refs.tsv");
  std::vector<RefTrack> out;
  std::string line;
  int lineno = 0;
  while (std::getline(in, line)) {
    ++lineno;
    if (lineno == 1 && line.rfind("id\t", 0) == 0) continue;
    if (line.empty()) continue;
    std::istringstream ss(line);
    std::string id, path, dur;
    if (!std::getline(ss, id, '\t') || !std::getline(ss, path, '\t') ||
        !std::getline(ss, dur, '\t')) {
      throw std::runtime_error((dir / "refs.tsv").string() + ":" + std::to_string(lineno) +
                               ": expected id, path, duration separated by tabs");
    }
    RefTrack t;
    t.path = fs::absolute(dir / path).lexically_normal();
    t.id = id;
    t.duration_s = std::stod(dur);
    if (fs::exists(t.path)) out.push_back(std::move(t));
  }
  return out;
}

}  // namespace

std::vector<RefTrack> list_refs(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir.string() + ": no such folder");
  std::vector<RefTrack> out;
  if (fs::exists(dir / "refs.tsv")) {
    out = from_tsv(dir);
  } else {
    for (const auto& e : fs::recursive_directory_iterator(dir)) {
      if (!e.is_regular_file() || !is_audio(e.path())) continue;
      RefTrack t;
      t.path = fs::absolute(e.path()).lexically_normal();
      t.id = e.path().stem().string();
      try {
        dsp::decode::Decoder d(t.path.string());
        t.duration_s = d.metadata().duration_s;
      } catch (const std::exception& ex) {
        std::cerr << "warning: skipping " << t.path.string() << ": " << ex.what() << "\n";
        continue;
      }
      out.push_back(std::move(t));
    }
  }
  std::sort(out.begin(), out.end(),
            [](const RefTrack& a, const RefTrack& b) { return a.path < b.path; });
  if (out.empty()) throw std::runtime_error(dir.string() + ": no audio files found");
  return out;
}

}  // namespace aircheck::eval
