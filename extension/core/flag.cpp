#include "core/flag.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <functional>
#include <limits>
#include <map>
#include <set>
#include <utility>

#include <nlohmann/json.hpp>

namespace rollout {

using json = nlohmann::json;

const char* reason_name(Reason reason) noexcept {
  switch (reason) {
    case Reason::kFlagNotFound: return "FLAG_NOT_FOUND";
    case Reason::kOff: return "OFF";
    case Reason::kPrerequisiteFailed: return "PREREQUISITE_FAILED";
    case Reason::kOverride: return "OVERRIDE";
    case Reason::kTargetDeny: return "TARGET_DENY";
    case Reason::kTargetAllow: return "TARGET_ALLOW";
    case Reason::kRuleMatch: return "RULE_MATCH";
    case Reason::kFallthrough: return "FALLTHROUGH";
  }
  return "ERROR";
}

const char* openfeature_reason(Reason reason, bool decided_by_split) noexcept {
  switch (reason) {
    case Reason::kFlagNotFound: return "ERROR";
    case Reason::kOff: return "DISABLED";
    case Reason::kPrerequisiteFailed: return "TARGETING_MATCH";
    case Reason::kOverride:
    case Reason::kTargetDeny:
    case Reason::kTargetAllow: return "TARGETING_MATCH";
    case Reason::kRuleMatch: return decided_by_split ? "SPLIT" : "TARGETING_MATCH";
    case Reason::kFallthrough: return decided_by_split ? "SPLIT" : "DEFAULT";
  }
  return "ERROR";
}

// ---------------------------------------------------------------------------------------------
// Evaluation

bool CompiledFlag::tier_allowed(const Subject& subject, const std::vector<std::string>& tiers) const noexcept {
  if (tiers.empty()) return true;
  const AttributeValue& tier = subject.attribute(tier_slot_);
  if (!tier.present()) return false;
  for (const std::string& t : tiers) {
    if (t == tier.text) return true;
  }
  return false;
}

bool CompiledFlag::rule_matches(const Rule& rule, const Subject& subject) const noexcept {
  for (size_t i = 0; i < rule.constraints.size(); i++) {
    const int slot = rule.constraint_slots[i];
    if (slot == kUserIdSlot) {
      const AttributeValue id =
          subject.user_id.empty() ? AttributeValue::Absent() : AttributeValue::String(subject.user_id);
      if (!rule.constraints[i].matches(id)) return false;
    } else if (!rule.constraints[i].matches(subject.attribute(slot))) {
      return false;
    }
  }
  return true;
}

const ServedValue* CompiledFlag::serve(const Outcome& outcome, std::string_view bucketing_value) const noexcept {
  switch (outcome.kind) {
    case Outcome::Kind::kOff: return &off_value_;
    case Outcome::Kind::kVariant: return &variants_[outcome.variant].value;
    case Outcome::Kind::kOn: break;
  }
  if (variants_.empty()) return &on_value_;
  // A weighted pick, independent of the rollout bucket (its own seed), so changing a percentage
  // never moves a user from one variant to another. Without a bucketing value: the first variant.
  if (bucketing_value.empty()) return &variants_.front().value;
  const uint32_t b = variant_bucketer_.bucket(bucketing_value);
  for (const Variant& v : variants_) {
    if (b < v.end_bp) return &v.value;
  }
  return &variants_.back().value;
}

bool CompiledFlag::prerequisites_met(const Subject& subject, int64_t now_us) const noexcept {
  for (const Prerequisite& p : prerequisites_) {
    if (p.flag == nullptr) return false;
    const Evaluation e = p.flag->evaluate(subject, now_us);
    switch (p.required.kind) {
      case Outcome::Kind::kOn:
        if (!e.value->on) return false;
        break;
      case Outcome::Kind::kOff:
        if (e.value->on) return false;
        break;
      case Outcome::Kind::kVariant:
        if (e.value->variant != p.required.variant) return false;
        break;
    }
  }
  return true;
}

Evaluation CompiledFlag::evaluate(const Subject& subject, int64_t now_us) const noexcept {
  Evaluation e;
  if (!enabled_) {
    e.reason = Reason::kOff;
    e.value = &off_value_;
    return e;
  }
  if (!prerequisites_.empty() && !prerequisites_met(subject, now_us)) {
    e.reason = Reason::kPrerequisiteFailed;
    e.value = &off_value_;
    return e;
  }
  if (!targets_.empty() && !subject.user_id.empty()) {
    if (const IdIndex::Entry* target = targets_.find(subject.user_id)) {
      if (target->override_index >= 0) {
        const Override& o = overrides_[target->override_index];
        if (now_us < o.expires_at_us) {
          e.reason = Reason::kOverride;
          e.value = serve(o.outcome, subject.user_id);
          return e;
        }
      }
      if (target->deny) {
        e.reason = Reason::kTargetDeny;
        e.value = &off_value_;
        return e;
      }
      if (target->allow) {
        e.reason = Reason::kTargetAllow;
        e.value = serve(Outcome{Outcome::Kind::kOn, -1}, subject.user_id);
        return e;
      }
    }
  }
  for (const Rule& rule : rules_) {
    if (!rule_matches(rule, subject)) continue;
    e.reason = Reason::kRuleMatch;
    e.rule = rule.number;
    std::string_view value = bucketing_value(subject, rule.bucket_slot);
    if (value.empty() && rule.fallback_slot != kNoSlot) value = bucketing_value(subject, rule.fallback_slot);
    e.split = rule.bp > 0 && rule.bp < kBuckets;
    bool in = rule.bp >= kBuckets;
    if (e.split && !value.empty()) {
      e.bucket = static_cast<int32_t>(bucketer_.bucket(value));
      in = static_cast<uint32_t>(e.bucket) <= rule.bp;
    }
    e.value = in ? serve(rule.outcome, value) : &off_value_;
    return e;
  }
  e.reason = Reason::kFallthrough;
  uint32_t bp = fallthrough_bp_;
  const std::vector<std::string>* tiers = &fallthrough_tiers_;
  // The plan's stage in force: the last one that has started (stages are sorted).
  for (auto it = plan_.rbegin(); it != plan_.rend(); ++it) {
    if (it->starts_at_us <= now_us) {
      bp = it->bp;
      tiers = &it->tiers;
      break;
    }
  }
  if (!tier_allowed(subject, *tiers)) {
    e.value = &off_value_;
    return e;
  }
  e.split = bp > 0 && bp < kBuckets;
  bool in = bp >= kBuckets;
  if (e.split && !subject.user_id.empty()) {
    e.bucket = static_cast<int32_t>(bucketer_.bucket(subject.user_id));
    in = static_cast<uint32_t>(e.bucket) <= bp;
  }
  e.value = in ? serve(Outcome{Outcome::Kind::kOn, -1}, subject.user_id) : &off_value_;
  return e;
}

// ---------------------------------------------------------------------------------------------
// Compilation

namespace {

Status shape_error(const std::string& where, const std::string& what, const std::string& hint) {
  return Status::Error(ErrorCode::kInvalidParameter, where + ": " + what, hint);
}

// Parses `text` as JSON; a syntax error names the byte offset.
Status parse_json(std::string_view text, const char* what, json* out) {
  json parsed = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) {
    return Status::Error(ErrorCode::kInvalidJson, std::string(what) + " is not valid JSON",
                         "Pass a JSON value, e.g. '[]'::jsonb.");
  }
  *out = std::move(parsed);
  return Status::Ok();
}

const char* kValueHint =
    "A boolean flag serves true or false; a multivariate flag also serves one of its variant keys as a "
    "JSON string, e.g. '\"blue\"'.";

}  // namespace

