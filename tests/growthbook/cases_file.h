// Reading the cases file that generate_cases.js writes, for the core-level checks.
#pragma once

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>

namespace growthbook_check {

// Parses the file named by the only argument into `doc`. Prints the usage or the problem to stderr
// and returns false (the checks then exit 2) when there is not exactly one argument, or the file
// cannot be read or is not JSON.
inline bool read_cases(int argc, char** argv, nlohmann::json* doc) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s CASES.json\n", argv[0]);
    return false;
  }
  try {
    std::ifstream in(argv[1]);
    if (!in) {
      std::fprintf(stderr, "%s: cannot read %s\n", argv[0], argv[1]);
      return false;
    }
    *doc = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "%s: %s is not valid JSON: %s\n", argv[0], argv[1], e.what());
    return false;
  }
  return true;
}

}  // namespace growthbook_check
