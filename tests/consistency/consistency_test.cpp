// Randomized multi-session consistency test of pg_rollout's flag evaluation (issue 15).
//
// Two or three sessions run a few thousand steps chosen by a seeded PRNG: BEGIN at READ
// COMMITTED, REPEATABLE READ or SERIALIZABLE, COMMIT, ROLLBACK, SAVEPOINT, ROLLBACK TO SAVEPOINT,
// RELEASE SAVEPOINT, flag changes of every kind
// (rollout.set_enabled, set_rollout with tiers, allow_users, deny_users, remove_users, override,
// clear_override, add_rule, remove_rule, direct UPDATEs of rollout.flag_configs and
// rollout.flags, direct DELETE of rollout.overrides), and evaluations. Each evaluation is ONE
// statement (now and then in a parallel worker) computing, for every test user, feature_enabled(id, flag, attributes)
// (id as bigint, text or uuid; or the two-argument form; or feature_enabled_row over the user's row) and the answer
// model.sql derives from the rollout tables; both read with that statement's snapshot, so they
// must agree whatever the isolation level, whoever committed what, and whatever this session
// changed itself. Any disagreement fails the run. After the random steps two fixed phases run:
// one READ COMMITTED transaction evaluating after each of 40 changes committed by another session,
// then one evaluating after each of 40 changes of its own (every statement sees a new version).
//
// Writers never wait for each other: a session starts a change only while no other session has
// an open transaction that changed the configuration (every change takes the row lock of
// rollout.config_version). Serialization failures (40001) of REPEATABLE READ and SERIALIZABLE
// transactions are counted, the transaction rolled back, and never counted as agreement; any
// other error fails the run.
//
//   rollout_consistency [--seed N] [--steps N] [--sessions 2|3] [--model FILE]
//
// --model loads another SQL file instead of model.sql (run once at setup): e.g. a copy with `<=`
// turned into `<` in model_in_rollout, to see the test fail.
// Connects with DATABASE_URL if set, else with the PG* environment, creates a scratch database,
// and drops it at the end. Prints the seed and step count; rerun with the same --seed and
// --steps to replay a failure (the step log of the failing step is printed).
// Exit codes: 0 every answer agreed; 1 a disagreement or an unexpected error; 2 usage error;
// 3 cannot connect or set up.
#include <libpq-fe.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#ifndef CONSISTENCY_MODEL_SQL
#define CONSISTENCY_MODEL_SQL "tests/consistency/model.sql"
#endif

namespace {

constexpr int kUsers = 48;
const char* const kFlags[] = {"f", "g"};
const char* const kTiers[] = {"free", "pro", "enterprise"};
const char* const kLevels[] = {"READ COMMITTED", "REPEATABLE READ", "SERIALIZABLE"};

struct Options {
  uint64_t seed = 0;
  bool seed_given = false;
  long steps = 3000;
  int sessions = 3;
  std::string model = CONSISTENCY_MODEL_SQL;
};

struct Result {
  bool ok = false;
  std::string sqlstate;
  std::string message;
  std::vector<std::vector<std::string>> rows;
};

struct PGconnDeleter {
  void operator()(PGconn* c) const { PQfinish(c); }
};
using Connection = std::unique_ptr<PGconn, PGconnDeleter>;

Result run(PGconn* conn, const std::string& sql) {
  Result r;
  PGresult* res = PQexec(conn, sql.c_str());
  const ExecStatusType status = PQresultStatus(res);
  if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
    r.ok = true;
    for (int i = 0; i < PQntuples(res); i++) {
      std::vector<std::string> row;
      for (int j = 0; j < PQnfields(res); j++)
        row.emplace_back(PQgetisnull(res, i, j) ? "NULL" : PQgetvalue(res, i, j));
      r.rows.push_back(std::move(row));
    }
  } else {
    const char* state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
    r.sqlstate = state != nullptr ? state : "?????";
    r.message = PQresultErrorMessage(res);
    while (!r.message.empty() && r.message.back() == '\n') r.message.pop_back();
  }
  PQclear(res);
  return r;
}

