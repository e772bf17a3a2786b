// The backfill on PostgreSQL: every row of the key range exactly once (an increment that would show a
// second application), composite and unique-column keys, a table without a key refused by name,
// resume after SIGKILL, finishing under an insert load, and the throttle's pauses and retries.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <pqxx/pqxx>
#include <thread>

#include "migrator/error.h"
#include "migrator/expand/backfill.h"
#include "migrator/pg_test_database.h"

namespace migrator_test {
namespace {

using migrator::expand::backfill_done;
using migrator::expand::BackfillJob;
using migrator::expand::BackfillObserver;
using migrator::expand::BackfillOptions;
using migrator::expand::BackfillProgress;
using migrator::expand::BackfillResult;
using migrator::expand::run_backfill;
using ::testing::HasSubstr;

class Recorder : public BackfillObserver {
 public:
  void progress(const BackfillProgress& p) override { seen.push_back(p); }
  std::vector<BackfillProgress> seen;
};

// A proxy on a loopback port in front of the test server that holds every chunk of bytes, in either
// direction, `delay` before passing it on: a server across a network, as the backfill sees it. It
// serves one connection, then stops.
class DelayProxy {
 public:
  DelayProxy(const std::string& host, int port, std::chrono::milliseconds delay)
      : host_(host), server_port_(port), delay_(delay) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t size = sizeof address;
    if (listen_fd_ < 0 || bind(listen_fd_, reinterpret_cast<sockaddr*>(&address), size) != 0 ||
        listen(listen_fd_, 1) != 0 || getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
      throw std::runtime_error("delay proxy: cannot listen");
    }
    port_ = ntohs(address.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  DelayProxy(const DelayProxy&) = delete;
  DelayProxy& operator=(const DelayProxy&) = delete;
  ~DelayProxy() {
    stop_ = true;
    thread_.join();
    close(listen_fd_);
  }
  int port() const { return port_; }

 private:
  int connect_to_server() const {
    if (!host_.empty() && host_[0] == '/') {  // a socket directory
      int fd = socket(AF_UNIX, SOCK_STREAM, 0);
      sockaddr_un address{};
      address.sun_family = AF_UNIX;
      std::string path = host_ + "/.s.PGSQL." + std::to_string(server_port_);
      path.copy(address.sun_path, sizeof address.sun_path - 1);
      if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
      close(fd);
      return -1;
    }
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(server_port_));
    inet_pton(AF_INET, host_.empty() ? "127.0.0.1" : host_.c_str(), &address.sin_addr);
    if (connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
    close(fd);
    return -1;
  }

  void serve() {
    int client = -1;
    while (!stop_ && client < 0) {
      pollfd waiting{listen_fd_, POLLIN, 0};
      if (poll(&waiting, 1, 50) > 0) client = accept(listen_fd_, nullptr, nullptr);
    }
    if (client < 0) return;
    int server = connect_to_server();
    char buffer[65536];
    while (!stop_ && server >= 0) {
      pollfd fds[2] = {{client, POLLIN, 0}, {server, POLLIN, 0}};
      if (poll(fds, 2, 50) <= 0) continue;
      bool open = true;
      for (int i = 0; i < 2 && open; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t got = read(fds[i].fd, buffer, sizeof buffer);
        if (got <= 0) {
          open = false;
          break;
        }
        std::this_thread::sleep_for(delay_);
        int to = i == 0 ? server : client;
        for (ssize_t sent = 0; sent < got && open;) {
          ssize_t n = write(to, buffer + sent, static_cast<size_t>(got - sent));
          if (n <= 0) open = false;
          sent += n;
        }
      }
      if (!open) break;
    }
    if (server >= 0) close(server);
    close(client);
  }

  std::string host_;
  int server_port_;
  std::chrono::milliseconds delay_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class BackfillPg : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string problem;
    database_ = TestDatabase::create(&problem);
    ASSERT_NE(database_, nullptr) << problem;
  }

  int64_t number(const std::string& query) { return std::stoll(database_->query_value(query)); }

  // The table most tests backfill: ids 1 to `rows`, every hits 0 (see increment()).
  void create_items(int64_t rows) {
    database_->exec(
        "CREATE TABLE items (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0);"
        "INSERT INTO items (id) SELECT generate_series(1, " +
        std::to_string(rows) + ");");
  }

