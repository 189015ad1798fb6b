#include "reports/analysis.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <tuple>

namespace convscale::reports {
namespace {

int Group(const Candidate& c) {
  if (!c.error.empty()) return 2;
  return c.fits ? 0 : 1;
}

// "vgg16" -> "VGG-16": the names people write; unknown names are kept as given.
std::string DisplayModel(const std::string& m) {
  static const std::map<std::string, std::string> names = {
      {"alexnet", "AlexNet"},
      {"vgg11", "VGG-11"},
      {"vgg13", "VGG-13"},
      {"vgg16", "VGG-16"},
      {"vgg19", "VGG-19"},
      {"resnet18", "ResNet-18"},
      {"resnet34", "ResNet-34"},
      {"resnet50", "ResNet-50"},
      {"resnet101", "ResNet-101"},
      {"resnet152", "ResNet-152"},
      {"inception_v3", "Inception-v3"},
      {"inception-v3", "Inception-v3"},
      {"googlenet", "GoogLeNet"},
      {"mobilenet_v2", "MobileNet-v2"},
      {"mobilenet-v2", "MobileNet-v2"},
      {"densenet121", "DenseNet-121"},
  };
  auto it = names.find(m);
  return it == names.end() ? m : it->second;
}

bool IsOneWeirdTrick(const Candidate& c) {
  if (c.strategy != "hybrid") return false;
  const std::string o = c.options.dump() + " " + c.label;
  return o.find("owt") != std::string::npos || o.find("weird") != std::string::npos ||
         o.find("conv-dp") != std::string::npos;
}

std::string GiB(double bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.1f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

}  // namespace

std::string Num(double v, int significant) {
  if (!std::isfinite(v)) return std::isnan(v) ? "nan" : (v > 0 ? "inf" : "-inf");
  if (v == 0) return "0";
  const int magnitude = static_cast<int>(std::floor(std::log10(std::fabs(v))));
  const int decimals = std::clamp(significant - 1 - magnitude, 0, 9);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", decimals, v);
  std::string s = buf;
  if (s.find('.') != std::string::npos) {
    while (s.back() == '0') s.pop_back();
    if (s.back() == '.') s.pop_back();
  }
  if (s == "-0") s = "0";
  return s;
}

std::string Percent(double fraction, int decimals) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f%%", decimals, fraction * 100.0);
  std::string s = buf;
  if (s.rfind("-0%", 0) == 0 || s == "-0.0%") s = s.substr(1);
  return s;
}

int Complexity(const Candidate& c) {
  auto option = [&](const char* key) {
    return c.options.contains(key) && c.options[key].is_string() ? c.options[key].get<std::string>()
                                                                 : std::string();
  };
  if (c.strategy == "dp") return option("grad_precision") == "fp16" ? 1 : 0;
  if (c.strategy == "ps") return option("mode") == "async" ? 5 : 2;
  if (c.strategy == "hybrid") return 3;
  return 4;
}

void Rank(std::vector<Candidate>& candidates) {
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const Candidate& a, const Candidate& b) {
                     const int ga = Group(a), gb = Group(b);
                     if (ga != gb) return ga < gb;
                     if (ga < 2 && a.throughput_samples_per_s != b.throughput_samples_per_s)
                       return a.throughput_samples_per_s > b.throughput_samples_per_s;
                     return a.label < b.label;
                   });
  // Bands of ties among the candidates that run and fit (the first group, now by throughput).
  auto end = std::find_if(candidates.begin(), candidates.end(),
                          [](const Candidate& c) { return Group(c) != 0; });
  for (auto band = candidates.begin(); band != end;) {
    const double floor = band->throughput_samples_per_s / (1 + kTieMargin);
    auto band_end = std::find_if(
        band, end, [&](const Candidate& c) { return c.throughput_samples_per_s < floor; });
    std::stable_sort(band, band_end, [](const Candidate& a, const Candidate& b) {
      const int ca = Complexity(a), cb = Complexity(b);
      if (ca != cb) return ca < cb;
      if (a.throughput_samples_per_s != b.throughput_samples_per_s)
        return a.throughput_samples_per_s > b.throughput_samples_per_s;
      return a.label < b.label;
    });
    band = band_end;
  }
}