Connection connect(const std::string& database) {
  const char* url = std::getenv("DATABASE_URL");
  std::vector<const char*> keys;
  std::vector<const char*> values;
  if (url != nullptr && *url != '\0') {
    keys.push_back("dbname");
    values.push_back(url);
  }
  if (!database.empty()) {
    keys.push_back("dbname");
    values.push_back(database.c_str());
  }
  keys.push_back("application_name");
  values.push_back("rollout_consistency");
  keys.push_back(nullptr);
  values.push_back(nullptr);
  Connection conn(PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1));
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    std::fprintf(stderr, "cannot connect (%s): %s", url != nullptr ? "DATABASE_URL" : "PG* environment",
                 PQerrorMessage(conn.get()));
    return nullptr;
  }
  return conn;
}

std::string quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') out += '\'';
    out += c;
  }
  return out + "'";
}

struct Session {
  int index = 0;
  Connection conn;
  bool in_transaction = false;
  int level = 0;
  bool wrote = false;  // changed the configuration in its open transaction (kept after ROLLBACK TO)
  bool savepoint = false;
};

struct Counters {
  long evaluations = 0;
  long parallel_evaluations = 0;
  double parallel_seconds = 0;
  double serial_seconds = 0;
  long answers = 0;
  long answers_on = 0;
  long disagreements = 0;
  long begins[3] = {0, 0, 0};
  long commits = 0;
  long rollbacks = 0;
  long serialization_failures = 0;
  long unexpected_errors = 0;
  long changes_in_transaction = 0;
  long savepoints = 0;
  long rollbacks_to_savepoint = 0;
  long long_transaction_statements = 0;
  std::map<std::string, long> changes;
  std::set<std::string> versions;  // config_version values evaluations saw
};

class Test {
 public:
  Test(const Options& options, std::vector<Session>* sessions)
      : options_(options), sessions_(*sessions), random_(options.seed) {}

  void step(long number);
  // Whether an evaluation statement under force_parallel_mode really runs in a parallel worker.
  bool parallel_worker_used();
  // Deterministic phases after the random steps: one READ COMMITTED transaction evaluating after
  // each of `changes` commits of another session, then one transaction evaluating after each of
  // `changes` changes of its own. Every statement must agree with the tables.
  void long_transactions(int changes, long number);
  const Counters& counters() const { return counters_; }

 private:
  int pick(int n) { return static_cast<int>(std::uniform_int_distribution<int>(0, n - 1)(random_)); }
  bool chance(double p) { return std::uniform_real_distribution<double>(0, 1)(random_) < p; }
  std::string flag() { return kFlags[pick(2)]; }
  std::string user_id() {  // a test user's id as text: its number or its uuid
    const int user = 1 + pick(kUsers);
    return chance(0.5) ? std::to_string(user)
                       : "(SELECT uuid_id::text FROM consistency_users WHERE id = " + std::to_string(user) + ")";
  }
  std::string user_ids() {
    std::string out = "ARRAY[";
    const int n = 1 + pick(3);
    for (int i = 0; i < n; i++) out += (i ? ", " : "") + text_id(user_id());
    return out + "]";
  }
  static std::string text_id(const std::string& id) { return id[0] == '(' ? id : quote(id); }
  // A fixed percentage, or one that puts a test user's bucket (under the flag's current salt)
  // exactly on the edge of the rollout, where `bucket <= percentage * 100` decides.
  std::string percentage(const std::string& quoted_flag) {
    static const char* const kPercentages[] = {"0", "0.01", "5", "12.34", "30", "50", "77.7", "99.99", "100"};
    if (chance(0.3)) {
      return "(SELECT round(model_bucket(coalesce(salt, key), " + text_id(user_id()) +
             ") / 100.0, 2) FROM rollout.flags WHERE key = " + quoted_flag + ")";
    }
    return kPercentages[pick(9)];
  }
  std::string tiers() {
    static const char* const kChoices[] = {"NULL", "'{pro,enterprise}'", "'{free}'", "'{}'"};
    return kChoices[pick(4)];
  }
  std::string tier_constraint() {
    std::string values;
    for (const char* t : kTiers) {
      if (chance(0.5)) values += std::string(values.empty() ? "" : ",") + "\"" + t + "\"";
    }
    if (values.empty()) values = "\"pro\"";
    return std::string("'[{\"attribute\":\"tier\",\"op\":\"in\",\"values\":[") + values + "]" +
           (chance(0.25) ? ",\"negate\":true" : "") + "}]'";
  }
  std::string change(std::string* kind);
  std::string evaluation(const std::string& flag, int form, bool parallel);
  void evaluate(Session& s, long number);
  void execute_change(Session& s, long number);
  void end_transaction(Session& s, bool commit, long number);
  bool other_writer(const Session& s) const {
    for (const Session& o : sessions_) {
      if (&o != &s && o.in_transaction && o.wrote) return true;
    }
    return false;
  }
  void failed(Session& s, long number, const std::string& sql, const Result& r);

