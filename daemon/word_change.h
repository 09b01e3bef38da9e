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
};

/// `agree[i]`: bits (0..32) by which the i-th frame in search order agrees with the reference
/// (16 where either word is unknown). Returns the i from which the excess of agreement over
/// 16 + margin, summed from the first frame in search order to i, is largest: the last frame of
/// the play seen from outside it (search order: from inside the play outwards, e.g. backwards
/// from after a start); -1 when that excess does not reach min_excess.
std::ptrdiff_t word_change_point(std::span<const int8_t> agree, const WordChangeRule& rule = {});

}  // namespace aircheck::daemon
