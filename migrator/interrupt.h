// Interrupting a run (SIGINT, SIGTERM): the command line's signal watcher records the request and
// asks the driver to cancel the running statement; drivers check the request between statements, so
// a migration interrupted anywhere is rolled back and reported with ExitCode::kInterrupted.
#pragma once

namespace migrator {

// REQUIRES: nothing; safe from any thread.
void request_interrupt();
bool interrupt_requested();

}  // namespace migrator
