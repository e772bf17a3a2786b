// The core-level half of the GrowthBook SDK comparison: buckets every case of a file written by
// generate_cases.js with rollout::Bucketer and compares the rollout decision with the SDK's.
//
//   growthbook_core_check CASES.json
//
// Prints the number of cases and of differences (the first few in full); exits 0 only when
// there are cases and no differences, 1 on a difference, 2 on a bad file.
#include <cstdint>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "core/bucket.h"
#include "growthbook/cases_file.h"

namespace {

// "12.34" -> 1234. The generator always writes two decimals; anything else is a bad file.
bool parse_basis_points(const std::string& text, uint32_t* out) {
  const size_t dot = text.find('.');
  if (dot == std::string::npos || dot == 0 || text.size() - dot != 3) return false;
  uint32_t value = 0;
  for (char c : text) {
    if (c == '.') continue;
    if (c < '0' || c > '9') return false;
    value = value * 10 + static_cast<uint32_t>(c - '0');
    if (value > 10000) return false;
  }
  *out = value;
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  nlohmann::json doc;
  if (!growthbook_check::read_cases(argc, argv, &doc)) return 2;

  size_t cases = 0, differences = 0;
  try {
    for (const auto& c : doc.at("cases")) {
      const std::string key = c.at("key").get<std::string>();
      const std::string salt = c.at("salt").is_null() ? key : c.at("salt").get<std::string>();
      const std::string id = c.at("id").get<std::string>();
      const std::string percentage = c.at("percentage").get<std::string>();
      uint32_t basis_points;
      if (!parse_basis_points(percentage, &basis_points)) {
        std::fprintf(stderr, "%s: case %zu: bad percentage \"%s\"\n", argv[0], cases + 1, percentage.c_str());
        return 2;
      }
      const uint32_t bucket = rollout::Bucketer(salt).bucket(id);
      const bool ours = rollout::rollout_includes(bucket, basis_points);
      const bool sdk = c.at("expected").get<bool>();
      cases++;
      if (ours != sdk) {
        if (++differences <= 10) {
          std::printf("  differs: case %d salt=%s id=%s percentage=%s bucket=%u: core %d, SDK %d\n",
                      c.at("n").get<int>(), nlohmann::json(salt).dump().c_str(), nlohmann::json(id).dump().c_str(),
                      percentage.c_str(), bucket, ours, sdk);
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "%s: %s: unexpected case layout: %s\n", argv[0], argv[1], e.what());
    return 2;
  }
  std::printf("core: %zu cases from %s, %zu differences\n", cases,
              doc.value("sdk", std::string("an unnamed SDK")).c_str(), differences);
  if (cases == 0) return 2;
  return differences == 0 ? 0 : 1;
}
