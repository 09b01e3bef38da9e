// Query identification with speed hypotheses: PCM -> fingerprint -> match at normal speed; if
// that does not decide, the other speeds are screened cheaply and the query is matched again
// at the speed the best screen points to.
//
//   pcm ─▶ fingerprint ─▶ match ─▶ accepted? ──────────────────────────────▶ [refine] ─▶ done
//                           │ no (and not already a likely answer at this speed)
//                           └─▶ screens 0.98 ... 1.01: the same hashes rescaled to
//                               the speed, matched without the common hashes ─▶ best screen
//                               that stands out? ─▶ resample to its estimate (then, if that
//                               does not decide, to its speed) ─▶ fingerprint ─▶ match ─▶ ...
//
// The matcher's skew scoring follows speed changes of about ±2.5 % by itself, but beyond
// about ±1.5 % fewer and fewer landmark hashes survive (a frequency or time difference moves
// to the next bin). A hash is three numbers (anchor bin, bin difference, frame difference)
// that a speed change s scales by s, s and 1/s: rescaling them by a hypothesised speed brings
// most of them back onto the reference's values without fingerprinting again. Matched with at
// most `screen_max_postings` postings per hash, a screen costs about a seventh (10-s queries)
// to a fifth (2-s queries) of a full pass, and a screen within ±1 % of the query's speed
// names the right track and measures its speed; the full pass at that estimate then decides
// as the normal one would. Audio that matches nothing costs one full pass and the screens.
//
// A decided candidate whose speed differs from its pass's by more than `refine_residual` has
// its speed measured again on the query resampled near its estimate: at a residual of about
// 1 % the matcher's estimate falls short by up to ~0.35 %, near 0 it does not. In heavy noise
// the first pass can also read a slope of a few tenths of a percent from chance votes around a
// query at normal speed: there such a slope replaces the straight alignment only when chance
// explains it less well (`flat_slope`), and when the refinement finds no drift in a slope that
// did, the offset is read from the line's votes without it.
//
// Each speed looked at is one more chance for noise, so the chance probability of a deciding
// pass is multiplied by the number of speeds screened or matched so far (refinement excluded:
// it cannot change the decision).
//
// One Identifier per thread; identify() reuses its buffers.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dsp/fingerprinter.h"
#include "matcher/matcher.h"

