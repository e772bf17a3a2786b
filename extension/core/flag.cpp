#include "core/flag.h"

#include <algorithm>
#include <utility>

namespace rollout {

CompiledFlag::CompiledFlag(const FlagDefinition& definition)
    : key_(definition.key),
      enabled_(definition.enabled),
      rollout_basis_points_(definition.rollout_basis_points),
      bucketer_(definition.salt.empty() ? definition.key : definition.salt) {}

Status FlagSet::Compile(std::vector<FlagDefinition> definitions, FlagSet* set) {
  std::sort(definitions.begin(), definitions.end(),
            [](const FlagDefinition& a, const FlagDefinition& b) { return a.key < b.key; });
  std::vector<CompiledFlag> flags;
  flags.reserve(definitions.size());
  for (size_t i = 0; i < definitions.size(); i++) {
    const FlagDefinition& d = definitions[i];
    if (d.key.empty()) return Status::Error("flag key is empty");
    if (i > 0 && definitions[i - 1].key == d.key) return Status::Error("duplicate flag key \"" + d.key + "\"");
    if (d.rollout_basis_points > kBuckets) {
      return Status::Error("flag \"" + d.key + "\" has rollout " + std::to_string(d.rollout_basis_points) +
                           " basis points, above 10000 (100%)");
    }
    flags.emplace_back(d);
  }
  set->flags_ = std::move(flags);
  return Status::Ok();
}

const CompiledFlag* FlagSet::find(std::string_view key) const noexcept {
  auto it = std::lower_bound(flags_.begin(), flags_.end(), key,
                             [](const CompiledFlag& flag, std::string_view k) { return flag.key() < k; });
  if (it == flags_.end() || it->key() != key) return nullptr;
  return &*it;
}

}  // namespace rollout