std::string Explain(const Facts& facts, const Candidate& c, const Candidate& best) {
  if (!c.error.empty()) return "cannot run here: " + c.error;
  if (!c.fits) {
    return "does not fit: needs " + GiB(c.memory_peak_bytes) + " per device, the " +
           (facts.device.empty() ? std::string("device") : facts.device) + " has " +
           GiB(c.memory_capacity_bytes);
  }
  const double t = c.iteration_time_s > 0 ? c.iteration_time_s : 1;
  const double comm = c.exposed_comm_time_s / t;
  const double bubble = c.bubble_time_s / t;
  const double compute = c.compute_time_s / t;
  const std::string model = DisplayModel(facts.model);
  const bool is_best = &c == &best || (c.label == best.label && c.strategy == best.strategy &&
                                       c.iteration_time_s == best.iteration_time_s);
  std::string why;
  if (c.outline_only) {
    why = "bounded from its outline, neither lowered in full nor simulated: " + c.not_simulated;
  } else if (IsOneWeirdTrick(c) && facts.fc_parameter_fraction >= 0.5) {
    why = model + "'s fully connected layers hold " + Percent(facts.fc_parameter_fraction) +
          " of the parameters: one weird trick keeps them off the network";
    if (comm >= 0.2) why += ", yet exposed communication is still " + Percent(comm);
  } else if (comm >= 0.2) {
    why = "exposed communication is " + Percent(comm) + " of the iteration";
    if (!facts.network.empty() && facts.inter_node_bandwidth_Bps > 0 &&
        facts.gpus > facts.devices_per_node)
      why += " on " + facts.network;
    if ((c.strategy == "dp" || c.strategy == "ps") && facts.fc_parameter_fraction >= 0.5)
      why += "; " + Percent(facts.fc_parameter_fraction) +
             " of the gradients it moves belong to the fully connected layers";
  } else if (bubble >= 0.15) {
    if (c.strategy == "ps")
      why = "workers wait for the parameter servers for " + Percent(bubble) + " of the iteration";
    else if (c.strategy == "mp" || c.strategy == "hybrid")
      why = "the pipeline bubble idles devices for " + Percent(bubble) + " of the iteration";
    else
      why = "devices wait idle for " + Percent(bubble) + " of the iteration";
  } else if (comm >= 0.05) {
    why = Percent(compute) + " of the iteration is compute; " + Percent(comm) +
          " is communication that backward cannot hide";
  } else if (c.comm_time_s > 0) {
    why =
        "communication (" + Percent(c.comm_time_s / t) + " of the iteration) hides behind compute";
  } else {
    why = "no communication: " + Percent(compute) + " of the iteration is compute";
  }
  if (c.options.contains("mode") && c.options["mode"] == "async") {
    const Json s = c.options.value("staleness", Json(-1));
    const bool bounded = s.is_number() && s.get<double>() >= 0;
    why +=
        "; asynchronous, staleness " +
        (bounded ? "at most " + Num(s.get<double>()) + " iterations" : std::string("unbounded")) +
        ": stale gradients change convergence, so its samples/s overstate training progress "
        "against sync";
  }
  if (!c.not_simulated.empty() && !c.outline_only) why += "; not simulated: " + c.not_simulated;
  if (is_best) return "fastest: " + why;
  if (c.throughput_samples_per_s <= 0) return why;
  const double ratio = best.throughput_samples_per_s / c.throughput_samples_per_s;
  const std::string margin = Percent(kTieMargin);
  if (ratio < 1)
    return Percent(1 / ratio - 1, 1) + " faster than " + best.label + ", a tie (within " + margin +
           "), and " + best.label + " is simpler: " + why;
  if (ratio < 1 + kTieMargin)
    return Percent(ratio - 1, 1) + " slower than " + best.label + ", a tie (within " + margin +
           "): " + why;
  return Num(ratio, 3) + "x slower than " + best.label + ": " + why;
}

void ExplainAll(const Facts& facts, std::vector<Candidate>& candidates) {
  if (candidates.empty()) return;
  const Candidate best = candidates.front();
  for (size_t i = 0; i < candidates.size(); ++i)
    candidates[i].reason = Explain(facts, candidates[i], i == 0 ? candidates[0] : best);
  // A first candidate that won a tie against a faster one says so instead of "fastest".
  const Candidate* fastest = &candidates.front();
  for (const Candidate& c : candidates)
    if (Group(c) == 0 && c.throughput_samples_per_s > fastest->throughput_samples_per_s)
      fastest = &c;
  const std::string prefix = "fastest: ";
  Candidate& first = candidates.front();
  if (fastest != &first && first.reason.rfind(prefix, 0) == 0)
    first.reason =
        "first: within " +
        Percent(fastest->throughput_samples_per_s / first.throughput_samples_per_s - 1, 1) +
        " of " + fastest->label + " (a tie) and simpler: " + first.reason.substr(prefix.size());
}

std::string Assumptions(const Facts& f) {
  std::vector<std::string> parts;
  if (!f.compute_precision.empty()) parts.push_back("compute " + f.compute_precision);
  if (!f.grad_precision.empty())
    parts.push_back("gradients " + f.grad_precision + " (fp16 where a row says so)");
  const std::string per = std::to_string(f.per_device_batch) + " per device";
  if (f.global_batch > 0)
    parts.push_back("global batch " + std::to_string(f.global_batch) + " (" + per + ")");
  else if (f.per_device_batch > 0)
    parts.push_back("batch " + per);
  if (!f.losses.empty()) parts.push_back("losses: " + f.losses);
  std::string s;
  for (const std::string& p : parts) s += (s.empty() ? "" : ", ") + p;
  return s;
}