  const Options& options_;
  std::vector<Session>& sessions_;
  std::mt19937_64 random_;
  Counters counters_;
};

std::string Test::change(std::string* kind) {
  const std::string f = quote(flag());
  switch (pick(13)) {
    case 0:
      *kind = "set_enabled";
      return "SELECT rollout.set_enabled(" + f + ", " + (chance(0.7) ? "true" : "false") + ")";
    case 1:
    case 2:
      *kind = "set_rollout";
      return "SELECT rollout.set_rollout(" + f + ", " + percentage(f) + ", " + tiers() + ")";
    case 3:
      *kind = "allow_users";
      return "SELECT rollout.allow_users(" + f + ", " + user_ids() + ")";
    case 4:
      *kind = "deny_users";
      return "SELECT rollout.deny_users(" + f + ", " + user_ids() + ")";
    case 5:
      *kind = "remove_users";
      return "SELECT rollout.remove_users(" + f + ", " + user_ids() + ")";
    case 6: {
      static const char* const kExpiry[] = {"NULL", "'2000-01-01 00:00+00'", "'2999-01-01 00:00+00'"};
      *kind = "override";
      return "SELECT rollout.override(" + f + ", " + text_id(user_id()) + ", '" + (chance(0.5) ? "true" : "false") +
             "', 'test', " + kExpiry[pick(3)] + ")";
    }
    case 7:
      *kind = "clear_override";
      return "SELECT rollout.clear_override(" + f + ", " + text_id(user_id()) + ")";
    case 8:
      *kind = "add_rule";
      return "SELECT rollout.add_rule(" + f + ", " + tier_constraint() + ", " + percentage(f) + ", NULL, '" +
             (chance(0.8) ? "true" : "false") + "')";
    case 9:
      *kind = "remove_rule";
      // The k-th rule of the flag, if it has any (k chosen here, so a replay removes the same one).
      return "SELECT rollout.remove_rule(r.flag, r.number) FROM (SELECT flag, number FROM rollout.rules WHERE flag = " +
             f + " AND environment = 'production' ORDER BY number) r ORDER BY r.number OFFSET " +
             std::to_string(pick(4)) + " LIMIT 1";
    case 10:
      *kind = "update_flag_configs";
      return "UPDATE rollout.flag_configs SET enabled = " + std::string(chance(0.7) ? "true" : "false") +
             ", rollout_percentage = " + percentage(f) + ", allowed_tiers = " + tiers() +
             (chance(0.3) ? ", deny_users = '{}', allow_users = " + user_ids() : std::string()) + " WHERE flag = " + f +
             " AND environment = 'production'";
    case 11: {
      static const char* const kSalts[] = {"NULL", "'salt-a'", "'salt-b'"};
      *kind = "update_flags_salt";
      return std::string("UPDATE rollout.flags SET salt = ") + kSalts[pick(3)] + " WHERE key = " + f;
    }
    default:
      *kind = "delete_overrides";
      return "DELETE FROM rollout.overrides WHERE flag = " + f + " AND user_id IN (SELECT unnest(" + user_ids() + "))";
  }
}

