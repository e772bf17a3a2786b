// The linter's view of a PostgreSQL database: sizes, column types, checks and function volatility
// read from the system catalogs over a connection of its own (read-only queries, no lock).
#pragma once

#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "migrator/lint/lint.h"

namespace migrator {

class PostgresCatalog : public Catalog {
 public:
  // Connects with a libpq URI or key=value string. Throws Error(kDatabase) if that fails.
  explicit PostgresCatalog(const std::string& conninfo);
  ~PostgresCatalog() override;

  // reltuples scaled by the pages the table has now (pg_relation_size / block_size) against relpages,
  // as the planner estimates; a table never analyzed counts as empty only while it has no page, and
  // as larger than any threshold otherwise.
  std::optional<double> estimated_rows(const std::string& schema, const std::string& table) override;
  // One query for all of `tables`; estimated_rows() then answers them from what it read.
  void prefetch_rows(const std::vector<std::pair<std::string, std::string>>& tables) override;
  std::optional<char> function_volatility(const std::string& name) override;
  std::optional<CatalogType> column_type(const std::string& schema, const std::string& table,
                                         const std::string& column) override;
  std::vector<std::string> validated_checks(const std::string& schema, const std::string& table) override;
  std::optional<std::pair<std::string, std::string>> index_table(const std::string& schema,
                                                                 const std::string& index) override;

  // How many queries this catalog has sent.
  size_t queries() const;

 private:
  struct Connection;
  std::unique_ptr<Connection> connection_;
  // prefetch_rows(): {schema, table} -> estimated_rows()'s answer.
  std::map<std::pair<std::string, std::string>, std::optional<double>> prefetched_rows_;
};

}  // namespace migrator