// Builds a FlagSet; holds the attribute slot table while flags are compiled.
struct FlagCompiler {
  FlagSet* set;
  std::map<std::string, int, std::less<>> slots;

  int slot_for(std::string_view name) {
    if (name == kUserIdAttribute) return kUserIdSlot;
    auto it = slots.find(name);
    if (it != slots.end()) return it->second;
    const int slot = static_cast<int>(slots.size());
    slots.emplace(std::string(name), slot);
    return slot;
  }

  static Status parse_variants(const json& variants, CompiledFlag* flag) {
    if (variants.is_null()) return Status::Ok();
    if (!variants.is_array() || variants.empty()) {
      return shape_error("variants", "must be a non-empty JSON array or null",
                         R"(Use e.g. '[{"key":"control","weight":50},{"key":"blue","weight":50,"value":{"color":"blue"}}]'.)");
    }
    uint32_t end = 0;
    std::set<std::string> keys;
    for (size_t i = 0; i < variants.size(); i++) {
      const json& v = variants[i];
      const std::string where = "variant " + std::to_string(i + 1);
      if (!v.is_object()) {
        return shape_error(where, "is not a JSON object", R"(Each variant is {"key": ..., "weight": ..., "value": ...}.)");
      }
      for (auto it = v.begin(); it != v.end(); ++it) {
        if (it.key() != "key" && it.key() != "weight" && it.key() != "value") {
          return shape_error(where, "unknown field \"" + it.key() + "\"", "A variant has the fields key, weight and value.");
        }
      }
      auto key = v.find("key");
      if (key == v.end() || !key->is_string() || key->get_ref<const std::string&>().empty()) {
        return shape_error(where, "has no key", "Give each variant a non-empty string key.");
      }
      const std::string& k = key->get_ref<const std::string&>();
      if (!keys.insert(k).second) {
        return Status::Error(ErrorCode::kDuplicateObject, "variant key \"" + k + "\" appears twice",
                             "Variant keys must be unique within a flag.");
      }
      auto weight = v.find("weight");
      if (weight == v.end() || !weight->is_number()) {
        return shape_error("variant \"" + k + "\"", "has no numeric weight", "Weights are percentages that sum to 100.");
      }
      const double w = weight->get<double>();
      const double scaled = w * 100.0;
      if (!(w >= 0 && w <= 100) || std::fabs(scaled - std::round(scaled)) > 1e-6) {
        return shape_error("variant \"" + k + "\"", "weight " + weight->dump() + " is not a percentage from 0 to 100 with at most two decimals",
                           "Weights are percentages that sum to 100, e.g. 50 and 50, or 33.34, 33.33 and 33.33.");
      }
      end += static_cast<uint32_t>(std::lround(scaled));
      if (flag != nullptr) {
        CompiledFlag::Variant variant;
        variant.key = k;
        variant.end_bp = end;
        variant.value.on = true;
        variant.value.variant = static_cast<int>(i);
        auto value = v.find("value");
        variant.value.json = value == v.end() ? json(k).dump() : value->dump();
        flag->variants_.push_back(std::move(variant));
      }
    }
    if (end != kBuckets) {
      char total[32];
      snprintf(total, sizeof total, "%.2f", end / 100.0);
      return Status::Error(ErrorCode::kInvalidParameter, std::string("variant weights sum to ") + total + ", not 100",
                           "Adjust the weights so they add up to exactly 100.");
    }
    return Status::Ok();
  }

