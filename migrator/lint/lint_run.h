// Linting migrations as the command line does: which files, in which order, and how findings are
// reported or refuse a run.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "migrator/lint/lint.h"
#include "migrator/source/source.h"

namespace migrator {

// The script of a migration's up.sql, with the rules its header allows.
LintScript lint_script(const Migration& migration);

// The up.sql files named by `paths`, in order: a migrations directory gives every migration's
// up.sql (by version), a migration directory its up.sql, a file itself. Throws
// Error(kInvalidMigrations) naming a path that is none of those.
std::vector<LintScript> lint_scripts_at(const std::vector<std::string>& paths);

// Findings that are not allowed.
std::vector<Finding> refused(const std::vector<Finding>& findings);

// Lints `pending` (as `up` is about to apply them) and throws Error(kLintRefused) listing every
// finding that is not allowed, and how to allow one; returns the allowed ones otherwise.
std::vector<Finding> lint_before_up(const std::vector<const Migration*>& pending, const LintOptions& options);

}  // namespace migrator
