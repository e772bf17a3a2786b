// Per-user targets of one flag (allow list, deny list, overrides), looked up by user id text.
//
// Open addressing over FNV-1a hashes of the ids: a lookup hashes the id once and compares a few
// entries, with no allocation, so a 1,000-user allow list costs about as much as a 1-user one.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rollout {

class IdIndex {
 public:
  struct Entry {
    bool allow = false;
    bool deny = false;
    int override_index = -1;  // into the flag's overrides, or -1
  };

  // Returns the entry for `id`, adding an empty one if absent. Invalidates earlier pointers.
  Entry& upsert(std::string_view id);

  // The entry for `id`, or nullptr.
  const Entry* find(std::string_view id) const noexcept;

  bool empty() const noexcept { return ids_.empty(); }
  size_t size() const noexcept { return ids_.size(); }

 private:
  void grow();
  size_t probe(std::string_view id, uint32_t hash) const noexcept;  // slot holding id, or empty slot

  std::vector<std::string> ids_;
  std::vector<Entry> entries_;
  std::vector<uint32_t> hashes_;
  std::vector<int32_t> slots_;  // index into ids_/entries_, or -1; size a power of two
};

}  // namespace rollout