namespace {
// Rows without numbers (a candidate that cannot run, a failed point) were predicted by nothing.
bool HasNumbers(const Candidate& c) {
  return c.error.empty();
}
bool HasNumbers(const SweepPoint& p) {
  return p.status != "failed";
}

template <class Rows>
std::string CountPredictors(const Rows& rows) {
  std::vector<std::pair<std::string, int>> counts;  // in order of first appearance
  for (const auto& r : rows) {
    if (r.predicted_by.empty() || !HasNumbers(r)) continue;
    auto it = std::find_if(counts.begin(), counts.end(),
                           [&](const auto& c) { return c.first == r.predicted_by; });
    if (it == counts.end())
      counts.push_back({r.predicted_by, 1});
    else
      ++it->second;
  }
  std::string s;
  for (const auto& [name, n] : counts)
    s += (s.empty() ? "" : ", ") + name + " (" + std::to_string(n) + ")";
  return s.empty() ? "-" : s;
}
}  // namespace

std::string PredictedBy(const std::vector<Candidate>& candidates) {
  return CountPredictors(candidates);
}

std::string PredictedBy(const std::vector<SweepPoint>& points) {
  return CountPredictors(points);
}

void SortPoints(std::vector<SweepPoint>& points) {
  std::stable_sort(points.begin(), points.end(), [](const SweepPoint& a, const SweepPoint& b) {
    return std::tie(a.strategy, a.variant, a.gpus) < std::tie(b.strategy, b.variant, b.gpus);
  });
}

std::vector<Knee> FindKnees(const SweepReport& sweep) {
  std::vector<SweepPoint> pts = sweep.points;
  SortPoints(pts);
  std::vector<Knee> knees;
  size_t i = 0;
  while (i < pts.size()) {
    size_t j = i;
    while (j < pts.size() && pts[j].strategy == pts[i].strategy && pts[j].variant == pts[i].variant)
      ++j;
    // Series [i, j): only the points that run and fit count.
    std::vector<const SweepPoint*> s;
    for (size_t k = i; k < j; ++k)
      if (pts[k].fits && pts[k].throughput_samples_per_s > 0) s.push_back(&pts[k]);
    if (!s.empty()) {
      Knee knee;
      knee.strategy = pts[i].strategy;
      knee.variant = pts[i].variant;
      double x1 = sweep.facts.single_device_throughput;
      if (s.front()->gpus == 1) x1 = s.front()->throughput_samples_per_s;
      if (x1 <= 0) x1 = s.front()->throughput_samples_per_s / s.front()->gpus;
      knee.gpus = s.front()->gpus;
      for (size_t k = 1; k < s.size(); ++k) {
        const double m = (s[k]->throughput_samples_per_s - s[k - 1]->throughput_samples_per_s) /
                         ((s[k]->gpus - s[k - 1]->gpus) * x1);
        if (m < sweep.threshold) {
          knee.stops_paying = true;
          knee.next_gpus = s[k]->gpus;
          knee.next_marginal_efficiency = m;
          knee.next_throughput_change =
              s[k]->throughput_samples_per_s / s[k - 1]->throughput_samples_per_s - 1;
          break;
        }
        knee.gpus = s[k]->gpus;
      }
      knees.push_back(knee);
    }
    i = j;
  }
  return knees;
}

std::string DescribeKnee(const Knee& k) {
  std::string s = k.strategy +
                  (k.variant == "baseline" || k.variant.empty() ? "" : " (" + k.variant + ")") +
                  ": ";
  if (!k.stops_paying) return s + "every step up to " + std::to_string(k.gpus) + " GPUs pays";
  s += "adding GPUs pays up to " + std::to_string(k.gpus) + "; going to " +
       std::to_string(k.next_gpus);
  if (k.next_throughput_change < 0)
    return s + " lowers throughput by " + Percent(-k.next_throughput_change);
  return s + " adds " + Percent(k.next_marginal_efficiency) + " of a GPU's worth per added GPU";
}

double SamplesPerDollar(double throughput_samples_per_s, int gpus, double gpu_hour_price_usd) {
  if (gpus <= 0 || gpu_hour_price_usd <= 0) return 0;
  return throughput_samples_per_s * 3600.0 / (gpu_hour_price_usd * gpus);
}

std::string CandidateLabel(const std::string& strategy, const Json& options) {
  std::string s = strategy;
  for (const auto& [key, value] : options.items()) {
    s += " ";
    if (value.is_string()) {
      s += value.get<std::string>();
    } else if (value.is_boolean()) {
      s += value.get<bool>() ? key : "no-" + key;
    } else if (value.is_number()) {
      s += key + "=" + Num(value.get<double>(), 6);
    } else {
      s += key + "=" + value.dump();
    }
  }
  return s;
}

}  // namespace convscale::reports
