// The planner: validates a declarative migration against the catalog and sequences its operations
// into the statements of each phase, adding what every migration shares: the sync triggers (one
// function and one BEFORE INSERT OR UPDATE row trigger per changed table) and the version schema
// (`<schema>_v<version>`, one simple view per table of each schema the migration changes, showing
// the new shape; auto-updatable, except that a view whose new shape has a NOT NULL column the sync
// trigger would fill takes its inserts through an INSTEAD OF INSERT trigger refusing NULL there).
#pragma once

#include <string>
#include <vector>

#include "migrator/expand/declarative.h"
#include "migrator/expand/operation.h"

namespace migrator::expand {

struct Plan {
  Phases phases;
  std::vector<std::string> tables;           // schema.table of every table the migration changes
  std::vector<std::string> version_schemas;  // the schemas of views it creates, e.g. public_v0007
};

// `version` as on disk ("0007"). Throws Error(kInvalidMigrations) "<file>:<line>: ..." if an
// operation names a table or column that does not exist (or one that should not).
// Abort statements run in order: concurrent index drops, the version schemas (and the views'
// insert trigger functions), the sync triggers and their functions, then each operation's
// rollback, last operation first.
// Complete statements: the sync triggers and their functions, the views' insert triggers (and the
// view defaults they needed), then each operation's contract.
Plan plan_migration(const Declarative& migration, const Catalog& catalog, const std::string& version);

// `contract` (a stored complete list) as this release plans it: one planned by an earlier release
// drops the views' insert triggers without locking those views first, so the views named by its
// DROP TRIGGER statements are locked ahead of everything else (see plan_migration). A list that
// already starts with a LOCK, or changes no view, comes back as it is.
std::vector<PlannedStatement> lock_views_first(std::vector<PlannedStatement> contract, const std::string& version);
// The version schema of database schema `schema` for migration `version`: "public_v0007".
std::string version_schema(const std::string& schema, const std::string& version);

}  // namespace migrator::expand