  // A served value (rule, override, allow) or a prerequisite's required value.
  static Status parse_outcome(const json& value, const std::vector<CompiledFlag::Variant>& variants, Outcome* out) {
    if (value.is_boolean()) {
      *out = Outcome{value.get<bool>() ? Outcome::Kind::kOn : Outcome::Kind::kOff, -1};
      return Status::Ok();
    }
    if (value.is_string() && !variants.empty()) {
      const std::string& k = value.get_ref<const std::string&>();
      for (size_t i = 0; i < variants.size(); i++) {
        if (variants[i].key == k) {
          *out = Outcome{Outcome::Kind::kVariant, static_cast<int>(i)};
          return Status::Ok();
        }
      }
      std::string known;
      for (const auto& v : variants) known += (known.empty() ? "" : ", ") + v.key;
      return Status::Error(ErrorCode::kUndefinedObject, "value \"" + k + "\" is not a variant of the flag",
                           "The flag's variants are: " + known + ".");
    }
    return Status::Error(ErrorCode::kInvalidParameter, "value " + value.dump() + " is not a value this flag can serve",
                         kValueHint);
  }

  static Status validate_value(const json& value, const json& variants) {
    CompiledFlag scratch;
    if (Status s = parse_variants(variants, &scratch); !s.ok) return s;
    Outcome outcome;
    return parse_outcome(value, scratch.variants_, &outcome);
  }

