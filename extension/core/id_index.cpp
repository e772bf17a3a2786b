#include "core/id_index.h"

#include "core/hash.h"

namespace rollout {

size_t IdIndex::probe(std::string_view id, uint32_t hash) const noexcept {
  const size_t mask = slots_.size() - 1;
  size_t i = hash & mask;
  while (true) {
    const int32_t at = slots_[i];
    if (at < 0) return i;
    if (hashes_[at] == hash && ids_[at] == id) return i;
    i = (i + 1) & mask;
  }
}

void IdIndex::grow() {
  const size_t capacity = slots_.empty() ? 16 : slots_.size() * 2;
  slots_.assign(capacity, -1);
  for (size_t at = 0; at < ids_.size(); at++) {
    slots_[probe(ids_[at], hashes_[at])] = static_cast<int32_t>(at);
  }
}

IdIndex::Entry& IdIndex::upsert(std::string_view id) {
  // Keep the load factor at or below one half.
  if ((ids_.size() + 1) * 2 > slots_.size()) grow();
  const uint32_t hash = fnv1a32(id);
  const size_t slot = probe(id, hash);
  if (slots_[slot] >= 0) return entries_[slots_[slot]];
  slots_[slot] = static_cast<int32_t>(ids_.size());
  ids_.emplace_back(id);
  hashes_.push_back(hash);
  entries_.emplace_back();
  return entries_.back();
}

const IdIndex::Entry* IdIndex::find(std::string_view id) const noexcept {
  if (ids_.empty()) return nullptr;
  const int32_t at = slots_[probe(id, fnv1a32(id))];
  return at < 0 ? nullptr : &entries_[at];
}

}  // namespace rollout
