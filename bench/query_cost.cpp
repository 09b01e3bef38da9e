// aircheck-query-cost: CPU per query of identification alone (fingerprint + match, speed
// screens and repeat weighing included), for cost comparisons between engine versions.
//
//   aircheck-query-cost [--speeds LIST] INDEX REPS FILE...
//
// --speeds: the speeds tried (IdentifyOptions::speeds, comma-separated, normal speed first)
// instead of the default list, to price another list against it with the same binary.
// Decodes every FILE once (to the fingerprint rate), identifies each once to warm the index
// pages and buffers, then identifies all of them REPS times on one thread and prints the
// process CPU time per query of that loop, with the work it did. Decoding is outside the
// measurement. The file builds against engines without matcher/identify.h too (one plain
// match per query), so the same harness can be compiled into an older checkout.
#include <time.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <sstream>
#include <string>
#include <vector>

#include "dsp/decode/decoder.h"
#include "dsp/fingerprinter.h"
#include "matcher/matcher.h"
#include "store/index.h"
#if __has_include("matcher/identify.h")
#include "matcher/identify.h"
#define AIRCHECK_HAVE_IDENTIFY 1
#endif

using namespace aircheck;

namespace {

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<double> speeds;
  if (argc > 2 && std::string(argv[1]) == "--speeds") {
    std::stringstream list(argv[2]);
    for (std::string item; std::getline(list, item, ',');)
      speeds.push_back(std::atof(item.c_str()));
    argc -= 2;
    argv += 2;
  }
  if (argc < 4) {
    std::fprintf(stderr, "usage: aircheck-query-cost [--speeds LIST] INDEX REPS FILE...\n");
    return 2;
  }
  try {
    const dsp::Params params;
    auto index = store::Index::open(argv[1], store::Format{params.digest(), params.describe()},
                                    store::OpenMode::read_only);
    const int reps = std::atoi(argv[2]);
    if (reps < 1) {
      std::fprintf(stderr, "aircheck-query-cost: REPS must be at least 1, not '%s'\n", argv[2]);
      return 2;
    }
    std::vector<std::vector<float>> queries;
    dsp::decode::OpenOptions open;
    open.sample_rate = params.sample_rate;
    for (int i = 3; i < argc; ++i) queries.push_back(dsp::decode::decode_all(argv[i], open));

    auto reader = index->reader();
    reader->begin();
    double accepted = 0, passes = 0, screens = 0, weighed = 0;
#ifdef AIRCHECK_HAVE_IDENTIFY
    matcher::IdentifyOptions options;
    if (!speeds.empty()) options.speeds = speeds;
    matcher::Identifier id(params, {}, options);
    const auto one = [&](const std::vector<float>& q) {
      const auto& r = id.identify(q, *reader);
      accepted += r.accepted;
      passes += r.tried;
      screens += r.screened;
      weighed += r.verified > 0;
    };
#else
    dsp::Fingerprinter fp(params, dsp::Side::query);
    matcher::Matcher m(params);
    std::vector<dsp::TimedHash> hashes;
    const auto one = [&](const std::vector<float>& q) {
      hashes.clear();
      fp.reset();
      fp.feed(q, hashes);
      fp.flush(hashes);
      const auto c = m.match(hashes, *reader);
      accepted += !c.empty() && m.accepted(c.front());
      passes += 1;
    };
#endif
    for (const auto& q : queries) one(q);  // warm-up
    accepted = passes = screens = weighed = 0;
    const double t0 = cpu_seconds();
    for (int r = 0; r < reps; ++r)
      for (const auto& q : queries) one(q);
    const double cpu = cpu_seconds() - t0;
    reader->end();
    const double n = static_cast<double>(reps) * static_cast<double>(queries.size());
    std::printf(
        "queries %.0f  cpu per query %.3f ms  passes %.2f  screens %.2f  repeats weighed %.2f  "
        "accepted %.3f\n",
        n, 1000.0 * cpu / n, passes / n, screens / n, weighed / n, accepted / n);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "aircheck-query-cost: %s\n", e.what());
    return 1;
  }
}