namespace aircheck::matcher {

struct IdentifyOptions {
  /// Playback speeds: the first is matched in full (normally 1); the others are screened when
  /// the first does not decide. Steps of 2 % put every speed within ±6 % within ±1 % of one
  /// of {1, 0.98, 1.02, 0.96, 1.04, 0.94, 1.06}: a speed at ±5 % lies at the edge of the
  /// reach of 0.96 and 1.04 (the outer two screens took 10-s queries at 0.95 and 1.05 from
  /// 98.2 / 98.5 to 99.4 / 99.3 % on one draw of 1000). Speeds exactly between two of them,
  /// 1 % from normal and from 0.98 / 1.02, are still the worst placed: a steady high passage
  /// loses its peaks to a 1 % bin shift either way, so the last two screens are 0.99 and 1.01
  /// (10-s queries at 0.99 / 1.01: 99.1 / 98.8 -> 99.5 / 99.0 % on one draw of 1000).
  std::vector<double> speeds = {1.0, 0.98, 1.02, 0.96, 1.04, 0.94, 1.06, 0.99, 1.01};
  /// A query shorter than `short_query_s` screens only the first `short_query_speeds` speeds
  /// of the list. The two screens at 0.99 / 1.01 add 16-18 % to the cost of a query that
  /// matches nothing at any length; at 2 s that is the costliest query against the engine
  /// before speed handling (1.54x without them, 1.85x with, side by side), for 1-2 points at
  /// 0.99 / 1.01 (2-s queries: 90.2 / 89.2 -> 91.3 / 90.9 % on one draw of 1000).
  double short_query_s = 3.0;
  std::size_t short_query_speeds = 7;
  /// Screens read at most this many postings per hash (common hashes are most of the votes
  /// and most of the chance alignments, and carry little evidence).
  uint32_t screen_max_postings = 25;
  /// A screen's best candidate is followed by a full pass only with at least this many
  /// anchors ...
  uint32_t screen_min_anchors = 4;
  /// ... and this many more than the screen's best candidate of another track (the chance
  /// level of that screen, which grows with the query's length and the index's size).
  uint32_t screen_min_lead = 3;
  /// Screens look for a speed change. They are skipped when the first pass's best candidate,
  /// though undecided, has the decision rule's votes and at least this confidence (chance
  /// probability 1 %) and is measured
  /// within `screen_skip_residual` of the first pass's speed: there is no speed change to
  /// find, and a reading 2 % away only explains the same audio worse. Most short queries
  /// (the decision rule rarely decides 2 s) stop here: at 2 s this halves the work per
  /// matching query without changing an answer in the evaluation. 1 or more screens always.
  float screen_skip_confidence = 0.99f;
  double screen_skip_residual = 0.005;
  /// A decided candidate whose speed estimate is this far (relative) from the speed its pass
  /// was matched at has its speed measured again near its estimate. 0 turns refinement off.
  double refine_residual = 0.003;
  /// The pass at normal speed, where most audio plays, weighs a line of a slope under this
  /// against the straight alignment by chance (MatchParams::flat_slope): in heavy noise the
  /// best of the slopes holds a few more anchors than the straight cell by chance, and the
  /// offset extrapolated along it is a frame or two off (10-s queries at 0 dB: 97.3 -> 98.1 %
  /// on one draw of 1000). The other passes, where a residual slope is expected, weigh every
  /// slope alike. Under 1 %, so that speeds at the screens' midpoints keep their lines (5-s
  /// queries at 0.99 / 1.01 lost 9 / 5 of 1000 with every slope weighed so); 0 turns this off.
  double flat_slope = 0.007;
  /// Repeats: when candidates of the top track at other offsets reach this share of its
  /// anchors (a track that loops repeats its audio), each of them is weighed again with the
  /// query fingerprinted at `verify_phases` frame phases (0, 1/n, ... of a hop), and the one
  /// with the most agreeing anchors over all phases leads. A query read at another phase
  /// than the reference's frames loses hashes; the repeat whose frames happen to line up
  /// best with the query's can outscore the true position at one phase, rarely over all.
  /// Phase 0 is counted from the deciding pass's votes; each other phase costs a
  /// fingerprint and a seek per hash (PostingLookup::lookup_track). Two phases keep 10-s
  /// queries at the cost of one pass (sorting the votes got cheaper by as much); four gain
  /// up to 0.6 points more in noise for ~1.5x the CPU. verify_phases < 2 turns this off.
  double verify_share = 0.5;
  int verify_phases = 2;
  /// ... and only when the top candidate has at least min_votes votes and this confidence
  /// (the track stands out; most audio that is not indexed stops here).
  float verify_min_confidence = 0.9f;
  /// Then the repeats are compared by the second fingerprint the index keeps: sub-band energy
  /// words (PostingLookup::subband), read at the phases above, along each repeat's line. Landmark
  /// peaks are sparse: repeats that differ in a quiet part, or in how their frames fall, explain
  /// nearly as many anchors; the words see every band in every frame. The repeat whose words
  /// disagree least with the query's takes the lead when its bit error rate is lower than the
  /// leader's by this many nominal standard errors (0.5 / sqrt(bits compared), the spread of a
  /// rate estimated from that many independent bits; neighbouring words share most of their
  /// 13-frame sums, so the true spread is several times larger and this is a scale, not a
  /// test level); 0 turns this off. Costs a read of the track's words and a popcount per word
  /// and repeat; the words come with the fingerprints.
  double verify_word_sigmas = 1.0;
  /// The query's words are compared at this many frame phases (0, 1/n, ...; each repeat at
  /// the one that agrees best). A query whose frames fall a quarter of a hop from the
  /// reference's reads words that differ from the reference's at its true position, and a near
  /// copy elsewhere in the track whose frames happen to fall on the query's can then agree
  /// better (A-0036: repeats 21-24 dB alike). Phases 0 and 1/2 come with the readings above;
  /// each other one is read for its words alone (an FFT per frame, no peaks): at 4, about
  /// 11 % more CPU for a matching query, none for most non-indexed ones (no repeats to weigh).
  int word_phases = 4;
  /// Then a paired test (when the rates above leave the leader): of the bits where exactly one
  /// of the two, the leader or another repeat, agrees with the query, the repeat must hold
  /// more than half by this many standard deviations (sqrt of their count) to take the lead.
  /// Where the two references agree the query's bit favours neither, so the test weighs only
  /// where near copies differ (a loop's repeats 30 dB alike differ in a few bits a frame,
  /// drowned in the rates of all bits). It counts the sub-band words and the fine words
  /// (dsp::Params::kFineBands bits a frame, each frame on its own; PostingLookup::fine).
  /// Chosen on the tuning draw: with the fine words 2.5, 3 and 4 (2.5 and 3 alike, 4 gained
  /// half as much); with the sub-band words alone 2 and 3. 0 turns it off.
  double word_pair_z = 3.0;
  /// The fine words count only where the query's residual speed (its pitch against the
  /// reference's) is within this of 1: a 1 % pitch shift moves the upper bands by a sixth
  /// of their width, and the bits then mostly disagree by chance (5-s queries at 0.99 / 1.01
  /// lost 6 / 5 of 1000 with them counted at any speed).
  double fine_max_pitch = 0.003;
  /// Repeats are compared along the top candidate's residual slope, unless it drifts the
  /// query by fewer than this many frames over its length (the bound for a stretched reading
  /// too): such a slope is mostly the fit's chance (a clean 5-s query read at 0.9986), and
  /// along it a query whose frames fall a quarter of a frame from the reference's crosses to
  /// the next reference frame halfway through, so that its true position agrees worse than a
  /// near copy whose frames happen to fall the other way (A-0025: repeats 21 dB alike, 0.047
  /// against 0.029 of the bits). Those repeats are compared along the straight line. Chosen on
  /// the tuning draw against keeping the slope and against reading each repeat along both
  /// and keeping the better (+5 / -2 and +1 / -1 queries over its 5- and 10-s cells).
  double word_straight_frames = 2.0;
  /// Each repeat is compared at its best-agreeing phase while the words are clean; when the
  /// leader's best phase still disagrees in this share of the bits (noisy words), by its mean
  /// over the phases instead: which phase agrees best is then mostly chance, and the mean of
  /// four readings has less of it. Chosen on the tuning draw from 0, 0.1, 0.2, 0.3 (0: always
  /// the mean, which loses clean queries whose repeats differ in how their frames fall; 1:
  /// never).
  double word_mean_above = 0.1;
  /// A pass whose top_k candidates are all lines of one track (music that repeats a short
  /// figure matches along many of its repeats) ranks up to this many, and its lines with at
  /// least `repeat_share` of the leader's anchors join the repeats weighed: in noise the right
  /// one can fall just beyond the top_k places (a drum figure every 0.6 s). A lower share
  /// brings in more lines and more chances for a wrong one's words to agree by chance.
  /// repeat_candidates <= top_k turns this off.
  uint32_t repeat_candidates = 15;
  double repeat_share = 0.9;
};

struct Identification {
  /// Candidates of the decisive pass (the accepted one, else the most confident), best first;
  /// query_first/query_last in frames of the original query; speed is the overall estimate
  /// (the pass's speed times the residual the matcher measured).
  std::vector<Candidate> candidates;
  bool accepted = false;
  double hypothesis = 1.0;  ///< speed of the pass the candidates come from
  int tried = 0;            ///< full passes (fingerprint + match), refinement included
  int screened = 0;         ///< speeds screened with rescaled hashes
  int verified = 0;         ///< candidates weighed again as repeats of the top one (0: none)
  std::size_t hashes = 0;   ///< query hashes, summed over full passes
  uint64_t postings = 0;    ///< postings read, summed over passes and screens
  double fingerprint_ms = 0, match_ms = 0;  ///< screens are counted in match_ms
};

class Identifier {
 public:
  Identifier(const dsp::Params& params, const MatchParams& mp = {},
             const IdentifyOptions& opt = {});