// One statement: the extension's answers and the model's, for every test user, and the
// configuration version that statement's snapshot sees.
std::string Test::evaluation(const std::string& flag, int form, bool parallel) {
  // Every entry point: bigint, text and uuid ids with jsonb attributes, the two-argument form
  // (no attributes), and the row form (attributes from the row's columns: tier).
  static const char* const kGot[] = {
      "feature_enabled(u.id, %F, u.attributes)", "feature_enabled(u.id::text, %F, u.attributes)",
      "feature_enabled(u.uuid_id, %F, u.attributes)", "feature_enabled(u.id, %F)", "feature_enabled_row(u.id, %F, u)"};
  static const char* const kId[] = {"u.id::text", "u.id::text", "u.uuid_id::text", "u.id::text", "u.id::text"};
  static const char* const kAttributes[] = {"u.attributes", "u.attributes", "u.attributes", "'{}'::jsonb",
                                            "u.attributes"};
  std::string got = kGot[form];
  got.replace(got.find("%F"), 2, quote(flag));
  return "SELECT count(*), count(*) FILTER (WHERE got), count(*) FILTER (WHERE got IS DISTINCT FROM want), "
         "coalesce(string_agg(format('%s: feature_enabled %s, tables say %s', id, got, want), '; ') "
         "FILTER (WHERE got IS DISTINCT FROM want), ''), " +
         // A plan with an initPlan does not go to a parallel worker: no version read there.
         std::string(parallel ? "NULL" : "(SELECT version FROM rollout.config_version)") + " FROM (SELECT " +
         kId[form] + " AS id, " + got + " AS got, model_enabled(" + kId[form] + ", " + quote(flag) + ", " +
         kAttributes[form] + ") AS want FROM consistency_users u) s";
}

void Test::failed(Session& s, long number, const std::string& sql, const Result& r) {
  if (r.sqlstate == "40001" || r.sqlstate == "40P01") {
    counters_.serialization_failures++;
  } else {
    counters_.unexpected_errors++;
    std::printf("step %ld, session %d (%s): unexpected error %s: %s\n  in: %s\n", number, s.index,
                s.in_transaction ? kLevels[s.level] : "autocommit", r.sqlstate.c_str(), r.message.c_str(), sql.c_str());
  }
  if (s.in_transaction) end_transaction(s, /*commit=*/false, number);
}

void Test::evaluate(Session& s, long number) {
  const std::string f = flag();
  const int form = pick(5);
  // Now and then in a parallel worker, which must use the leader's snapshot and so its version.
  const bool parallel = chance(0.05);
  const std::string sql = evaluation(f, form, parallel);
  if (parallel) run(s.conn.get(), "SET force_parallel_mode = on");
  const auto start = std::chrono::steady_clock::now();
  const Result r = run(s.conn.get(), sql);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (parallel) run(s.conn.get(), "RESET force_parallel_mode");
  (parallel ? counters_.parallel_seconds : counters_.serial_seconds) += seconds;
  if (seconds > 1.0)
    std::printf("step %ld: a %s evaluation took %.1f s\n", number, parallel ? "parallel" : "serial", seconds);
  counters_.evaluations++;
  counters_.parallel_evaluations += parallel;
  if (!r.ok) {
    failed(s, number, sql, r);
    return;
  }
  const auto& row = r.rows.at(0);
  counters_.answers += std::stol(row[0]);
  counters_.answers_on += std::stol(row[1]);
  if (!parallel) counters_.versions.insert(row[4]);
  const long bad = std::stol(row[2]);
  if (bad > 0) {
    counters_.disagreements += bad;
    std::printf("step %ld, session %d (%s): %ld disagreement(s) on flag %s at config version %s: %s\n  in: %s\n",
                number, s.index, s.in_transaction ? kLevels[s.level] : "autocommit", bad, f.c_str(), row[4].c_str(),
                row[3].c_str(), sql.c_str());
  }
}

