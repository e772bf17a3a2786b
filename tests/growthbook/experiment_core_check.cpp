// The core-level half of the GrowthBook experiment comparison: compiles every experiment of a
// file written by `generate_cases.js COUNT experiments` into a rollout::ExperimentSet (through
// the same document format SQL builds) and compares each user's variation with the SDK's run().
//
//   growthbook_experiment_core_check CASES.json
//
// Prints the number of cases, experiments and differences (the first few in full); exits 0 only
// when there are cases and no differences, 1 on a difference, 2 on a bad file.
#include <cstdio>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

#include "core/experiment.h"
#include "growthbook/cases_file.h"

int main(int argc, char** argv) {
  nlohmann::json doc;
  if (!growthbook_check::read_cases(argc, argv, &doc)) return 2;

  size_t cases = 0, differences = 0, in_experiment = 0;
  std::map<std::string, bool> experiments;
  try {
    // The experiments, as rollout._experiments_document() would give them.
    nlohmann::json list = nlohmann::json::array();
    for (const auto& c : doc.at("experiment_cases")) {
      const std::string key = c.at("key").get<std::string>();
      if (!experiments.emplace(key, true).second) continue;
      const int n = c.at("variations").get<int>();
      const std::vector<double> weights = c.at("weights").is_null()
                                              ? rollout::equal_experiment_weights(static_cast<size_t>(n))
                                              : c.at("weights").get<std::vector<double>>();
      nlohmann::json variations = nlohmann::json::array();
      for (int i = 0; i < n; i++) variations.push_back({{"key", "v" + std::to_string(i)}, {"weight", weights.at(i)}});
      nlohmann::json x = {{"key", key},
                          {"status", "running"},
                          {"seed", c.at("seed").is_null() ? nlohmann::json(key) : c.at("seed")},
                          {"hash_version", c.at("hash_version")},
                          {"coverage", c.at("coverage")},
                          {"variations", variations}};
      if (!c.at("namespace").is_null()) {
        x["namespace"] = c.at("namespace").at(0);
        x["namespace_start"] = c.at("namespace").at(1);
        x["namespace_end"] = c.at("namespace").at(2);
      }
      list.push_back(x);
    }
    rollout::ExperimentSet set;
    const rollout::Status status = rollout::ExperimentSet::Compile(nlohmann::json{{"experiments", list}}.dump(), &set);
    if (!status.ok) {
      std::fprintf(stderr, "%s: the experiments do not compile: %s\n", argv[0], status.message.c_str());
      return 2;
    }
    for (const auto& c : doc.at("experiment_cases")) {
      const std::string key = c.at("key").get<std::string>();
      const std::string id = c.at("id").get<std::string>();
      const rollout::CompiledExperiment* x = set.find(key);
      const rollout::ExperimentDecision d = x->evaluate(rollout::ExperimentSubject{id, nullptr}, 0);
      const int sdk = c.at("expected").is_null() ? -1 : c.at("expected").get<int>();
      cases++;
      if (sdk >= 0) in_experiment++;
      if (d.variation != sdk) {
        if (++differences <= 10) {
          std::printf("  differs: case %d experiment=%s id=%s: core %d (%s), SDK %d\n", c.at("n").get<int>(),
                      nlohmann::json(key).dump().c_str(), nlohmann::json(id).dump().c_str(), d.variation,
                      rollout::experiment_step_name(d.step), sdk);
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {
    std::fprintf(stderr, "%s: %s: unexpected case layout: %s\n", argv[0], argv[1], e.what());
    return 2;
  }
  std::printf("core: %zu experiment cases (%zu experiments, %zu users in one) from %s, %zu differences\n", cases,
              experiments.size(), in_experiment, doc.value("sdk", std::string("an unnamed SDK")).c_str(), differences);
  if (cases == 0) return 2;
  return differences == 0 ? 0 : 1;
}
