// Test hooks of the index. Not for production code: users never choose a map size.
#pragma once

#include <cstddef>

namespace aircheck::store::testing {

/// Map size, in bytes, given to indexes created or opened for writing from now on in this
/// process (default 64 MiB). Lets tests force many MDB_MAP_FULL growths with little data.
/// Any thread; takes effect at the next Index::open().
void set_initial_map_size(std::size_t bytes);

/// The current value of the above, in bytes.
std::size_t initial_map_size();

}  // namespace aircheck::store::testing