void Test::execute_change(Session& s, long number) {
  std::string kind;
  const std::string sql = change(&kind);
  const Result r = run(s.conn.get(), sql);
  if (!r.ok) {
    failed(s, number, sql, r);
    return;
  }
  counters_.changes[kind]++;
  if (s.in_transaction) {
    s.wrote = true;
    counters_.changes_in_transaction++;
  }
}

void Test::end_transaction(Session& s, bool commit, long number) {
  const Result r = run(s.conn.get(), commit ? "COMMIT" : "ROLLBACK");
  s.in_transaction = false;
  s.wrote = false;
  s.savepoint = false;
  if (!r.ok) {
    failed(s, number, commit ? "COMMIT" : "ROLLBACK", r);
    return;
  }
  // COMMIT of a transaction that already failed reports ROLLBACK: count what happened.
  if (commit && PQtransactionStatus(s.conn.get()) == PQTRANS_IDLE) counters_.commits++;
  if (!commit) counters_.rollbacks++;
}

void Test::step(long number) {
  Session& s = sessions_[pick(static_cast<int>(sessions_.size()))];
  const int action = pick(100);
  if (!s.in_transaction) {
    if (action < 30) {
      s.level = pick(3);
      const Result r = run(s.conn.get(), std::string("BEGIN ISOLATION LEVEL ") + kLevels[s.level]);
      if (!r.ok) return failed(s, number, "BEGIN", r);
      s.in_transaction = true;
      s.wrote = false;
      s.savepoint = false;
      counters_.begins[s.level]++;
    } else if (action < 70 || other_writer(s)) {
      evaluate(s, number);
    } else {
      execute_change(s, number);
    }
    return;
  }
  if (action < 45) {
    evaluate(s, number);
  } else if (action < 68) {
    if (other_writer(s)) {
      evaluate(s, number);
    } else {
      execute_change(s, number);
    }
  } else if (action < 78) {
    // Savepoints: changes rolled back to one must vanish from the next statement on.
    const char* sql = !s.savepoint ? "SAVEPOINT sp" : chance(0.6) ? "ROLLBACK TO SAVEPOINT sp" : "RELEASE SAVEPOINT sp";
    const Result r = run(s.conn.get(), sql);
    if (!r.ok) return failed(s, number, sql, r);
    const bool rolled_back_to = std::strcmp(sql, "ROLLBACK TO SAVEPOINT sp") == 0;
    if (!s.savepoint) counters_.savepoints++;
    if (rolled_back_to) counters_.rollbacks_to_savepoint++;
    s.savepoint = !s.savepoint || rolled_back_to;  // SAVEPOINT sets it, ROLLBACK TO keeps it, RELEASE ends it
  } else if (action < 90) {
    end_transaction(s, /*commit=*/true, number);
  } else {
    end_transaction(s, /*commit=*/false, number);
  }
}

bool Test::parallel_worker_used() {
  PGconn* conn = sessions_[0].conn.get();
  run(conn, "SET force_parallel_mode = on");
  const Result r = run(conn, "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) " + evaluation("f", 0, /*parallel=*/true));
  run(conn, "RESET force_parallel_mode");
  for (const auto& row : r.rows) {
    if (row.at(0).find("Workers Launched: 1") != std::string::npos) return true;
  }
  std::printf("an evaluation under force_parallel_mode did not run in a parallel worker: %s\n", r.message.c_str());
  for (const auto& row : r.rows) std::printf("  %s\n", row.at(0).c_str());
  return false;
}

