// Move-only owners of LMDB handles. Private to store/: nothing outside this folder sees lmdb.h.
//
// These wrappers only own; they do not check return codes of the calls that create the
// handles (index.cpp does, to name the folder and the remedy). Destruction never throws.
#pragma once

#include <lmdb.h>

#include <utility>

namespace aircheck::store::lmdb {

/// Owns an MDB_env; mdb_env_close on destruction. Close only after every transaction and
/// cursor of the environment has ended (LMDB's rule).
class Env {
 public:
  Env() = default;
  explicit Env(MDB_env* e) : env_(e) {}
  Env(Env&& o) noexcept : env_(std::exchange(o.env_, nullptr)) {}
  Env& operator=(Env&& o) noexcept {
    if (this != &o) {
      reset();
      env_ = std::exchange(o.env_, nullptr);
    }
    return *this;
  }
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env() { reset(); }

  MDB_env* get() const { return env_; }
  /// Gives up ownership without closing.
  [[nodiscard]] MDB_env* release() { return std::exchange(env_, nullptr); }
  void reset() {
    if (env_ != nullptr) mdb_env_close(std::exchange(env_, nullptr));
  }

 private:
  MDB_env* env_ = nullptr;
};

/// Owns an MDB_txn, read or write. Destruction aborts a transaction that was neither
/// committed nor released. commit() gives up ownership whatever its result, as LMDB frees
/// the transaction in every case.
class Txn {
 public:
  Txn() = default;
  explicit Txn(MDB_txn* t) : txn_(t) {}
  Txn(Txn&& o) noexcept : txn_(std::exchange(o.txn_, nullptr)) {}
  Txn& operator=(Txn&& o) noexcept {
    if (this != &o) {
      abort();
      txn_ = std::exchange(o.txn_, nullptr);
    }
    return *this;
  }
  Txn(const Txn&) = delete;
  Txn& operator=(const Txn&) = delete;
  ~Txn() { abort(); }

  MDB_txn* get() const { return txn_; }
  explicit operator bool() const { return txn_ != nullptr; }
  /// Gives up ownership without ending the transaction.
  [[nodiscard]] MDB_txn* release() { return std::exchange(txn_, nullptr); }
  /// Returns mdb_txn_commit's code; the handle is gone afterwards.
  [[nodiscard]] int commit() { return mdb_txn_commit(std::exchange(txn_, nullptr)); }
  void abort() {
    if (txn_ != nullptr) mdb_txn_abort(std::exchange(txn_, nullptr));
  }

 private:
  MDB_txn* txn_ = nullptr;
};

/// Owns an MDB_cursor; mdb_cursor_close on destruction. A cursor of a write transaction must
/// be destroyed before that transaction commits or aborts; a cursor of a read-only
/// transaction outlives it and may be renewed (mdb_cursor_renew) in a later one.
class Cursor {
 public:
  Cursor() = default;
  explicit Cursor(MDB_cursor* c) : cur_(c) {}
  Cursor(Cursor&& o) noexcept : cur_(std::exchange(o.cur_, nullptr)) {}
  Cursor& operator=(Cursor&& o) noexcept {
    if (this != &o) {
      reset();
      cur_ = std::exchange(o.cur_, nullptr);
    }
    return *this;
  }
  Cursor(const Cursor&) = delete;
  Cursor& operator=(const Cursor&) = delete;
  ~Cursor() { reset(); }

  MDB_cursor* get() const { return cur_; }
  explicit operator bool() const { return cur_ != nullptr; }
  /// Gives up ownership without closing.
  [[nodiscard]] MDB_cursor* release() { return std::exchange(cur_, nullptr); }
  void reset() {
    if (cur_ != nullptr) mdb_cursor_close(std::exchange(cur_, nullptr));
  }

 private:
  MDB_cursor* cur_ = nullptr;
};

}  // namespace aircheck::store::lmdb