  static Status parse_string_list(const json& list, const std::string& where, std::vector<std::string>* out) {
    if (list.is_null()) return Status::Ok();
    if (!list.is_array()) return shape_error(where, "must be an array of strings or null", "Use e.g. '{pro,enterprise}'.");
    for (const json& item : list) {
      if (!item.is_string()) return shape_error(where, "must contain only strings", "Use e.g. '{pro,enterprise}'.");
      out->push_back(item.get<std::string>());
    }
    return Status::Ok();
  }

  static Status parse_bp(const json& object, const char* field, const std::string& where, uint32_t* out) {
    auto it = object.find(field);
    if (it == object.end() || !it->is_number_integer() || it->get<int64_t>() < 0 || it->get<int64_t>() > kBuckets) {
      return shape_error(where, std::string("field ") + field + " must be an integer from 0 to 10000",
                         "Percentages are 0 to 100 with at most two decimals.");
    }
    *out = static_cast<uint32_t>(it->get<int64_t>());
    return Status::Ok();
  }

  Status compile_rule(const json& r, CompiledFlag* flag, CompiledFlag::Rule* rule) {
    auto number = r.find("number");
    rule->number = number != r.end() && number->is_number_integer() ? number->get<int>() : 0;
    const std::string where = "rule " + std::to_string(rule->number);
    auto constraints = r.find("constraints");
    if (constraints == r.end() || !constraints->is_array()) {
      return shape_error(where, "constraints must be a JSON array",
                         R"(Use e.g. '[{"attribute":"tier","op":"in","values":["pro"]}]'.)");
    }
    for (size_t i = 0; i < constraints->size(); i++) {
      Constraint c;
      Status s = Constraint::Parse((*constraints)[i], &c);
      if (!s.ok) return s.within(where + ", constraint " + std::to_string(i + 1));
      rule->constraint_slots.push_back(slot_for(c.attribute()));
      rule->constraints.push_back(std::move(c));
    }
    if (Status s = parse_bp(r, "rollout_bp", where, &rule->bp); !s.ok) return s;
    rule->bucket_slot = kUserIdSlot;
    rule->fallback_slot = kNoSlot;
    auto bucket_by = r.find("bucket_by");
    if (bucket_by != r.end() && bucket_by->is_string()) rule->bucket_slot = slot_for(bucket_by->get<std::string>());
    auto fallback = r.find("fallback_bucket_by");
    if (fallback != r.end() && fallback->is_string()) rule->fallback_slot = slot_for(fallback->get<std::string>());
    auto value = r.find("value");
    if (value == r.end()) return shape_error(where, "has no value", kValueHint);
    if (Status s = parse_outcome(*value, flag->variants_, &rule->outcome); !s.ok) return s.within(where);
    return Status::Ok();
  }

