#include "migrator/lint/postgres_catalog.h"

#include <pqxx/pqxx>

#include <limits>

#include "migrator/error.h"

namespace migrator {
namespace {

// The relation named (schema may be empty: the search path decides), or NULL; never an error.
constexpr const char* kRelation =
    "to_regclass(CASE WHEN $1 = '' THEN quote_ident($2) ELSE quote_ident($1) || '.' || quote_ident($2) END)";

}  // namespace

struct PostgresCatalog::Connection {
  explicit Connection(const std::string& conninfo) : connection(conninfo) {}
  pqxx::connection connection;

  template <typename... Args>
  pqxx::result query(const std::string& sql, Args&&... args) {
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

std::optional<double> PostgresCatalog::estimated_rows(const std::string& schema, const std::string& table) {
  pqxx::result rows =
      connection_->query(std::string("SELECT c.reltuples::float8, c.relpages::bigint, "
                                     "(pg_relation_size(c.oid) / current_setting('block_size')::int)::bigint "
                                     "FROM pg_class c WHERE c.oid = ") +
                             kRelation,
                         schema, table);
  if (rows.empty()) return std::nullopt;
  double reltuples = rows[0][0].as<double>();
  double relpages = rows[0][1].as<double>();
  double pages = rows[0][2].as<double>();
  if (relpages > 0) return reltuples / relpages * pages;
  if (reltuples >= 0 || pages == 0) return pages == 0 ? 0.0 : reltuples;
  return std::numeric_limits<double>::infinity();  // never analyzed and not empty: assume large
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