void Test::long_transactions(int changes, long number) {
  for (Session& s : sessions_) {
    if (s.in_transaction) end_transaction(s, /*commit=*/false, number);
  }
  Session& reader = sessions_[0];
  Session& writer = sessions_[1];
  for (int own = 0; own < 2; own++) {
    Session& changer = own ? reader : writer;
    Result r = run(reader.conn.get(), "BEGIN ISOLATION LEVEL READ COMMITTED");
    if (!r.ok) return failed(reader, number, "BEGIN", r);
    reader.in_transaction = true;
    reader.level = 0;
    for (int i = 1; i <= changes; i++) {
      const std::string sql = "SELECT rollout.set_rollout('f', " + std::to_string(i * 2) + ")";
      r = run(changer.conn.get(), sql);
      if (!r.ok) return failed(changer, number, sql, r);
      counters_.changes["set_rollout"]++;
      evaluate(reader, number);
      counters_.long_transaction_statements++;
      if (!reader.in_transaction) {
        std::printf("  (in one READ COMMITTED transaction, evaluating after %s change %d of %d)\n",
                    own ? "its own" : "another session's committed", i, changes);
        break;
      }
    }
    if (reader.in_transaction) end_transaction(reader, /*commit=*/true, number);
  }
}

bool read_file(const std::string& path, std::string* out) {
  std::ifstream in(path);
  if (!in) return false;
  std::ostringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

int usage(const char* message) {
  std::fprintf(stderr,
               "%s\nusage: rollout_consistency [--seed N] [--steps N] [--sessions 2|3] [--model FILE]\n"
               "  e.g. rollout_consistency --seed 42 --steps 3000   (DATABASE_URL or PG* names the server)\n",
               message);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; i++) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage("Randomized multi-session test: feature_enabled must agree with the rollout tables in every statement.");
      return 0;
    }
    if (i + 1 >= argc) return usage(("missing value after " + arg).c_str());
    const std::string value = argv[++i];
    char* end = nullptr;
    if (arg == "--seed") {
      options.seed = std::strtoull(value.c_str(), &end, 10);
      options.seed_given = true;
    } else if (arg == "--steps") {
      options.steps = std::strtol(value.c_str(), &end, 10);
    } else if (arg == "--sessions") {
      options.sessions = static_cast<int>(std::strtol(value.c_str(), &end, 10));
    } else if (arg == "--model") {
      options.model = value;
      continue;
    } else {
      return usage(("unknown option " + arg).c_str());
    }
    if (end == nullptr || *end != '\0' || value.empty()) return usage(("not a number: " + value).c_str());
  }
  if (options.steps < 1) return usage("--steps must be at least 1");
  if (options.sessions < 2 || options.sessions > 3) return usage("--sessions must be 2 or 3");
  if (!options.seed_given) options.seed = std::random_device{}() ^ static_cast<uint64_t>(std::time(nullptr));
  std::string model;
  if (!read_file(options.model, &model)) {
    std::fprintf(stderr, "cannot read the model %s\n", options.model.c_str());
    return 3;
  }
  std::printf(
      "rollout_consistency: seed %llu, %ld steps, %d sessions (replay: --seed %llu --steps %ld --sessions %d)\n",
      static_cast<unsigned long long>(options.seed), options.steps, options.sessions,
      static_cast<unsigned long long>(options.seed), options.steps, options.sessions);
  std::fflush(stdout);

  Connection admin = connect("");
  if (!admin) return 3;
  const std::string database = "rollout_consistency_" + std::to_string(PQbackendPID(admin.get()));
  Result r = run(admin.get(), "CREATE DATABASE " + database);
  if (!r.ok) {
    std::fprintf(stderr, "cannot create the scratch database: %s\n", r.message.c_str());
    return 3;
  }
  int status = 3;
  {
    Connection setup = connect(database);
    const std::string schema =
        "SET client_min_messages = warning;"
        "CREATE EXTENSION pg_rollout;"
        "SELECT rollout.create_flag('f'), rollout.create_flag('g');"
        "SELECT rollout.set_enabled('f', true), rollout.set_rollout('f', 50), rollout.set_enabled('g', true),"
        "       rollout.set_rollout('g', 30, '{pro,enterprise}');"
        "CREATE TABLE consistency_users AS SELECT i::bigint AS id, md5('user ' || i)::uuid AS uuid_id,"
        "  CASE WHEN i % 4 = 0 THEN '{}'::jsonb"
        "       ELSE jsonb_build_object('tier', (ARRAY['free', 'pro', 'enterprise'])[1 + i % 3]) END AS attributes,"
        "  CASE WHEN i % 4 <> 0 THEN (ARRAY['free', 'pro', 'enterprise'])[1 + i % 3] END AS tier"
        "  FROM generate_series(1, " +
        std::to_string(kUsers) + ") AS i;";
    if (setup && (r = run(setup.get(), schema)).ok && (r = run(setup.get(), model)).ok) {
      std::vector<Session> sessions(static_cast<size_t>(options.sessions));
      bool connected = true;
      for (int i = 0; i < options.sessions; i++) {
        sessions[i].index = i + 1;
        sessions[i].conn = connect(database);
        if (!sessions[i].conn) {
          connected = false;
          break;
        }
        // A wait would hang this single-threaded driver: writers are kept apart (see above),
        // so a lock wait is a failure, reported as an unexpected error.
        run(sessions[i].conn.get(), "SET lock_timeout = '5s'");
      }
      if (connected) {
        const auto start = std::chrono::steady_clock::now();
        Test test(options, &sessions);
        const bool parallel_ok = test.parallel_worker_used();
        for (long n = 1; n <= options.steps; n++) test.step(n);
        test.long_transactions(40, options.steps + 1);
        const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        const Counters& c = test.counters();
        std::printf(
            "%ld evaluation statements, %ld answers compared (%ld on, %ld off), %zu configuration versions seen\n",
            c.evaluations, c.answers, c.answers_on, c.answers - c.answers_on, c.versions.size());
        std::printf(
            "transactions: %ld READ COMMITTED, %ld REPEATABLE READ, %ld SERIALIZABLE begun; %ld committed, "
            "%ld rolled back; %ld serialization failures (40001/40P01, rolled back, not counted as answers)\n",
            c.begins[0], c.begins[1], c.begins[2], c.commits, c.rollbacks, c.serialization_failures);
        std::printf(
            "savepoints: %ld set, %ld rolled back to; evaluations: %ld in a parallel worker (%.1f s), %ld in the "
            "backend (%.1f s); long transactions: %ld evaluations after a change\n",
            c.savepoints, c.rollbacks_to_savepoint, c.parallel_evaluations, c.parallel_seconds,
            c.evaluations - c.parallel_evaluations, c.serial_seconds, c.long_transaction_statements);
        std::printf("changes (%ld inside explicit transactions):", c.changes_in_transaction);
        for (const auto& [kind, n] : c.changes) std::printf(" %s %ld", kind.c_str(), n);
        std::printf("\n%ld disagreements, %ld unexpected errors, %.1f s\n", c.disagreements, c.unexpected_errors,
                    seconds);
        // A run that never saw both answers, or too few versions, proves nothing.
        const bool meaningful = c.answers_on > 0 && c.answers_on < c.answers && c.versions.size() >= 10;
        if (!meaningful) std::printf("the run did not exercise enough configurations to mean anything\n");
        status = c.disagreements == 0 && c.unexpected_errors == 0 && meaningful && parallel_ok ? 0 : 1;
        std::printf("%s (seed %llu, %ld steps)\n", status == 0 ? "PASS" : "FAIL",
                    static_cast<unsigned long long>(options.seed), options.steps);
      }
    } else {
      std::fprintf(stderr, "setup failed: %s\n", r.message.c_str());
    }
  }
  r = run(admin.get(), "DROP DATABASE IF EXISTS " + database + " WITH (FORCE)");
  if (!r.ok) std::fprintf(stderr, "cannot drop %s: %s\n", database.c_str(), r.message.c_str());
  return status;
}