  Status compile_flag(const json& f, CompiledFlag* flag) {
    auto key = f.find("key");
    if (key == f.end() || !key->is_string() || key->get_ref<const std::string&>().empty()) {
      return shape_error("flag", "has no key", "Every flag has a non-empty key.");
    }
    flag->key_ = key->get<std::string>();
    auto salt = f.find("salt");
    const std::string seed = salt != f.end() && salt->is_string() ? salt->get<std::string>() : flag->key_;
    flag->bucketer_ = Bucketer(seed);
    flag->variant_bucketer_ = Bucketer(seed + ":variant");
    auto enabled = f.find("enabled");
    flag->enabled_ = enabled != f.end() && enabled->is_boolean() && enabled->get<bool>();

    auto variants = f.find("variants");
    if (variants != f.end()) {
      if (Status s = parse_variants(*variants, flag); !s.ok) return s;
    }
    if (flag->variants_.empty()) {
      flag->on_value_ = ServedValue{true, -1, "true"};
      flag->off_value_ = ServedValue{false, -1, "false"};
    } else {
      flag->off_value_ = ServedValue{false, -1, "null"};
    }
    if (Status s = parse_bp(f, "rollout_bp", "flag", &flag->fallthrough_bp_); !s.ok) return s;
    if (auto t = f.find("tiers"); t != f.end()) {
      if (Status s = parse_string_list(*t, "tiers", &flag->fallthrough_tiers_); !s.ok) return s;
    }

    std::vector<std::string> ids;
    if (auto a = f.find("allow"); a != f.end()) {
      if (Status s = parse_string_list(*a, "allow list", &ids); !s.ok) return s;
      for (const std::string& id : ids) flag->targets_.upsert(id).allow = true;
    }
    ids.clear();
    if (auto d = f.find("deny"); d != f.end()) {
      if (Status s = parse_string_list(*d, "deny list", &ids); !s.ok) return s;
      for (const std::string& id : ids) flag->targets_.upsert(id).deny = true;
    }
    if (auto o = f.find("overrides"); o != f.end() && o->is_array()) {
      for (const json& item : *o) {
        auto user = item.find("user_id");
        auto value = item.find("value");
        if (!item.is_object() || user == item.end() || !user->is_string() || value == item.end()) {
          return shape_error("override", "needs user_id and value", "Use rollout.override(flag, user_id, value).");
        }
        CompiledFlag::Override override_;
        if (Status s = parse_outcome(*value, flag->variants_, &override_.outcome); !s.ok) {
          return s.within("override for user \"" + user->get<std::string>() + "\"");
        }
        auto expires = item.find("expires_at_us");
        override_.expires_at_us = expires != item.end() && expires->is_number_integer()
                                      ? expires->get<int64_t>()
                                      : std::numeric_limits<int64_t>::max();
        flag->targets_.upsert(user->get<std::string>()).override_index = static_cast<int>(flag->overrides_.size());
        flag->overrides_.push_back(override_);
      }
    }
    if (auto r = f.find("rules"); r != f.end() && r->is_array()) {
      for (const json& item : *r) {
        if (!item.is_object()) return shape_error("rule", "is not a JSON object", "Use rollout.add_rule().");
        CompiledFlag::Rule rule;
        if (Status s = compile_rule(item, flag, &rule); !s.ok) return s;
        flag->rules_.push_back(std::move(rule));
      }
    }
    if (auto p = f.find("plan"); p != f.end() && p->is_array()) {
      for (const json& item : *p) {
        CompiledFlag::Stage stage;
        auto at = item.find("starts_at_us");
        if (!item.is_object() || at == item.end() || !at->is_number_integer()) {
          return shape_error("plan stage", "has no start time", "Use rollout.set_plan().");
        }
        stage.starts_at_us = at->get<int64_t>();
        if (Status s = parse_bp(item, "rollout_bp", "plan stage", &stage.bp); !s.ok) return s;
        if (auto t = item.find("tiers"); t != item.end()) {
          if (Status s = parse_string_list(*t, "plan stage tiers", &stage.tiers); !s.ok) return s;
        }
        flag->plan_.push_back(std::move(stage));
      }
      std::sort(flag->plan_.begin(), flag->plan_.end(),  // start times are unique (primary key)
                       [](const auto& a, const auto& b) { return a.starts_at_us < b.starts_at_us; });
    }
    bool tiers_used = !flag->fallthrough_tiers_.empty();
    for (const auto& stage : flag->plan_) tiers_used |= !stage.tiers.empty();
    if (tiers_used) flag->tier_slot_ = slot_for("tier");
    return Status::Ok();
  }
};