  // The checkpoint's rows_done of `table` for version 0007.
  int64_t rows_done(const std::string& table) {
    return number("SELECT rows_done FROM migrator.backfill_progress WHERE version = '0007' AND table_name = '" + table +
                  "'");
  }

  std::unique_ptr<TestDatabase> database_;
};

// hits = hits + 1 is not idempotent: a row walked twice, or a batch applied twice, shows as 2.
BackfillJob increment(const std::string& table) { return {"0007", "public", table, "\"hits\" = \"hits\" + 1", ""}; }

TEST_F(BackfillPg, EveryRowOfThePrimaryKeyRangeExactlyOnce) {
  database_->exec(
      "CREATE TABLE items (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0);"
      "INSERT INTO items (id) SELECT g * 3 FROM generate_series(1, 5000) g;");
  pqxx::connection conn(database_->url());
  EXPECT_FALSE(backfill_done(conn, "0007"));
  BackfillOptions options;
  options.batch_rows = 97;
  Recorder recorder;
  BackfillResult result = run_backfill(conn, {increment("items")}, options, &recorder);
  EXPECT_EQ(result.rows, 5000);
  EXPECT_GT(result.batches, 1);
  EXPECT_FALSE(result.resumed);
  EXPECT_EQ(result.paused_seconds, 0);  // no pause asked for
  EXPECT_EQ(database_->query_value("SELECT count(*) FILTER (WHERE hits = 1) || '/' || count(*) FROM items"),
            "5000/5000");
  EXPECT_EQ(rows_done("items"), 5000);
  EXPECT_TRUE(backfill_done(conn, "0007"));
  EXPECT_FALSE(backfill_done(conn, "0008"));
  ASSERT_FALSE(recorder.seen.empty());
  EXPECT_EQ(recorder.seen.back().rows_done, 5000);
  EXPECT_EQ(recorder.seen.back().rows_total, 5000);
  EXPECT_EQ(recorder.seen.back().table, "items");
  // The batch statement prepared for the job goes with it, and the session's settings are its own
  // again (the batches set theirs for their own transactions only).
  {
    pqxx::nontransaction tx(conn);
    EXPECT_EQ(tx.exec("SELECT count(*) FROM pg_prepared_statements")[0][0].as<int>(), 0);
    EXPECT_EQ(tx.exec("SELECT current_setting('migrator.backfill', true) IS DISTINCT FROM 'on' AND "
                      "current_setting('lock_timeout') = '0' AND current_setting('plan_cache_mode') = 'auto'")[0][0]
                  .as<bool>(),
              true);
  }

  // A second run finds the job finished and touches nothing.
  BackfillResult again = run_backfill(conn, {increment("items")}, options, nullptr);
  EXPECT_TRUE(again.resumed);
  EXPECT_EQ(again.rows, 0);
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits <> 1"), 0);
}

// Behind a pooler in transaction mode each transaction may get another server connection, where
// the prepared batch does not exist (26000) or its name is taken (42P05): the job goes on with
// batches planned as they run, every row still once.
TEST_F(BackfillPg, GoesOnWhenTheServerLosesThePreparedBatch) {
  create_items(3000);
  pqxx::connection conn(database_->url());
  class Dropper : public BackfillObserver {
   public:
    explicit Dropper(pqxx::connection& conn) : conn_(conn) {}
    void progress(const BackfillProgress&) override {
      if (++reports_ % 3 != 0) return;
      pqxx::nontransaction tx(conn_);
      // The batch's statement is gone, and its next name is taken, as on another server connection.
      tx.exec("DEALLOCATE ALL; PREPARE _migrator_backfill_batch_" + std::to_string(reports_ / 3 + 100) +
              " AS SELECT 1");
      dropped_ = true;
    }
    bool dropped_ = false;

   private:
    pqxx::connection& conn_;
    int reports_ = 0;
  } dropper(conn);
  BackfillOptions options;
  options.batch_rows = 50;
  options.target_batch_us = 100'000'000;  // the size stays 50
  BackfillResult result = run_backfill(conn, {increment("items")}, options, &dropper);
  EXPECT_TRUE(dropper.dropped_);
  EXPECT_EQ(result.rows, 3000);
  EXPECT_EQ(database_->query_value("SELECT count(*) FILTER (WHERE hits = 1) || '/' || count(*) FROM items"),
            "3000/3000");
  EXPECT_EQ(rows_done("items"), 3000);

  // Its name taken before it is prepared (by this session's statements of a pooled connection).
  database_->exec(
      "CREATE TABLE parts (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0);"
      "INSERT INTO parts (id) SELECT g FROM generate_series(1, 500) g;");
  {
    pqxx::nontransaction tx(conn);
    tx.exec("DEALLOCATE ALL");
    for (int i = 1; i <= 1000; ++i) tx.exec("PREPARE _migrator_backfill_batch_" + std::to_string(i) + " AS SELECT 1");
  }
  result = run_backfill(conn, {increment("parts")}, options, nullptr);
  EXPECT_EQ(result.rows, 500);
  EXPECT_EQ(database_->query_value("SELECT count(*) FILTER (WHERE hits = 1) || '/' || count(*) FROM parts"), "500/500");
}

// The nice ratio stands the backfill aside after every batch but the last, in proportion to the
// batch's duration, and changes nothing about what it writes.
TEST_F(BackfillPg, NiceRatioPausesAfterEachBatch) {
  create_items(6000);
  pqxx::connection conn(database_->url());
  BackfillOptions options;
  options.batch_rows = 1000;
  options.target_batch_us = 60'000'000;  // batches double: 1000, 2000, 3000
  options.nice_ratio = 3;
  BackfillResult result = run_backfill(conn, {increment("items")}, options, nullptr);
  EXPECT_EQ(result.rows, 6000);
  EXPECT_EQ(result.batches, 3);
  // Each batch but the last (a 1,000-row UPDATE plus its checkpoint, well over a third of a
  // millisecond) is followed by 3 times its duration.
  EXPECT_GE(result.paused_seconds, 0.002);
  EXPECT_LT(result.paused_seconds, result.seconds);
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits <> 1"), 0);
}

// A large table's row count is the planner's estimate, not a scan of the whole table before the first
// batch: here the statistics still count the deleted half. The batches make it exact when they finish.
TEST_F(BackfillPg, LargeTablesRowCountIsEstimatedThenMadeExact) {
  database_->exec(
      "CREATE TABLE items (id bigint PRIMARY KEY, hits int NOT NULL DEFAULT 0, pad text)"
      " WITH (autovacuum_enabled = false);"
      "INSERT INTO items (id, pad) SELECT g, repeat('x', 200) FROM generate_series(1, 100000) g;"
      "ANALYZE items;"
      "DELETE FROM items WHERE id % 2 = 0;");
  ASSERT_GT(number("SELECT pg_relation_size('items')"), 16 << 20);  // above the exact-count size
  pqxx::connection conn(database_->url());
  BackfillOptions options;
  options.batch_rows = 5000;
  Recorder recorder;
  BackfillResult result = run_backfill(conn, {increment("items")}, options, &recorder);
  EXPECT_EQ(result.rows, 50000);
  ASSERT_GE(recorder.seen.size(), 2u);
  EXPECT_GT(recorder.seen.front().rows_total, 90000);  // the estimate; a count(*) says 50,000
  EXPECT_EQ(recorder.seen.back().rows_done, 50000);
  EXPECT_EQ(recorder.seen.back().rows_total, 50000);
  EXPECT_EQ(number("SELECT rows_total FROM migrator.backfill_progress WHERE table_name = 'items'"), 50000);
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits <> 1"), 0);
}

// Batches shorter than a millisecond still get their pause: a ratio of 1 makes the backfill stand
// aside about as long as it works, not round each pause down to nothing.
TEST_F(BackfillPg, NiceRatioPausesAfterSubMillisecondBatches) {
  create_items(20000);
  pqxx::connection conn(database_->url());
  BackfillOptions options;
  options.batch_rows = 10;
  options.target_batch_us = 1000;  // batches stay at about 0.8 ms
  options.nice_ratio = 1;
  BackfillResult result = run_backfill(conn, {increment("items")}, options, nullptr);
  EXPECT_EQ(result.rows, 20000);
  ASSERT_GE(result.batches, 50);
  // Paused after every batch but the last, as long as it took: the rest of the run (the batches,
  // and reading the checkpoints before them) is at least as long as the pauses, and with this many
  // batches less than twice as long. Pauses rounded down to whole milliseconds came to about a
  // fifth of it.
  double busy = result.seconds - result.paused_seconds;
  EXPECT_GT(result.paused_seconds, busy / 2);
  EXPECT_LT(result.paused_seconds, busy) << result.batches << " batches";
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits <> 1"), 0);
}

// The batch size follows the batch's time on the server, not its round trip: across a link that
// holds every message 5 ms each way, 4 ms batches grow from their first 100 rows as they do on a
// local server (100 rows take a fraction of a millisecond there, even on a busy machine), where
// sizing on the round trip (10 ms and more) halved them down to 10 rows, about 2,000 batches.
TEST_F(BackfillPg, BatchSizeFollowsTheServersTimeNotTheRoundTrip) {
  create_items(20000);
  pqxx::connection direct(database_->url());
  DelayProxy proxy(direct.hostname() == nullptr ? "" : direct.hostname(), std::stoi(direct.port()),
                   std::chrono::milliseconds(5));
  pqxx::connection conn(database_->url() + " host=127.0.0.1 port=" + std::to_string(proxy.port()) +
                        " sslmode=disable gssencmode=disable");
  BackfillOptions options;
  options.batch_rows = 100;
  options.target_batch_us = 4000;
  Recorder recorder;
  BackfillResult result = run_backfill(conn, {increment("items")}, options, &recorder);
  EXPECT_EQ(result.rows, 20000);
  EXPECT_LT(result.batches, 200);
  int64_t largest = 0;
  for (const BackfillProgress& p : recorder.seen) largest = std::max(largest, p.batch_rows);
  EXPECT_GT(largest, 100);
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits <> 1"), 0);
}

TEST_F(BackfillPg, PendingPredicateLimitsTheUpdateAndTriggersSeeTheBackfillSetting) {
  database_->exec(
      "CREATE TABLE orders (id int PRIMARY KEY, price text, new_price int, writer text);"
      "INSERT INTO orders (id, price) SELECT g, (g * 10)::text FROM generate_series(1, 1000) g;"
      "UPDATE orders SET new_price = -1 WHERE id % 10 = 0;"  // already filled: not pending
      "UPDATE orders SET price = NULL WHERE id % 10 = 5;"
      "CREATE FUNCTION mark() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
      "  NEW.writer := coalesce(current_setting('migrator.backfill', true), 'unset'); RETURN NEW; END $$;"
      "CREATE TRIGGER mark BEFORE UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION mark();");
  pqxx::connection conn(database_->url());
  BackfillJob job{"0007", "public", "orders", "\"new_price\" = (\"price\")::integer",
                  "\"new_price\" IS NULL AND \"price\" IS NOT NULL"};
  BackfillOptions options;
  options.batch_rows = 64;
  run_backfill(conn, {job}, options, nullptr);
  EXPECT_EQ(number("SELECT count(*) FROM orders WHERE new_price = price::int"), 800);
  EXPECT_EQ(number("SELECT count(*) FROM orders WHERE new_price = -1"), 100);
  EXPECT_EQ(number("SELECT count(*) FROM orders WHERE price IS NULL AND new_price IS NULL"), 100);
  EXPECT_EQ(database_->query_value("SELECT string_agg(DISTINCT writer, ',') FROM orders WHERE new_price >= 0"), "on");
  EXPECT_EQ(number("SELECT rows_updated FROM migrator.backfill_progress"), 800);
  EXPECT_EQ(rows_done("orders"), 1000);
  // The setting was SET LOCAL: the session outside the batches does not have it.
  pqxx::nontransaction tx(conn);
  EXPECT_THAT(tx.exec("SELECT coalesce(current_setting('migrator.backfill', true), '')")[0][0].as<std::string>(),
              ::testing::Not("on"));
}

TEST_F(BackfillPg, CompositePrimaryKey) {
  database_->exec(
      "CREATE TABLE stock (shop text, item int, hits int NOT NULL DEFAULT 0, PRIMARY KEY (shop, item));"
      "INSERT INTO stock (shop, item) SELECT 'shop ' || s, i FROM generate_series(1, 30) s, generate_series(1, 77) i;");
  pqxx::connection conn(database_->url());
  BackfillOptions options;
  options.batch_rows = 50;  // batches end in the middle of a shop
  BackfillResult result = run_backfill(conn, {increment("stock")}, options, nullptr);
  EXPECT_EQ(result.rows, 30 * 77);
  EXPECT_EQ(database_->query_value("SELECT count(*) FILTER (WHERE hits = 1) || '/' || count(*) FROM stock"),
            "2310/2310");
  EXPECT_EQ(database_->query_value("SELECT key_columns::text FROM migrator.backfill_progress"), "{shop,item}");
}

// A conversion that fails on one row's value fails the run naming that row (found by updating the
// failed batch's rows one by one in a transaction rolled back after), keeps the batches before it,
// and says how to go on; once the row is corrected the next run goes on from the last batch.
TEST_F(BackfillPg, ADataErrorNamesItsRowAndTheRunGoesOnOnceItIsCorrected) {
  database_->exec(
      "CREATE TABLE items (id bigint PRIMARY KEY, code text NOT NULL, n int);"
      "INSERT INTO items (id, code) SELECT g, g::text FROM generate_series(1, 1000) g;"
      "UPDATE items SET code = 'x537' WHERE id = 537;");
  BackfillJob convert{"0007", "public", "items", "\"n\" = \"code\"::integer", "\"n\" IS NULL"};
  pqxx::connection conn(database_->url());
  BackfillOptions options;
  options.batch_rows = 100;
  options.target_batch_us = 100'000'000;        // batches double: 100, 200, then 400 from id 301
  auto failure = [&](const BackfillJob& job) {  // the message the run fails with
    try {
      run_backfill(conn, {job}, options, nullptr);
    } catch (const migrator::Error& e) {
      EXPECT_EQ(e.code(), migrator::ExitCode::kMigrationFailed);
      return std::string(e.what());
    }
    ADD_FAILURE() << "the backfill of " << job.table << " succeeded";
    return std::string();
  };
  std::string message = failure(convert);
  EXPECT_THAT(message, HasSubstr("backfill of \"public\".\"items\" failed at the row (id)=(537): ERROR:  invalid "
                                 "input syntax for type integer: \"x537\""));
  EXPECT_THAT(message, HasSubstr("(SQLSTATE 22P02)"));
  EXPECT_THAT(message, HasSubstr("correct that row"));
  EXPECT_THAT(message, HasSubstr("`migrator backfill 7` goes on from there, or `migrator abort 7`"));
  // Two batches kept; the search's updates of rows 301-536 are gone with its transaction.
  EXPECT_EQ(rows_done("items"), 300);
  EXPECT_EQ(database_->query_value("SELECT count(n) || '/' || max(n) FROM items"), "300/300");

  database_->exec("UPDATE items SET code = '537' WHERE id = 537");
  BackfillResult result = run_backfill(conn, {convert}, options, nullptr);
  EXPECT_TRUE(result.resumed);
  EXPECT_EQ(result.rows, 700);
  EXPECT_EQ(database_->query_value("SELECT count(*) FROM items WHERE n IS DISTINCT FROM id"), "0");

  // A composite key names every column of it.
  database_->exec(
      "CREATE TABLE stock (shop text, item int, code text NOT NULL, n int, PRIMARY KEY (shop, item));"
      "INSERT INTO stock SELECT 'shop ' || s, i, i::text FROM generate_series(1, 3) s, generate_series(1, 40) i;"
      "UPDATE stock SET code = '' WHERE shop = 'shop 2' AND item = 7;");
  message = failure({"0008", "public", "stock", "\"n\" = \"code\"::integer", "\"n\" IS NULL"});
  EXPECT_THAT(message, HasSubstr("failed at the row (shop, item)=(shop 2, 7): ERROR:  invalid input syntax for type "
                                 "integer: \"\""));

  // A unique violation names the second row of the pair, found in key order (in the order of the
  // key's text, 2 would come after 199 and outside the first batch).
  database_->exec(
      "CREATE TABLE tags (id bigint PRIMARY KEY, code text NOT NULL, n text UNIQUE);"
      "INSERT INTO tags (id, code) SELECT g, g::text FROM generate_series(1, 1000) g;"
      "UPDATE tags SET code = '1' WHERE id = 2;");
  message = failure({"0009", "public", "tags", "\"n\" = \"code\"", "\"n\" IS NULL"});
  EXPECT_THAT(message, HasSubstr("failed at the row (id)=(2): ERROR:  duplicate key value violates unique constraint"));
  EXPECT_THAT(message, HasSubstr("(SQLSTATE 23505)"));
}

TEST_F(BackfillPg, UniqueNotNullColumnsWhenThereIsNoPrimaryKey) {
  database_->exec(
      "CREATE TABLE events (nickname text UNIQUE, day date NOT NULL, seq int NOT NULL, hits int NOT NULL DEFAULT 0,"
      "                     UNIQUE (day, seq));"
      "INSERT INTO events (day, seq) SELECT date '2026-01-01' + d, s FROM generate_series(0, 9) d, "
      "generate_series(1, 123) s;");
  pqxx::connection conn(database_->url());
  BackfillOptions options;
  options.batch_rows = 100;
  run_backfill(conn, {increment("events")}, options, nullptr);
  EXPECT_EQ(database_->query_value("SELECT count(*) FILTER (WHERE hits = 1) || '/' || count(*) FROM events"),
            "1230/1230");
  // The nullable unique column cannot order a walk; the NOT NULL pair does.
  EXPECT_EQ(database_->query_value("SELECT key_columns::text FROM migrator.backfill_progress"), "{day,seq}");
}

TEST_F(BackfillPg, TableWithoutUsableKeyIsRefusedByNameAndNothingChanges) {
  create_items(10);
  database_->exec(
      "CREATE SCHEMA app;"
      "CREATE TABLE app.\"Log\" (line text UNIQUE, hits int NOT NULL DEFAULT 0);"
      "INSERT INTO app.\"Log\" (line) VALUES ('a'), ('b');");
  pqxx::connection conn(database_->url());
  BackfillJob log{"0007", "app", "Log", "\"hits\" = \"hits\" + 1", ""};
  try {
    run_backfill(conn, {increment("items"), log}, BackfillOptions{}, nullptr);
    FAIL() << "a table without a usable key was backfilled";
  } catch (const migrator::Error& e) {
    EXPECT_EQ(e.code(), migrator::ExitCode::kInvalidMigrations);
    EXPECT_THAT(e.what(), HasSubstr("\"app\".\"Log\""));
    EXPECT_THAT(e.what(), HasSubstr("no primary key"));
  }
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits <> 0"), 0);
  EXPECT_EQ(number("SELECT count(*) FROM app.\"Log\" WHERE hits <> 0"), 0);
  EXPECT_FALSE(backfill_done(conn, "0007"));
}

TEST_F(BackfillPg, ResumesAfterSigkillWithEveryRowOnce) {
  constexpr int kRows = 20000;
  create_items(kRows);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child: small, paced batches, so the parent can kill it in the middle.
    try {
      pqxx::connection conn(database_->url());
      BackfillOptions options;
      options.batch_rows = 200;
      options.target_batch_us = 1000;  // keeps the batches small
      options.pause_ms = 20;
      run_backfill(conn, {increment("items")}, options, nullptr);
    } catch (...) {
      _exit(3);
    }
    _exit(0);
  }
  // Kill it once some batches are committed (the guard kills it also when an assertion fails).
  struct KillGuard {
    pid_t pid;
    ~KillGuard() {
      if (pid > 0) {
        kill(pid, SIGKILL);
        waitpid(pid, nullptr, 0);
      }
    }
  } guard{child};
  int64_t done_before_kill = 0;
  for (int i = 0; i < 2000 && done_before_kill < 1000; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (database_->query_value("SELECT to_regclass('migrator.backfill_progress') IS NULL") == "t") continue;
    std::string done = database_->query_value("SELECT max(rows_done) FROM migrator.backfill_progress");
    done_before_kill = done.empty() ? 0 : std::stoll(done);
  }
  guard.pid = -1;
  ASSERT_EQ(kill(child, SIGKILL), 0);
  int status = 0;
  ASSERT_EQ(waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status)) << "the child ended before it was killed (status " << status << ")";

