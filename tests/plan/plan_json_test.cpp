// Plan JSON: byte-identical round trip, enum names, and every validation message exactly.
#include <gtest/gtest.h>

#include "model/plan/plan.h"
#include "model/plan/strategy.h"
#include "model/util/error.h"
#include "tests/plan/fake_cluster.h"
#include "tests/plan/tiny_net.h"

namespace convscale::plan {
namespace {

Plan TinyDp(int gpus = 2) {
  testing::FakeCluster cl(1, gpus);
  StrategyOptions o;
  o.model = "tiny";
  o.batch = 4;
  return Lower(testing::TinyNet(), cl, o);
}

std::string Error(const Json& j) {
  try {
    FromJson(j, "p.json");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(PlanJson, RoundTripIsByteIdentical) {
  const Plan p = TinyDp();
  const std::string once = ToJson(p).dump(2);
  const Plan back = FromJson(ParseJson(once, "p.json"), "p.json");
  EXPECT_EQ(ToJson(back).dump(2), once);
  EXPECT_EQ(back.num_tasks(), p.num_tasks());
  EXPECT_EQ(back.ranks[1].tasks[9].layers, p.ranks[1].tasks[9].layers);
  EXPECT_EQ(back.ranks[0].memory_peak(), p.ranks[0].memory_peak());
}

TEST(PlanJson, Names) {
  EXPECT_STREQ(Name(Collective::kReduceScatter), "reduce-scatter");
  EXPECT_STREQ(Name(Algorithm::kHalvingDoubling), "halving-doubling");
  EXPECT_STREQ(Name(Phase::kBackwardWeight), "backward-weight");
  EXPECT_EQ(ParseAlgorithm("tree"), Algorithm::kTree);
  try {
    ParseAlgorithm("rign");
    FAIL();
  } catch (const std::invalid_argument& e) {
    EXPECT_STREQ(e.what(),
                 "\"rign\" is not an algorithm (ring, tree, hierarchical, halving-doubling, "
                 "direct); did you mean \"ring\"?");
  }
  EXPECT_EQ(BytesPerElement(CommPrecision::kBF16), 2);
}

TEST(PlanJson, SchemaVersion) {
  Json j = ToJson(TinyDp());
  EXPECT_EQ(j["context"]["schema_version"], 2);
  j["context"]["schema_version"] = 3;
  EXPECT_EQ(Error(j),
            "p.json: /context/schema_version: plan schema version 3 is not supported (this "
            "convscale reads versions 1 to 2)");
  j["context"]["schema_version"] = 0;
  EXPECT_EQ(Error(j),
            "p.json: /context/schema_version: plan schema version 0 is not supported (this "
            "convscale reads versions 1 to 2)");
  // Version 1 (no network) is read as before.
  j["context"]["schema_version"] = 1;
  EXPECT_EQ(Error(j), "no error");
  EXPECT_EQ(FromJson(j, "p.json").context.schema_version, 1);
}

// A plan carries the layer graph of a model that came from a file (context.network), and keeps
// it through a round trip; a version 1 plan cannot have one.
TEST(PlanJson, NetworkTravelsInTheContext) {
  Plan p = TinyDp();
  EXPECT_TRUE(p.context.network.is_null());
  EXPECT_FALSE(ToJson(p)["context"].contains("network"));
  p.context.network = Json{{"format", "convscale-model"}, {"version", 1}, {"name", "tiny"}};
  const std::string once = ToJson(p).dump(2);
  const Plan back = FromJson(ParseJson(once, "p.json"), "p.json");
  EXPECT_EQ(back.context.network, p.context.network);
  EXPECT_EQ(ToJson(back).dump(2), once);
  Json j = ToJson(p);
  j["context"]["schema_version"] = 1;
  EXPECT_EQ(Error(j),
            "p.json: /context/network: appears in plan schema version 2; this plan says version 1");
}

TEST(PlanJson, UnknownKeyIsRejected) {
  Json j = ToJson(TinyDp());
  j["ranks"][0]["tasks"][0]["flop"] = 1;
  EXPECT_EQ(Error(j).substr(0, 42), "p.json: /ranks/0/tasks/0/flop: unknown key");
}

TEST(PlanJson, Cycle) {
  Json j = ToJson(TinyDp());
  j["ranks"][1]["tasks"][3]["deps"] = {2, 7};  // t7 depends (via t5, t4) on t3
  EXPECT_EQ(Error(j),
            "p.json: /ranks/1/tasks/3/deps: dependency cycle rank 1: t3 -> t7 -> t5 -> t4 -> t3");
}

TEST(PlanJson, SelfDependencyIsACycle) {
  Json j = ToJson(TinyDp());
  j["ranks"][0]["tasks"][2]["deps"] = {2};
  EXPECT_EQ(Error(j), "p.json: /ranks/0/tasks/2/deps: dependency cycle rank 0: t2 -> t2");
}

TEST(PlanJson, DependencyOutOfRange) {
  Json j = ToJson(TinyDp());
  j["ranks"][0]["tasks"][2]["deps"] = {1, 40};
  EXPECT_EQ(Error(j),
            "p.json: /ranks/0/tasks/2/deps/1: dependency t40 does not exist (rank 0 has 11 tasks)");
}

TEST(PlanJson, TaskIdMustMatchPosition) {
  Json j = ToJson(TinyDp());
  j["ranks"][0]["tasks"][2]["id"] = 5;
  EXPECT_EQ(Error(j), "p.json: /ranks/0/tasks/2/id: task id 5 does not match its position 2");
}

TEST(PlanJson, EndpointOutOfRange) {
  Json j = ToJson(TinyDp());
  j["ranks"][1]["endpoint"] = 7;  // the fake cluster: 2 devices + 1 host CPU
  EXPECT_EQ(Error(j),
            "p.json: /ranks/1/endpoint: endpoint 7 is out of range (the cluster has 3 endpoints)");
}

TEST(PlanJson, GroupMemberOutOfRange) {
  Json j = ToJson(TinyDp());
  j["groups"][0]["ranks"] = {0, 2};
  EXPECT_EQ(Error(j), "p.json: /groups/0/ranks/1: rank 2 is out of range (the plan has 2 ranks)");
}

TEST(PlanJson, CollectiveGroupsDisagree) {
  Json j = ToJson(TinyDp());
  j["groups"].push_back(Json{{"ranks", {1, 0}}});
  j["ranks"][1]["tasks"][9]["group"] = 1;
  EXPECT_EQ(Error(j),
            "p.json: /ranks/1/tasks/9/group: collective 0 has group 1 here but group 0 on rank 0 "
            "(t9)");
}

TEST(PlanJson, CollectiveSizesDisagree) {
  Json j = ToJson(TinyDp());
  j["ranks"][1]["tasks"][9]["comm_bytes"] = 100.0;
  EXPECT_EQ(Error(j),
            "p.json: /ranks/1/tasks/9/comm_bytes: collective 0 has 100.0 bytes here but 1400.0 "
            "bytes on rank 0 (t9)");
}

TEST(PlanJson, CollectiveMissingOnAMember) {
  Json j = ToJson(TinyDp());
  j["ranks"][1]["tasks"][9]["collective_id"] = 5;
  EXPECT_EQ(Error(j),
            "p.json: /ranks/0/tasks/9/collective_id: collective 0 (\"bucket0/all-reduce\") is "
            "missing on rank 1, a member of group 0");
}

// A plan with one send and one receive, built by hand.
Plan SendRecv() {
  Plan p;
  p.ranks.resize(2);
  p.ranks[0].endpoint = 0;
  p.ranks[1].endpoint = 1;
  Task s;
  s.id = 0;
  s.kind = TaskKind::kSend;
  s.name = "send act";
  s.peer = 1;
  s.tag = 7;
  s.comm_bytes = 64;
  p.ranks[0].tasks.push_back(s);
  Task r = s;
  r.kind = TaskKind::kRecv;
  r.name = "recv act";
  r.peer = 0;
  p.ranks[1].tasks.push_back(r);
  return p;
}

std::string ValidateError(const Plan& p) {
  try {
    Validate(p, "plan");
  } catch (const InputError& e) {
    return e.what();
  }
  return "no error";
}

TEST(PlanJson, SendRecvMatch) {
  Plan p = SendRecv();
  EXPECT_EQ(ValidateError(p), "no error");
  p.ranks[1].tasks[0].tag = 8;
  EXPECT_EQ(ValidateError(p),
            "plan: /ranks/0/tasks/0: send to rank 1 with tag 7 (\"send act\") has no matching "
            "receive on rank 1");
  p = SendRecv();
  p.ranks[0].tasks[0].kind = TaskKind::kCompute;
  EXPECT_EQ(ValidateError(p),
            "plan: /ranks/1/tasks/0: receive from rank 0 with tag 7 (\"recv act\") has no "
            "matching send on rank 0");
  p = SendRecv();
  p.ranks[1].tasks[0].comm_bytes = 32;
  EXPECT_EQ(ValidateError(p),
            "plan: /ranks/1/tasks/0/comm_bytes: receive of 32.0 bytes does not match the send of "
            "64.0 bytes (rank 0 t0)");
  p = SendRecv();
  p.ranks[0].tasks[0].peer = 3;
  EXPECT_EQ(ValidateError(p),
            "plan: /ranks/0/tasks/0/peer: peer rank 3 is out of range (the plan has 2 ranks)");
  p = SendRecv();
  p.ranks[0].tasks.push_back(p.ranks[0].tasks[0]);
  p.ranks[0].tasks[1].id = 1;
  EXPECT_EQ(ValidateError(p),
            "plan: /ranks/0/tasks/1: send to rank 1 with tag 7 is not unique (also t0)");
}

TEST(PlanJson, SaveAndLoad) {
  const Plan p = TinyDp(4);
  const std::string path = ::testing::TempDir() + "/plan_json_test.json";
  SavePlan(p, path);
  const Plan q = LoadPlan(path);
  EXPECT_EQ(ToJson(q).dump(), ToJson(p).dump());
}

// The plan fuzzer's seeds (tests/fuzz/seeds/plan, saved by `convscale plan` on cpu-minicluster
// with 2 devices) must stay loadable: a schema change that breaks them would leave the fuzzer
// mutating only rejected inputs. Each loads, keeps its ranks and message pairs, and saves back
// to the same JSON.
TEST(PlanJson, FuzzSeedsLoadAndRoundTrip) {
  const std::string dir = std::string(CONVSCALE_SOURCE_DIR) + "/tests/fuzz/seeds/plan/";
  struct Seed {
    const char* file;
    const char* strategy;
    size_t ranks;
    int p2p;  // send and receive tasks
  };
  for (const Seed& s : {Seed{"dp2.json", "dp", 2, 0}, Seed{"mp2.json", "mp", 2, 8},
                        Seed{"ps2.json", "ps", 4, 32}}) {
    const Json j = ReadJsonFile(dir + s.file);
    const Plan p = FromJson(j, s.file);
    EXPECT_EQ(p.context.strategy, s.strategy) << s.file;
    EXPECT_EQ(p.ranks.size(), s.ranks) << s.file;
    int p2p = 0;
    for (const Rank& r : p.ranks)
      for (const Task& t : r.tasks) p2p += t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv;
    EXPECT_EQ(p2p, s.p2p) << s.file;
    EXPECT_EQ(ToJson(p).dump(), j.dump()) << s.file;
  }
}

}  // namespace
}  // namespace convscale::plan