  /// `pcm`: mono at params.sample_rate. The result is valid until the next call.
  const Identification& identify(std::span<const float> pcm, store::PostingLookup& index);

  const Matcher& matcher() const { return matcher_; }

 private:
  dsp::Params params_;
  IdentifyOptions opt_;
  dsp::Fingerprinter fp_;
  Matcher matcher_;
  std::vector<dsp::TimedHash> hashes_;   // of the first pass
  std::vector<dsp::TimedHash> scratch_;  // rescaled hashes, or another pass's
  std::vector<float> stretched_;
  Identification result_;
  std::vector<Candidate> best_;
  std::vector<Candidate> wide_;
  std::vector<Candidate> ties_;
  std::vector<std::size_t> tie_at_;
  std::vector<uint32_t> tie_support_;
  std::vector<uint32_t> stretched_support_;
  std::vector<uint32_t> words_;       // sub-band words of the last hash()
  std::vector<uint32_t> best_words_;  // ... of the pass best_ comes from
  std::vector<uint64_t> fine_;        // fine words of the last hash()
  std::vector<uint64_t> best_fine_;   // ... of the pass best_ comes from
  struct PhaseWords {
    double phase = 0;  // of a hop
    std::vector<uint32_t> words;
    std::vector<uint64_t> fine;
  };
  std::vector<PhaseWords> phase_words_;  // ... of its readings at the other frame phases
  std::size_t phase_words_used_ = 0;
  struct WordRates {
    double best_rate = 2.0, mean_rate = 2.0;  // of the word bits that disagree
    uint64_t best_bits = 0, mean_bits = 0;    // bits compared
  };
  std::vector<WordRates> word_rates_;  // per repeat in ties_
  struct TieWords {
    int64_t lo = 0;                // reference frame of words[0]
    std::vector<uint32_t> words;   // the reference's words over the repeat's span
    std::vector<uint64_t> fine;    // ... and its fine words
    bool ended = false;            // the track ends within the span
    std::vector<int> shift;        // per reading: the best-agreeing shift (-1, 0, 1 frames)
    std::size_t best_reading = 0;  // the reading that agrees best
  };
  std::vector<TieWords> tie_words_;  // per repeat in ties_
  int match_gen_ = 0;                // matcher_.match() calls so far: whose votes the matcher holds
  int best_gen_ = -1;                // the call best_ comes from

