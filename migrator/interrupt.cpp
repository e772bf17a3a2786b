#include "migrator/interrupt.h"

#include <atomic>

namespace migrator {
namespace {
std::atomic<bool> requested{false};
}  // namespace

void request_interrupt() { requested.store(true); }
bool interrupt_requested() { return requested.load(); }

}  // namespace migrator
