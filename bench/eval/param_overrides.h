// Fingerprint parameters set from text, for experiments: "index_peaks=18", "band_weight=0.2".
//
// The defaults of dsp::Params are the index format of a build; an evaluation may try other
// values on an index built for them (see QueryEvalOptions::overrides). Index-side fields
// change Params::digest(), so each set of them needs its own index; query-side fields
// (query_peaks, query_fanout) do not.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "dsp/params.h"

namespace aircheck::eval {

/// Names of the dsp::Params fields that can be set, in declaration order ("sample_rate", ...,
/// "query_fanout"). Each is the field's name in dsp/params.h.
const std::vector<std::string>& param_keys();

/// Sets one field of `p` from "KEY=VALUE". Integer fields take an integer, the others a finite
/// decimal number; spaces are not allowed. Checks the form only: the value is not checked
/// against the other fields (see with_overrides). Throws std::invalid_argument naming the
/// text, and the allowed keys when the key is unknown. Thread-safe.
void apply_override(dsp::Params& p, std::string_view assignment);

/// `base` with every assignment applied in order (a later one of the same key wins), then
/// validated. Throws std::invalid_argument (see apply_override and dsp::Params::validate).
dsp::Params with_overrides(dsp::Params base, const std::vector<std::string>& assignments);

/// The query-side fields, which Params::describe() leaves out: "query_peaks=28 query_fanout=8".
std::string describe_query_side(const dsp::Params& p);

}  // namespace aircheck::eval
