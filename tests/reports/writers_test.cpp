// Output shape of every writer: JSON keys, CSV header and rows, Markdown tables, HTML sections
// and charts; escaping of hostile names; byte-identical output for the same report.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "reports/escape.h"
#include "reports/writer.h"
#include "sample_report.h"

namespace convscale::reports {
namespace {

std::string One(const char* format, const Report& r, const std::string& name) {
  for (const auto& f : MakeWriter(format)->Write(r))
    if (f.name == name) return f.content;
  ADD_FAILURE() << format << " wrote no " << name;
  return "";
}

size_t Count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t at = s.find(what); at != std::string::npos; at = s.find(what, at + what.size())) ++n;
  return n;
}

std::vector<std::string> Lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

const char kHostile[] = "<script>alert(\"x\")</script>'&";

TEST(Writers, FormatsAndFiles) {
  const Report r = testing::SampleReport();
  EXPECT_EQ(MakeWriter("json")->Write(r).at(0).name, "report.json");
  EXPECT_EQ(MakeWriter("markdown")->Write(r).at(0).name, "report.md");
  EXPECT_EQ(MakeWriter("html")->Write(r).at(0).name, "index.html");
  EXPECT_EQ(MakeWriter("console")->Write(r).at(0).name, "-");
  const auto csv = MakeWriter("csv")->Write(r);
  ASSERT_EQ(csv.size(), 3u);
  EXPECT_EQ(csv[0].name, "selection.csv");
  EXPECT_EQ(csv[1].name, "sweep.csv");
  EXPECT_EQ(csv[2].name, "comparison.csv");
  try {
    MakeWriter("htlm");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "unknown report format \"htlm\"; did you mean \"html\"?");
  }
}

TEST(JsonWriter, KeysAndValues) {
  const Report r = testing::SampleReport();
  const Json j = ParseJson(One("json", r, "report.json"), "report.json");
  EXPECT_EQ(j["context"]["tool"], "convscale");
  EXPECT_EQ(j["context"]["schema_version"], kSchemaVersion);
  ASSERT_EQ(j["selections"].size(), 1u);
  const Json& sel = j["selections"][0];
  EXPECT_EQ(sel["best"], "hybrid owt");
  EXPECT_EQ(sel["compute_precision"], "bf16");
  EXPECT_EQ(sel["grad_precision"], "fp32");
  EXPECT_EQ(sel["global_batch"], 512);
  EXPECT_EQ(sel["per_device_batch"], 32);
  ASSERT_EQ(sel["candidates"].size(), 5u);
  const Json& c = sel["candidates"][0];
  for (const char* key :
       {"rank", "strategy", "label", "options", "predicted_by", "fits", "iteration_time_s",
        "compute_time_s", "exposed_comm_time_s", "bubble_time_s", "comm_time_s",
        "throughput_samples_per_s", "speedup", "scaling_efficiency", "comm_bytes_total",
        "memory_peak_bytes", "memory_capacity_bytes", "reason"})
    EXPECT_TRUE(c.contains(key)) << key;
  EXPECT_DOUBLE_EQ(c["iteration_time_s"].get<double>(), 0.09);
  EXPECT_EQ(c["options"]["hybrid"], "owt");
  EXPECT_EQ(sel["candidates"][4]["error"], "--servers 3: more servers than nodes (2)");
  const Json& sw = j["sweeps"][0];
  EXPECT_EQ(sw["points"].size(), 15u);
  EXPECT_EQ(sw["points"][0]["strategy"], "dp");
  EXPECT_EQ(sw["points"][0]["ideal_speedup"], 1);
  EXPECT_DOUBLE_EQ(sw["points"][0]["samples_per_dollar"].get<double>(), 400 * 3600 / 2.0);
  ASSERT_EQ(sw["knees"].size(), 3u);
  EXPECT_EQ(sw["knees"][0]["gpus"], 8);
  const Json& cmp = j["comparisons"][0];
  EXPECT_NEAR(cmp["phases"][0]["error_pct"].get<double>(), 10.0, 1e-9);
  EXPECT_EQ(cmp["points"].size(), 3u);
}

