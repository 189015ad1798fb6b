// Collective algorithms as per-member step lists WITH buffer offsets, run by the MPI communicator
// over MPI_Isend/MPI_Irecv. plan::BuildSchedule (model/plan/collectives.h) says who sends how
// many bytes to whom in each step; these lists say which part of the buffer, and
// MatchesPlanSchedule checks, transfer by transfer, that both describe the same algorithm.
//
// Algorithms (members 0..n-1 in group order; chunk c of a buffer of `count` elements is
// [c*base, c*base + base) with base = count/n, the last chunk taking the remainder):
//  - ring: reduce-scatter in n-1 steps (member i sends chunk i-s-1 to i+1, receives and sums
//    chunk i-s-2 from i-1, so it ends holding chunk i), all-gather in n-1 steps, all-reduce as
//    both (2(n-1) steps); broadcast and reduce as a chain through the ring from/to the root.
//  - halving-doubling (Rabenseifner; n a power of two): recursive halving reduce-scatter (partner
//    i xor d for d = n/2 .. 1, keeping the half of the current range the bit of i selects), then
//    recursive doubling all-gather.
//  - tree: NCCL's double binary tree for all-reduce (ncclGetDtree: half the buffer reduced up
//    each tree level by level, deepest first, then broadcast back down); one binary tree (heap
//    order from the root) for broadcast and reduce.
//  - hierarchical (all-reduce): ring reduce-scatter inside each node, ring all-reduce of each
//    chunk across nodes among members with the same local index, ring all-gather inside nodes.
//  - direct: every member sends each chunk straight to its owner (reduce-scatter), then each
//    owner sends its chunk to everyone (all-gather); broadcast/reduce straight from/to the root.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "model/plan/plan.h"

namespace convscale::exec::cpu {

struct Op {
  int peer = 0;  // member index
  bool send = true;
  size_t offset = 0, count = 0;  // elements
  bool reduce = false;           // receive: sum into the buffer instead of overwriting
};
struct OpStep {
  std::vector<Op> ops;
};

// The steps member `me` runs. Throws std::invalid_argument for a combination that does not exist
// (tree reduce-scatter, halving-doubling on a group that is not a power of two, ...).
std::vector<OpStep> MemberSteps(plan::Collective c, plan::Algorithm a, int n, int me, size_t count,
                                int root, const std::vector<int>& node_of);

// "" when the transfers of all members, step by step, equal plan::BuildSchedule's for the same
// collective (bytes within n elements: the plan splits bytes exactly, the
// executor in whole elements), else a description of the first difference.
std::string MatchesPlanSchedule(plan::Collective c, plan::Algorithm a, int n, size_t count,
                                int element_bytes, int root, const std::vector<int>& node_of);

}  // namespace convscale::exec::cpu