FlagSet::FlagSet() = default;
FlagSet::~FlagSet() = default;

size_t FlagSet::size() const noexcept { return flags_.size(); }
const CompiledFlag& FlagSet::at(size_t i) const noexcept { return *flags_[i]; }

int FlagSet::attribute_slot(std::string_view name) const noexcept {
  for (size_t i = 0; i < attribute_names_.size(); i++) {
    if (attribute_names_[i] == name) return static_cast<int>(i);
  }
  return -1;
}

const CompiledFlag* FlagSet::find(std::string_view key) const noexcept {
  auto it = std::lower_bound(flags_.begin(), flags_.end(), key,
                             [](const std::unique_ptr<CompiledFlag>& f, std::string_view k) { return f->key() < k; });
  if (it == flags_.end() || (*it)->key() != key) return nullptr;
  return it->get();
}

Status FlagSet::Compile(std::string_view text, FlagSet* set) {
  json document;
  if (Status s = parse_json(text, "the environment document", &document); !s.ok) return s;
  if (!document.is_object()) return shape_error("environment document", "is not a JSON object", "Build it with rollout._environment_document().");
  FlagSet compiled;
  FlagCompiler compiler{&compiled, {}};
  if (auto env = document.find("environment"); env != document.end() && env->is_string()) {
    compiled.environment_ = env->get<std::string>();
  }
  auto flags = document.find("flags");
  if (flags != document.end() && !flags->is_array()) return shape_error("environment document", "flags is not an array", "");
  std::vector<const json*> prerequisite_lists;
  if (flags != document.end()) {
    for (const json& f : *flags) {
      if (!f.is_object()) return shape_error("environment document", "a flag is not a JSON object", "");
      auto flag = std::make_unique<CompiledFlag>();
      if (Status s = compiler.compile_flag(f, flag.get()); !s.ok) {
        return s.within("flag \"" + flag->key_ + "\"");
      }
      compiled.flags_.push_back(std::move(flag));
      auto p = f.find("prerequisites");
      prerequisite_lists.push_back(p != f.end() && p->is_array() ? &*p : nullptr);
    }
  }
  // Sort by key, keeping each flag's prerequisite list beside it.
  std::vector<size_t> order(compiled.flags_.size());
  for (size_t i = 0; i < order.size(); i++) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return compiled.flags_[a]->key() < compiled.flags_[b]->key(); });
  std::vector<std::unique_ptr<CompiledFlag>> sorted;
  std::vector<const json*> sorted_prerequisites;
  for (size_t i : order) {
    if (!sorted.empty() && sorted.back()->key() == compiled.flags_[i]->key()) {
      return Status::Error(ErrorCode::kDuplicateObject, "flag \"" + compiled.flags_[i]->key() + "\" appears twice",
                           "Flag keys are unique within an environment.");
    }
    sorted.push_back(std::move(compiled.flags_[i]));
    sorted_prerequisites.push_back(prerequisite_lists[i]);
  }
  compiled.flags_ = std::move(sorted);

  // Prerequisites refer to flags by key: resolve them now that every flag exists.
  for (size_t i = 0; i < compiled.flags_.size(); i++) {
    CompiledFlag* flag = compiled.flags_[i].get();
    if (sorted_prerequisites[i] == nullptr) continue;
    for (const json& p : *sorted_prerequisites[i]) {
      auto required_key = p.find("flag");
      auto value = p.find("value");
      if (!p.is_object() || required_key == p.end() || !required_key->is_string() || value == p.end()) {
        return shape_error("flag \"" + flag->key() + "\"", "a prerequisite needs flag and value", "Use rollout.set_prerequisite().");
      }
      CompiledFlag::Prerequisite prerequisite;
      prerequisite.flag = compiled.find(required_key->get<std::string>());
      if (prerequisite.flag != nullptr) {
        Status s = FlagCompiler::parse_outcome(*value, prerequisite.flag->variants_, &prerequisite.required);
        if (!s.ok) return s.within("flag \"" + flag->key() + "\", prerequisite \"" + prerequisite.flag->key() + "\"");
      }
      flag->prerequisites_.push_back(prerequisite);
    }
  }
  // Cycles would recurse forever: refuse them (depth-first search, colours per flag).
  {
    std::map<const CompiledFlag*, int> colour;  // 0 new, 1 on the path, 2 done
    std::vector<std::string> path;
    std::string cycle;
    std::function<bool(const CompiledFlag*)> visit = [&](const CompiledFlag* f) {
      int& c = colour[f];
      if (c == 2) return true;
      if (c == 1) {
        for (const std::string& k : path) cycle += k + " -> ";
        cycle += f->key();
        return false;
      }
      c = 1;
      path.push_back(f->key());
      for (const auto& p : f->prerequisites_) {
        if (p.flag != nullptr && !visit(p.flag)) return false;
      }
      path.pop_back();
      colour[f] = 2;
      return true;
    };
    for (const auto& f : compiled.flags_) {
      if (!visit(f.get())) {
        return Status::Error(ErrorCode::kCycle, "prerequisite cycle: " + cycle,
                             "A flag cannot require itself, directly or through other flags; remove one prerequisite.");
      }
    }
  }
  // Attribute slots each flag reads, with those of its prerequisites.
  for (const auto& f : compiled.flags_) {
    std::set<int> slots;
    std::vector<const CompiledFlag*> todo{f.get()};
    std::set<const CompiledFlag*> seen;
    while (!todo.empty()) {
      const CompiledFlag* g = todo.back();
      todo.pop_back();
      if (!seen.insert(g).second) continue;
      if (g->tier_slot_ >= 0) slots.insert(g->tier_slot_);
      for (const auto& r : g->rules_) {
        for (int s : r.constraint_slots) {
          if (s >= 0) slots.insert(s);
        }
        if (r.bucket_slot >= 0) slots.insert(r.bucket_slot);
        if (r.fallback_slot >= 0) slots.insert(r.fallback_slot);
      }
      for (const auto& p : g->prerequisites_) {
        if (p.flag != nullptr) todo.push_back(p.flag);
      }
    }
    f->attribute_slots_.assign(slots.begin(), slots.end());
    f->plain_ = f->enabled_ && f->variants_.empty() && f->prerequisites_.empty() && f->targets_.empty() &&
                f->rules_.empty() && f->plan_.empty() && f->fallthrough_tiers_.empty();
  }
  compiled.attribute_names_.resize(compiler.slots.size());
  for (const auto& [name, slot] : compiler.slots) compiled.attribute_names_[slot] = name;

  set->environment_ = std::move(compiled.environment_);
  set->flags_ = std::move(compiled.flags_);
  set->attribute_names_ = std::move(compiled.attribute_names_);
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Validation of single parts

Status ValidateConstraints(std::string_view text) {
  json constraints;
  if (Status s = parse_json(text, "constraints", &constraints); !s.ok) return s;
  if (!constraints.is_array()) {
    return shape_error("constraints", "must be a JSON array",
                       R"(Use e.g. '[{"attribute":"tier","op":"in","values":["pro","enterprise"]}]'.)");
  }
  for (size_t i = 0; i < constraints.size(); i++) {
    Constraint c;
    Status s = Constraint::Parse(constraints[i], &c);
    if (!s.ok) return s.within("constraint " + std::to_string(i + 1));
  }
  return Status::Ok();
}

Status ValidateVariants(std::string_view text) {
  json variants;
  if (Status s = parse_json(text, "variants", &variants); !s.ok) return s;
  return FlagCompiler::parse_variants(variants, nullptr);
}

Status ValidateServedValue(std::string_view value_text, std::string_view variants_text) {
  json value, variants;
  if (Status s = parse_json(value_text, "value", &value); !s.ok) return s;
  if (Status s = parse_json(variants_text, "variants", &variants); !s.ok) return s;
  return FlagCompiler::validate_value(value, variants);
}

}  // namespace rollout