  /// Resamples `pcm` to `speed`, fingerprints it into `out` and matches; returns the
  /// candidates (valid until the next match) and the length ratio of the pass to `pcm`.
  std::span<const Candidate> pass(std::span<const float> pcm, double speed,
                                  std::vector<dsp::TimedHash>& out, store::PostingLookup& index,
                                  double& ratio);
  /// Fingerprints `x` (query side) into `out`, replacing its contents; timed as fingerprinting.
  void hash(std::span<const float> x, std::vector<dsp::TimedHash>& out);
  /// `pcm` stretched to undo `speed` (pcm itself at normal speed; else in stretched_).
  std::span<const float> at_speed(std::span<const float> pcm, double speed);
  /// Weighs best_'s repeats of its top candidate at every frame phase (IdentifyOptions::
  /// verify_phases); `speed`: the speed of the pass best_ comes from; `accepted`: whether it
  /// decided the query.
  void verify_repeats(std::span<const float> pcm, double speed, bool accepted,
                      store::PostingLookup& index);
  /// Keeps words_ (the reading at `phase` of a hop) in phase_words_.
  void keep_phase_words(double phase);
  /// Reads the words of `x` (the deciding pass's reading) at the phases of word_phases that
  /// the anchors' readings do not cover, into phase_words_.
  void read_word_phases(std::span<const float> x);
  /// Index of the repeat in ties_ whose sub-band words best explain the query's, or `leader`
  /// when none does by verify_word_sigmas nor by the paired test (word_pair_z), or the index
  /// keeps no words. `residual`: the top candidate's reference frames per frame of the deciding
  /// pass (its pitch too; word_straight_frames says when the repeats are read along it).
  std::size_t compare_words(std::size_t leader, double residual, store::PostingLookup& index);
};

}  // namespace aircheck::matcher