TEST(JsonWriter, SweepsReadBackToTheSameBytes) {
  Report r = testing::SampleReport();
  r.sweeps[0].points[1].status = "failed";
  r.sweeps[0].points[1].reason = "--stages 2: only 1 devices are used";
  r.sweeps[0].points[2].comm_time_s = 0.1234567890123;
  const Json j = ToJson(r);
  Report back = r;
  back.sweeps = {SweepFromJson(j["sweeps"][0], "report.json", "/sweeps/0")};
  EXPECT_EQ(ToJson(back).dump(2), j.dump(2));
  EXPECT_EQ(back.sweeps[0].facts.model, r.sweeps[0].facts.model);
  Json broken = j["sweeps"][0];
  broken["points"][3].erase("status");
  try {
    SweepFromJson(broken, "sweep.json", "/sweeps/0");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "sweep.json: /sweeps/0/points/3: missing \"status\"");
  }
  broken = j["sweeps"][0];
  broken["points"][0]["gpus"] = "8";
  try {
    SweepFromJson(broken, "sweep.json", "/sweeps/0");
    FAIL();
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(),
                 "sweep.json: /sweeps/0/points/0/gpus: expected an integer, found a string");
  }
}

// A shard edited by hand: negative times, fractional or absurd device counts, a negative batch,
// nulls and removed keys are refused with the file and the JSON pointer, as `sweep merge` reads
// them.
TEST(JsonWriter, SweepReaderRefusesImpossibleFigures) {
  const Json good = ToJson(testing::SampleReport())["sweeps"][0];
  auto message = [&good](const std::string& pointer, const Json& value) {
    Json broken = good;
    broken[Json::json_pointer(pointer)] = value;
    try {
      SweepFromJson(broken, "shard/sweep.json", "/sweeps/0");
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_EQ(message("/points/2/iteration_time_s", -0.25),
            "shard/sweep.json: /sweeps/0/points/2/iteration_time_s: must not be negative, found "
            "-0.25");
  EXPECT_EQ(message("/points/0/exposed_comm_time_s", -1),
            "shard/sweep.json: /sweeps/0/points/0/exposed_comm_time_s: must not be negative, "
            "found -1");
  EXPECT_EQ(message("/points/1/gpus", 2.5),
            "shard/sweep.json: /sweeps/0/points/1/gpus: expected an integer, found 2.5");
  EXPECT_EQ(message("/points/1/gpus", 4294967296),
            "shard/sweep.json: /sweeps/0/points/1/gpus: 4294967296 is out of range: must be "
            "between 1 and 1048576");
  EXPECT_EQ(message("/points/1/gpus", 0),
            "shard/sweep.json: /sweeps/0/points/1/gpus: 0 is out of range: must be between 1 and "
            "1048576");
  // 0: not one value for the whole sweep (points of different batches); below it is refused.
  EXPECT_EQ(message("/per_device_batch", 0), "accepted");
  EXPECT_EQ(message("/per_device_batch", -1),
            "shard/sweep.json: /sweeps/0/per_device_batch: -1 is out of range: must be between 0 "
            "and 1099511627776");
  EXPECT_EQ(message("/single_device_throughput_samples_per_s", -5),
            "shard/sweep.json: /sweeps/0/single_device_throughput_samples_per_s: must not be "
            "negative, found -5");
  // Nulls and removed keys, as an editor leaves them.
  EXPECT_EQ(message("/points/0/iteration_time_s", nullptr),
            "shard/sweep.json: /sweeps/0/points/0/iteration_time_s: expected a number, found null");
  EXPECT_EQ(message("/points/0/strategy", nullptr),
            "shard/sweep.json: /sweeps/0/points/0/strategy: expected a string, found null");
  EXPECT_EQ(message("/points/0", nullptr),
            "shard/sweep.json: /sweeps/0/points/0: expected an object, found null");
  EXPECT_EQ(message("/points", nullptr),
            "shard/sweep.json: /sweeps/0/points: expected an array, found null");
  EXPECT_EQ(message("/knee_threshold", nullptr),
            "shard/sweep.json: /sweeps/0/knee_threshold: expected a number, found null");
  Json no_status = good;
  no_status["points"][0].erase("status");
  try {
    SweepFromJson(no_status, "shard/sweep.json", "/sweeps/0");
    ADD_FAILURE() << "a point without a status was read";
  } catch (const InputError& e) {
    EXPECT_STREQ(e.what(), "shard/sweep.json: /sweeps/0/points/0: missing \"status\"");
  }
  // The unedited sweep still reads.
  EXPECT_EQ(message("/points/1/gpus", good["points"][1]["gpus"]), "accepted");
}

TEST(CsvWriter, ContextHeaderAndRows) {
  const Report r = testing::SampleReport();
  const auto lines = Lines(One("csv", r, "selection.csv"));
  size_t at = 0;
  while (at < lines.size() && lines[at].rfind("# ", 0) == 0) ++at;
  EXPECT_EQ(at, r.context.size());
  EXPECT_EQ(lines[0], "# tool: convscale");
  ASSERT_EQ(lines.size(), at + 1 + 5);
  EXPECT_EQ(
      lines[at],
      "model,cluster,gpus,rank,strategy,label,options,predicted_by,fits,iteration_time_s,"
      "compute_time_s,exposed_comm_time_s,bubble_time_s,comm_time_s,"
      "throughput_samples_per_s,speedup,scaling_efficiency,comm_bytes_total,memory_peak_bytes,"
      "memory_capacity_bytes,samples_per_dollar,reason,error");
  EXPECT_EQ(lines[at + 1].substr(0, 44), "vgg16,dgx-a100-hdr200,16,1,hybrid,hybrid owt");
  // Options JSON holds commas and quotes: quoted, quotes doubled.
  EXPECT_NE(lines[at + 4].find(
                "\"{\"\"algorithm\"\":\"\"tree\"\",\"\"batch\"\":\"\"x,\\\"\"2\\\"\"\"\"}\""),
            std::string::npos)
      << lines[at + 4];
  const auto sweep = Lines(One("csv", r, "sweep.csv"));
  EXPECT_EQ(sweep[at],
            "model,cluster,strategy,variant,gpus,label,predicted_by,fits,iteration_time_s,"
            "throughput_samples_per_s,speedup,ideal_speedup,scaling_efficiency,samples_per_dollar,"
            "comm_time_s,exposed_comm_time_s,memory_peak_bytes,status,reason");
  EXPECT_EQ(sweep.size(), at + 1 + 15);
  const auto cmp = Lines(One("csv", r, "comparison.csv"));
  EXPECT_EQ(cmp[at], "comparison,kind,item,gpus,unit,predicted,measured,error_pct");
  EXPECT_EQ(cmp.size(), at + 1 + 6);
  EXPECT_EQ(cmp[at + 4],
            "predicted.json against measured.json,point,dp "
            "throughput,1,samples/s,400.0,380.0,5.263157894736842");
}

TEST(CsvField, QuotingAndFormulas) {
  EXPECT_EQ(CsvField("plain"), "plain");
  EXPECT_EQ(CsvField("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvField("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(CsvField("=cmd()"), "'=cmd()");
  EXPECT_EQ(CsvField("-1.5"), "-1.5");
}

TEST(MarkdownWriter, Tables) {
  const Report r = testing::SampleReport();
  const std::string md = One("markdown", r, "report.md");
  const auto lines = Lines(md);
  EXPECT_EQ(lines[0], "# convscale report: vgg16");
  EXPECT_NE(md.find("Assumed: compute bf16, gradients fp32 \\(fp16 where a row says so\\), global "
                    "batch 512 \\(32 per device\\). Predicted by estimate \\(4\\)."),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("## Strategy selection: vgg16 on dgx-a100-hdr200, 16 GPUs"), std::string::npos)
      << md;
  EXPECT_NE(md.find("**Use `hybrid owt`**: fastest: VGG-16's fully connected layers hold 90% of "
                    "the parameters: one weird trick keeps them off the network."),
            std::string::npos);
  size_t header = 0;
  while (header < lines.size() && lines[header].rfind("| # | candidate |", 0) != 0) ++header;
  ASSERT_LT(header + 6, lines.size());
  EXPECT_EQ(lines[header + 1].rfind("| ---: | --- | ---: |", 0), 0u);
  for (int i = 2; i < 7; ++i)
    EXPECT_EQ(lines[header + i].rfind("| " + std::to_string(i - 1) + " |", 0), 0u);
  // Every table row has the same number of cells as its header.
  const size_t cells = Count(lines[header], "|");
  for (int i = 1; i < 7; ++i)
    EXPECT_EQ(Count(lines[header + i], "|") - Count(lines[header + i], "\\|"), cells)
        << lines[header + i];
  EXPECT_NE(
      md.find("- dp: adding GPUs pays up to 8; going to 16 adds 6% of a GPU's worth per added GPU"),
      std::string::npos);
  EXPECT_NE(md.find("| iteration | 110 ms | 100 ms | +10% |"), std::string::npos) << md;
}

TEST(HtmlWriter, SelfContainedWithCharts) {
  const Report r = testing::SampleReport();
  const std::string html = One("html", r, "index.html");
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(Count(html, "<script"), 0u);
  EXPECT_EQ(Count(html, "src="), 0u);
  EXPECT_EQ(Count(html, "@import"), 0u);
  EXPECT_EQ(Count(html, "url("), 0u);
  EXPECT_NE(html.find("Content-Security-Policy"), std::string::npos);
  EXPECT_EQ(Count(html, "<section class=\"selection\""), 1u);
  EXPECT_EQ(Count(html, "<section class=\"sweep\""), 1u);
  EXPECT_EQ(Count(html, "<section class=\"comparison\""), 1u);
  // Charts: selection bars; sweep speedup, efficiency, what-if, dollars; comparison bars + line.
  EXPECT_EQ(Count(html, "<svg class=\"chart"), 7u);
  // Selection bar chart: 4 runnable candidates x 3 segments.
  EXPECT_EQ(Count(html, "<rect class=\"bar\" data-series=\"compute\""), 4u);
  EXPECT_EQ(Count(html, "<rect class=\"bar\" data-series=\"idle (bubble, waiting)\""), 4u);
  // Speedup chart: dp, mp, ideal with 5 points each.
  const size_t speed = html.find("Speedup against GPUs");
  const size_t speed_end = html.find("</svg>", speed);
  const std::string chart = html.substr(speed, speed_end - speed);
  EXPECT_EQ(Count(chart, "<g class=\"series\""), 3u);
  EXPECT_EQ(Count(chart, "<circle class=\"point\""), 15u);
  EXPECT_NE(chart.find("data-name=\"ideal\""), std::string::npos);
  EXPECT_EQ(Count(chart, "<g class=\"legend-entry\""), 3u);
  EXPECT_NE(chart.find(">speedup over 1 GPU (x)</text>"), std::string::npos);
  EXPECT_NE(chart.find(">GPUs</text>"), std::string::npos);
  for (const char* tick : {">1</text>", ">2</text>", ">4</text>", ">8</text>", ">16</text>"})
    EXPECT_NE(chart.find(tick), std::string::npos) << tick;
  // A javascript: trace path is not a link target.
  EXPECT_EQ(Count(html, "href=\"javascript"), 0u);
  EXPECT_NE(html.find("href=\"./javascript:alert(1)\""), std::string::npos);
  EXPECT_NE(html.find("href=\"predicted.trace.json\""), std::string::npos);
}

TEST(Escaping, HostileNamesInEveryFormat) {
  const Report r = testing::SampleReport(kHostile, std::string("cl\"us'ter<b>"));
  const std::string html = One("html", r, "index.html");
  EXPECT_EQ(Count(html, "<script"), 0u);
  EXPECT_EQ(Count(html, "<b>"), 0u);
  EXPECT_NE(html.find("&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39;&amp;"),
            std::string::npos);
  EXPECT_NE(html.find("cl&quot;us&#39;ter&lt;b&gt;"), std::string::npos);
  const std::string md = One("markdown", r, "report.md");
  EXPECT_EQ(Count(md, "<script"), 0u);
  EXPECT_NE(md.find("&lt;script&gt;alert\\(\"x\"\\)&lt;/script&gt;'&amp;"), std::string::npos);
  const Json j = ParseJson(One("json", r, "report.json"), "report.json");
  EXPECT_EQ(j["selections"][0]["model"], kHostile);  // JSON keeps the string, escaped by JSON
  const std::string csv = One("csv", r, "selection.csv");
  EXPECT_NE(csv.find("\"<script>alert(\"\"x\"\")</script>'&\""), std::string::npos);
  EXPECT_EQ(MarkdownEscape("a|b\nc"), "a\\|b c");
  EXPECT_EQ(XmlEscape("<a href='x'>&"), "&lt;a href=&#39;x&#39;&gt;&amp;");
}

TEST(Writers, Deterministic) {
  const Report a = testing::SampleReport(), b = testing::SampleReport();
  for (const std::string& f : WriterFormats()) {
    const auto x = MakeWriter(f)->Write(a), y = MakeWriter(f)->Write(b);
    ASSERT_EQ(x.size(), y.size());
    for (size_t i = 0; i < x.size(); ++i) EXPECT_EQ(x[i].content, y[i].content) << f;
  }
}

TEST(Writers, ReportFolder) {
  const std::string dir = ::testing::TempDir() + "/convscale_report_folder";
  std::filesystem::remove_all(dir);
  const std::string index = WriteReportDir(testing::SampleReport(), dir);
  EXPECT_EQ(index, dir + "/index.html");
  for (const char* f :
       {"index.html", "report.md", "report.json", "selection.csv", "sweep.csv", "comparison.csv"})
    EXPECT_TRUE(std::filesystem::exists(dir + "/" + f)) << f;
}

TEST(ConsoleWriter, AlignedTable) {
  const std::string s = One("console", testing::SampleReport("na\x1b[2Jme"), "-");
  EXPECT_EQ(s.find('\x1b'), std::string::npos);
  const auto lines = Lines(s);
  // The header states what every figure assumed and which predictor made them (4 rows have
  // numbers: the failed candidate has none).
  EXPECT_EQ(lines[0],
            "# strategy selection: na?[2Jme on dgx-a100-hdr200, 16 GPUs; compute bf16, gradients "
            "fp32 (fp16 where a row says so), global batch 512 (32 per device); predicted by "
            "estimate (4)");
  EXPECT_EQ(lines[1].rfind("rank  candidate", 0), 0u);
  EXPECT_NE(lines[1].find(" by  samples/s"), std::string::npos) << lines[1];
  EXPECT_NE(lines[1].find("exposed    idle  net bytes  peak mem  fits  why"), std::string::npos)
      << lines[1];
  // Memory in binary units, as cluster files state it: 20 GiB.
  EXPECT_NE(s.find("20.0 GiB"), std::string::npos) << s;
  // The what-if header: 10 baseline points by estimate (the 2x points name no predictor).
  EXPECT_NE(s.find("# what-if: na?[2Jme on dgx-a100-hdr200; compute bf16, gradients fp32 (fp16 "
                   "where a row says so), global batch 512 (32 per device); predicted by "
                   "estimate (10)\n"),
            std::string::npos)
      << s;
}

}  // namespace
}  // namespace convscale::reports
