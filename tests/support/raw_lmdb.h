// Writes to an index's LMDB files behind its back, for tests of what an Index must cope with.
#pragma once

#include <gtest/gtest.h>
#include <lmdb.h>

#include <filesystem>
#include <string>

namespace aircheck::test {

/// Runs `change` in a write transaction of the LMDB environment in `dir` (the Index of `dir`
/// must not be open in this process).
template <class Change>
void raw_write(const std::filesystem::path& dir, Change&& change) {
  MDB_env* env = nullptr;
  ASSERT_EQ(mdb_env_create(&env), 0);
  mdb_env_set_maxdbs(env, 8);
  ASSERT_EQ(mdb_env_open(env, dir.c_str(), 0, 0664), 0);
  MDB_txn* txn = nullptr;
  ASSERT_EQ(mdb_txn_begin(env, nullptr, 0, &txn), 0);
  change(txn);
  ASSERT_EQ(mdb_txn_commit(txn), 0);
  mdb_env_close(env);
}

/// Removes the "fine" database and its meta entry, as an index written before fine words has
/// neither.
inline void raw_drop_fine(const std::filesystem::path& dir) {
  raw_write(dir, [&](MDB_txn* txn) {
    MDB_dbi dbi = 0;
    ASSERT_EQ(mdb_dbi_open(txn, "fine", 0, &dbi), 0);
    ASSERT_EQ(mdb_drop(txn, dbi, 1), 0);
    ASSERT_EQ(mdb_dbi_open(txn, "meta", 0, &dbi), 0);
    std::string key = "fine_format";
    MDB_val k{key.size(), key.data()};
    ASSERT_EQ(mdb_del(txn, dbi, &k, nullptr), 0);
  });
}

}  // namespace aircheck::test
