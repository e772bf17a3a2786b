#include "migrator/lint/postgres_catalog.h"

#include <pqxx/pqxx>

#include <limits>

#include "migrator/error.h"

namespace migrator {
namespace {

// The relation named (schema may be empty: the search path decides), or NULL; never an error.
constexpr const char* kRelation =
    "to_regclass(CASE WHEN $1 = '' THEN quote_ident($2) ELSE quote_ident($1) || '.' || quote_ident($2) END)";

// The columns estimated_rows() reads of pg_class row `c`.
constexpr const char* kRowColumns =
    "c.reltuples::float8, c.relpages::bigint, "
    "(pg_relation_size(c.oid) / current_setting('block_size')::int)::bigint";

// reltuples scaled by the pages the table has now, as the planner estimates (see estimated_rows).
double scaled_rows(double reltuples, double relpages, double pages) {
  if (relpages > 0) return reltuples / relpages * pages;
  if (reltuples >= 0 || pages == 0) return pages == 0 ? 0.0 : reltuples;
  return std::numeric_limits<double>::infinity();  // never analyzed and not empty: assume large
}

}  // namespace

struct PostgresCatalog::Connection {
  explicit Connection(const std::string& conninfo) : connection(conninfo) {}
  pqxx::connection connection;

  size_t queries = 0;

  template <typename... Args>
  pqxx::result query(const std::string& sql, Args&&... args) {
    ++queries;
    try {
      pqxx::nontransaction tx(connection);
      return tx.exec_params(sql, std::forward<Args>(args)...);
    } catch (const pqxx::failure& e) {
      throw Error(ExitCode::kDatabase, std::string("lint: reading the catalog failed: ") + e.what());
    }
  }
};

PostgresCatalog::PostgresCatalog(const std::string& conninfo) {
  try {
    connection_ = std::make_unique<Connection>(conninfo);
  } catch (const pqxx::failure& e) {
    throw Error(ExitCode::kDatabase, std::string("lint: cannot connect to read the catalog: ") + e.what());
  }
}

PostgresCatalog::~PostgresCatalog() = default;

size_t PostgresCatalog::queries() const { return connection_->queries; }

std::optional<double> PostgresCatalog::estimated_rows(const std::string& schema, const std::string& table) {
  auto prefetched = prefetched_rows_.find({schema, table});
  if (prefetched != prefetched_rows_.end()) return prefetched->second;
  pqxx::result rows = connection_->query(
      std::string("SELECT ") + kRowColumns + " FROM pg_class c WHERE c.oid = " + kRelation, schema, table);
  if (rows.empty()) return std::nullopt;
  return scaled_rows(rows[0][0].as<double>(), rows[0][1].as<double>(), rows[0][2].as<double>());
}

void PostgresCatalog::prefetch_rows(const std::vector<std::pair<std::string, std::string>>& tables) {
  if (tables.empty()) return;
  // The names as a VALUES list of quoted literals, numbered; each joined to its pg_class row if any.
  std::string values;
  for (size_t i = 0; i < tables.size(); ++i) {
    values += (i == 0 ? "(" : ", (") + std::to_string(i) + ", " + connection_->connection.quote(tables[i].first) +
              ", " + connection_->connection.quote(tables[i].second) + ")";
  }
  pqxx::result rows = connection_->query(
      std::string("SELECT n.i, c.oid IS NOT NULL, ") + kRowColumns + " FROM (VALUES " + values +
      ") AS n(i, s, t) LEFT JOIN pg_class c ON c.oid = to_regclass(CASE WHEN n.s = '' THEN quote_ident(n.t) "
      "ELSE quote_ident(n.s) || '.' || quote_ident(n.t) END)");
  for (const auto& row : rows) {
    const std::pair<std::string, std::string>& table = tables.at(row[0].as<size_t>());
    prefetched_rows_[table] =
        row[1].as<bool>()
            ? std::optional<double>(scaled_rows(row[2].as<double>(), row[3].as<double>(), row[4].as<double>()))
            : std::nullopt;
  }
}

std::optional<char> PostgresCatalog::function_volatility(const std::string& name) {
  // 'i' < 's' < 'v': the most volatile overload decides.
  pqxx::result rows = connection_->query("SELECT max(provolatile)::text FROM pg_proc WHERE proname = $1", name);
  if (rows.empty() || rows[0][0].is_null()) return std::nullopt;
  std::string volatility = rows[0][0].as<std::string>();
  if (volatility.empty()) return std::nullopt;
  return volatility[0];
}

std::optional<CatalogType> PostgresCatalog::column_type(const std::string& schema, const std::string& table,
                                                        const std::string& column) {
  pqxx::result rows = connection_->query(
      std::string("SELECT t.typname::text, a.atttypmod FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid "
                  "WHERE a.attrelid = ") +
          kRelation + " AND a.attname = $3 AND a.attnum > 0 AND NOT a.attisdropped",
      schema, table, column);
  if (rows.empty()) return std::nullopt;
  return CatalogType{rows[0][0].as<std::string>(), rows[0][1].as<int32_t>()};
}

std::vector<std::string> PostgresCatalog::validated_checks(const std::string& schema, const std::string& table) {
  pqxx::result rows = connection_->query(std::string("SELECT pg_get_constraintdef(oid) FROM pg_constraint "
                                                     "WHERE contype = 'c' AND convalidated AND conrelid = ") +
                                             kRelation,
                                         schema, table);
  std::vector<std::string> checks;
  for (const auto& row : rows) checks.push_back(row[0].as<std::string>());
  return checks;
}

std::optional<std::pair<std::string, std::string>> PostgresCatalog::index_table(const std::string& schema,
                                                                                const std::string& index) {
  pqxx::result rows = connection_->query(
      std::string("SELECT n.nspname::text, c.relname::text FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid "
                  "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE i.indexrelid = ") +
          kRelation,
      schema, index);
  if (rows.empty()) return std::nullopt;
  return std::make_pair(rows[0][0].as<std::string>(), rows[0][1].as<std::string>());
}

}  // namespace migrator