  // Wait for the server to notice the dead client and roll back its batch in flight.
  for (int i = 0; i < 200 && number("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND "
                                    "pid <> pg_backend_pid() AND backend_type = 'client backend'") > 0;
       ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  int64_t checkpoint = rows_done("items");
  EXPECT_GE(checkpoint, 1000);
  EXPECT_LT(checkpoint, kRows) << "the backfill finished before the kill: the test proves nothing";
  EXPECT_EQ(database_->query_value("SELECT finished_at IS NULL FROM migrator.backfill_progress"), "t");
  // The checkpoint and the data agree: exactly the rows it counts are done.
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits = 1"), checkpoint);
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits > 1"), 0);

  pqxx::connection conn(database_->url());
  BackfillResult result = run_backfill(conn, {increment("items")}, BackfillOptions{}, nullptr);
  EXPECT_TRUE(result.resumed);
  EXPECT_EQ(result.rows, kRows - checkpoint);
  EXPECT_EQ(database_->query_value("SELECT count(*) FILTER (WHERE hits = 1) || '/' || count(*) FROM items"),
            std::to_string(kRows) + "/" + std::to_string(kRows));
  EXPECT_EQ(rows_done("items"), kRows);
  EXPECT_TRUE(backfill_done(conn, "0007"));
}

TEST_F(BackfillPg, TwoRunsOfTheSameJobTakeTurnsAndApplyEveryBatchOnce) {
  constexpr int kRows = 20000;
  create_items(kRows);
  std::string url = database_->url();
  BackfillOptions options;
  options.batch_rows = 300;
  options.target_batch_us = 1000;  // small batches, many turns
  BackfillResult results[2];
  std::string errors[2];
  auto run = [&](int i) {
    try {
      pqxx::connection conn(url);
      results[i] = run_backfill(conn, {increment("items")}, options, nullptr);
    } catch (const std::exception& e) {
      errors[i] = e.what();
    }
  };
  std::thread first(run, 0), second(run, 1);
  first.join();
  second.join();
  EXPECT_EQ(errors[0], "");
  EXPECT_EQ(errors[1], "");
  EXPECT_EQ(results[0].rows + results[1].rows, kRows);
  EXPECT_EQ(database_->query_value("SELECT count(*) FILTER (WHERE hits = 1) || '/' || count(*) FROM items"),
            std::to_string(kRows) + "/" + std::to_string(kRows));
  EXPECT_EQ(rows_done("items"), kRows);
}

TEST_F(BackfillPg, FinishesWhileAnotherSessionKeepsInserting) {
  // As after an expand: a new column, and a trigger that fills it for every write except the
  // backfill's own.
  database_->exec(
      "CREATE TABLE orders (id bigserial PRIMARY KEY, price text NOT NULL);"
      "INSERT INTO orders (price) SELECT (g % 1000)::text FROM generate_series(1, 30000) g;"
      "ALTER TABLE orders ADD COLUMN new_price int;"
      "CREATE FUNCTION sync() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
      "  IF current_setting('migrator.backfill', true) = 'on' THEN RETURN NEW; END IF;"
      "  NEW.new_price := NEW.price::int; RETURN NEW; END $$;"
      "CREATE TRIGGER sync BEFORE INSERT OR UPDATE ON orders FOR EACH ROW EXECUTE FUNCTION sync();");
  std::atomic<bool> stop{false};
  std::atomic<int64_t> inserted{0};
  std::string url = database_->url();
  std::thread inserter([&] {
    pqxx::connection conn(url);
    while (!stop) {
      pqxx::work tx(conn);
      tx.exec("INSERT INTO orders (price) SELECT (g % 1000)::text FROM generate_series(1, 20) g");
      tx.commit();
      inserted += 20;
    }
  });
  while (inserted < 200) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  pqxx::connection conn(url);
  BackfillOptions options;
  options.batch_rows = 500;
  options.target_batch_us = 20000;
  int64_t inserted_at_start = inserted;
  BackfillResult result;
  try {
    result = run_backfill(
        conn, {{"0007", "public", "orders", "\"new_price\" = (\"price\")::integer", "\"new_price\" IS NULL"}}, options,
        nullptr);
  } catch (...) {
    stop = true;
    inserter.join();
    throw;
  }
  int64_t inserted_meanwhile = inserted - inserted_at_start;
  stop = true;
  inserter.join();
  EXPECT_GT(inserted_meanwhile, 0) << "no insert load during the backfill";
  EXPECT_GE(result.rows, 30000);
  EXPECT_GT(number("SELECT count(*) FROM orders"), 30000 + inserted_meanwhile - 1);
  EXPECT_EQ(number("SELECT count(*) FROM orders WHERE new_price IS DISTINCT FROM price::int"), 0);
  EXPECT_TRUE(backfill_done(conn, "0007"));
}

TEST_F(BackfillPg, PausesWhileTooManySessionsAreActive) {
  create_items(1000);
  std::string url = database_->url();
  auto sleeper = [url] {
    pqxx::connection conn(url);
    pqxx::nontransaction tx(conn);
    tx.exec("SELECT pg_sleep(1.5)");
  };
  pqxx::connection conn(url);
  std::thread first(sleeper), second(sleeper);
  // Both sleepers are active before the backfill starts.
  for (int i = 0; i < 500; ++i) {
    pqxx::nontransaction tx(conn);
    if (tx.exec("SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'SELECT pg_sleep%' AND state = 'active'")[0][0]
            .as<int>() == 2) {
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  BackfillOptions options;
  options.max_active_sessions = 1;
  Recorder recorder;
  auto start = std::chrono::steady_clock::now();
  run_backfill(conn, {increment("items")}, options, &recorder);
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  first.join();
  second.join();
  ASSERT_FALSE(recorder.seen.empty());
  const BackfillProgress& paused = recorder.seen.front();
  // At least the two sleepers (suites running beside this one on the same server may add more).
  EXPECT_THAT(paused.paused_for, ::testing::MatchesRegex("([2-9]|[1-9][0-9]+) active sessions > 1"));
  EXPECT_EQ(paused.rows_done, 0);  // nothing ran while the server was loaded
  EXPECT_GT(seconds, 0.5);
  EXPECT_TRUE(recorder.seen.back().paused_for.empty());
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits = 1"), 1000);
}

TEST_F(BackfillPg, PausesWhileSessionsWaitOnLocks) {
  create_items(100);
  database_->exec("CREATE TABLE other (id int PRIMARY KEY); INSERT INTO other VALUES (1);");
  std::string url = database_->url();
  pqxx::connection holder(url);
  pqxx::work hold(holder);
  hold.exec("UPDATE other SET id = 1");
  auto waiter = [url] {
    pqxx::connection conn(url);
    pqxx::nontransaction tx(conn);
    tx.exec("UPDATE other SET id = 1");  // waits for `hold`
  };
  std::thread first(waiter), second(waiter);
  pqxx::connection conn(url);
  for (int i = 0; i < 500; ++i) {
    pqxx::nontransaction tx(conn);
    if (tx.exec("SELECT count(DISTINCT pid) FROM pg_locks WHERE NOT granted")[0][0].as<int>() == 2) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(800));
    hold.commit();
  });
  BackfillOptions options;
  options.max_lock_waiters = 1;
  Recorder recorder;
  run_backfill(conn, {increment("items")}, options, &recorder);
  release.join();
  first.join();
  second.join();
  ASSERT_FALSE(recorder.seen.empty());
  EXPECT_THAT(recorder.seen.front().paused_for,
              ::testing::MatchesRegex("([2-9]|[1-9][0-9]+) sessions waiting on locks > 1"));
  EXPECT_EQ(recorder.seen.front().rows_done, 0);
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits = 1"), 100);
}

TEST_F(BackfillPg, BatchThatTimesOutOnALockIsRetried) {
  create_items(300);
  std::string url = database_->url();
  pqxx::connection holder(url);
  pqxx::work hold(holder);
  hold.exec("UPDATE items SET hits = hits + 10 WHERE id = 150");
  std::thread release([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(700));
    hold.commit();
  });
  pqxx::connection conn(url);
  Recorder recorder;
  BackfillResult result = run_backfill(conn, {increment("items")}, BackfillOptions{}, &recorder);
  release.join();
  bool retried = false;
  for (const auto& p : recorder.seen) retried = retried || p.paused_for.find("55P03") != std::string::npos;
  EXPECT_TRUE(retried) << "no batch waited out a lock timeout";
  EXPECT_EQ(result.rows, 300);
  EXPECT_EQ(number("SELECT count(*) FROM items WHERE hits = 1"), 299);
  EXPECT_EQ(number("SELECT hits FROM items WHERE id = 150"), 11);  // the holder's +10, then the backfill's +1
}

}  // namespace
}  // namespace migrator_test
