#pragma once
// Where a play begins or ends, from how its sub-band words agree with the reference's.
//
// Along an airing's line (reference frame = a fixed reference frame plus the source frames
// since then times the play's speed), a source word agrees with the reference's in 16 of 32
// bits by chance, and in clearly more while the play is on air, at any level: the words see
// every band in every frame, where landmark peaks are sparse and lost under a louder item.
#include <cstddef>
#include <cstdint>
#include <span>

namespace aircheck::daemon {

struct WordChangeRule {
  /// A frame counts for the play when its word agrees in more than 16 + margin bits ...
  int margin = 3;
  /// ... and a change is reported only when the excess over that adds up to this many bits
  /// (about a second of frames one bit over).
  int min_excess = 64;
  /// A word sums 13 frames of spectrum: its agreement rises over the frames before the play
  /// begins, so the change point backwards lies this many frames before the play's start ...
  int lead_frames = 2;
  /// ... and the change point forwards this many frames before its end.
  int tail_frames = 4;
  /// Where a start is looked for: this far before and after the start that the matched hashes
  /// give, in seconds (after: past a start snapped up to 1.5 s early) ...
  double start_back_s = 3.0;
  double start_ahead_s = 2.5;
  /// ... and an end: this far before the end the matched hashes give (continuation windows can
  /// carry an airing seconds into the next item) and after it.
  double end_back_s = 6.0;
  double end_ahead_s = 2.0;
  /// A start the hashes place (not snapped to the reference's start) moves later than their
  /// first evidence by at most this (start_within_evidence): where they agree, the play was on
  /// air. On programmes 1-64 the words had moved 45 of 46 such crossfade starts and 5 of 28
  /// such starts at cuts further from the truth, by up to 2 s.
  double later_than_hashes_s = 0.05;
  /// A start snapped to the reference's start moves to the words' change point when that is
  /// at least this much later (SourceRunner::start_after_cut) ...
  double min_unsnap_s = 0.1;
  /// ... and the airing before it ends, by its own words, between this much before and this
  /// much after that point: a cut. On programmes 1-40, cuts from one indexed play to the next
  /// gave -0.27 .. +0.11 s; crossfades mostly +0.13 .. +2.1 s (the play before is heard after
  /// the next one is), and four -0.29 .. +0.03 s (moved 0.10-0.27 s late).
  double cut_before_s = 0.3;
  double cut_after_s = 0.12;
};

/// A match that the hashes alone do not decide yet (a window's best candidate with less than
/// the decision rule's confidence: the first seconds of a play) is confirmed when the sub-band
/// words agree with its reference's along its line, from its first agreeing anchor to the
/// newest word. They are a second fingerprint of the same audio, independent of the landmark
/// peaks: on 5.6 h of non-indexed music and ambience, the candidates the hashes proposed had
/// words in 45-55 % disagreement (standard deviation 0.006-0.012), plays on air 5-35 %.
struct WordCheckRule {
  /// Candidates below this hash confidence are not checked. The combined chance (the hashes'
  /// times the words', word_chance) must still reach the decision rule's confidence, so this
  /// bounds the work rather than the errors: 0.2 confirmed plays on the 1038-track index
  /// (whose confidences run low) 0.4 s sooner at p50 than 0.5 did, for no measurable CPU and
  /// no false airing on 5.6 h of non-indexed audio (bench/RESULTS.md, "Loops").
  float min_confidence = 0.2f;
  /// At least this many frames with words (62: one second) ...
  int64_t min_frames = 62;
  /// ... from the candidate's first agreeing anchor to the newest word, or over the newest
  /// this many, whichever agree better: speech over a play's first seconds takes its words to
  /// 44-47 % disagreement there while its hashes already agree (A-0044 on programme 62,
  /// announced 8.6 s after its start). The chance of the span read is what counts.
  int64_t recent_frames = 62;
  /// ... disagreeing in at most this fraction of their bits ...
  double max_error_rate = 0.35;
  /// ... or this, for a line that opens its track (its first agreeing hash at the reference's
  /// start): most plays begin there, and a track has few such lines against the offsets a
  /// chance candidate can fall on. Speech over an intro took A-0027's words to 36-39 %
  /// (programme seed 3, announced 10 s after its start; 3.9 s at 0.38). Unrelated candidates
  /// read 45-55 %. On programmes 1-20 and the 1038-track index no false airing more at 0.38
  /// or 0.40, nor on 5.6 h of non-indexed audio at 0.38 (bench/RESULTS.md); 0.40 for every
  /// line had added one.
  double max_error_rate_at_start = 0.38;
  /// ... and in fewer, by this many standard errors (word_chance's), than along the lines of
  /// the window's other candidates of the track (repeats of its own audio). 0: the line that
  /// agrees best (ties: every one of them). A margin held back the plays of looping tracks,
  /// whose repeats agree about as well, for seconds; with none, more of their airings open on
  /// a repeat and adopt the true offset later (28 of 229 starts against 24 of 228 at 3, on
  /// programmes 1-12).
  double word_margin = 0.0;
  /// Each line is read shifted by up to this many frames either way (its offset and speed are
  /// measured on few anchors), and the best reading counts.
  int shift_frames = 2;
  /// Only for plays this close to normal speed (relative): the reach of the matcher's line
  /// slopes. A play off speed has its words' bands shifted by as much (33 bands over 3.3
  /// octaves: 7 % each), which lowers their agreement along its line without removing it.
  double max_speed_off = 0.035;
  /// Further off normal speed than this, a candidate is not confirmed while the words along
  /// a line of another track among the window's candidates agree within max_error_rate too
  /// (a passage both tracks share; near normal speed the words tell the copy on air from
  /// another track's rougher copy, 3-5 % of bits against 34 %). Without it, the word check
  /// off speed opened one false airing on programmes 13-20: 0.9 s of a track sharing the
  /// opening of the track played 2.3 % fast.
  double shared_check_speed_off = 0.01;
};

/// Chance that words of unrelated audio agree in at least `agree_bits` of `frames` words'
/// 32 bits, each word summing `word_frames` frames of spectrum: a normal tail, the bits of
/// overlapping words counted as frames * 32 / word_frames independent ones. That count is
/// conservative: on non-indexed music the spread of the disagreement is 2-3x narrower than it
/// assumes. 1 when the agreement is not above chance.
double word_chance(int64_t frames, int64_t agree_bits, int word_frames);

/// Where a start the hashes placed at `hash_start_s` (their first evidence less the decision's
/// `start_bias_s`) goes when the words' change point puts it at `words_start_s`: there, but no
/// later than the first evidence plus rule.later_than_hashes_s. Seconds.
double start_within_evidence(double hash_start_s, double words_start_s, double start_bias_s,
                             const WordChangeRule& rule = {});

/// `agree[i]`: bits (0..32) by which the i-th frame in search order agrees with the reference
/// (16 where either word is unknown). Returns the i from which the excess of agreement over
/// 16 + margin, summed from the first frame in search order to i, is largest: the last frame of
/// the play seen from outside it (search order: from inside the play outwards, e.g. backwards
/// from after a start); -1 when that excess does not reach min_excess.
std::ptrdiff_t word_change_point(std::span<const int8_t> agree, const WordChangeRule& rule = {});

}  // namespace aircheck::daemon
