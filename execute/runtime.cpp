// The executor runtime (see runtime.h): the same "ready when all dependencies are done" rule as
// the simulator, with compute on the calling thread, collectives on a communication thread and
// point-to-point messages posted as soon as they are ready.
#include "execute/runtime.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <memory>
#include <set>
#include <thread>

#include "model/plan/lower_common.h"
#include "model/plan/memory_plan.h"
#include "model/util/error.h"

namespace convscale::exec {

using plan::Phase;
using plan::Role;
using plan::TaskKind;

std::vector<int> OwnedLayers(const plan::Rank& rank) {
  std::set<int> layers;
  for (const plan::Task& t : rank.tasks)
    if (t.kind == TaskKind::kCompute && t.layer >= 0 &&
        (t.phase == Phase::kForward || t.phase == Phase::kBackwardData ||
         t.phase == Phase::kBackwardWeight))
      layers.insert(t.layer);
  return {layers.begin(), layers.end()};
}

bool SendQueues::Ready(int task, int peer) {
  if (peer < 0 || size_t(peer) >= fifo_.size() || !fifo_[size_t(peer)]) return true;
  bool& busy = busy_[peer];
  if (!busy) return busy = true;
  waiting_[peer].insert(task);
  return false;
}

int SendQueues::Done(int peer) {
  if (peer < 0 || size_t(peer) >= fifo_.size() || !fifo_[size_t(peer)]) return -1;
  std::set<int>& w = waiting_[peer];
  if (w.empty()) {
    busy_[peer] = false;
    return -1;
  }
  const int next = *w.begin();
  w.erase(w.begin());
  return next;  // the peer stays busy with it
}

void SendQueues::Clear() {
  busy_.clear();
  waiting_.clear();
}

namespace {

// The buffers of several layers as one: the arena slice when they are adjacent, else empty.
Buffer Contiguous(const std::vector<Buffer>& parts) {
  std::vector<Buffer> sorted;
  for (const Buffer& b : parts)
    if (!b.empty()) sorted.push_back(b);
  if (sorted.empty()) return {};
  std::sort(sorted.begin(), sorted.end(), [](const Buffer& a, const Buffer& b) {
    return static_cast<char*>(a.data) < static_cast<char*>(b.data);
  });
  for (size_t i = 1; i < sorted.size(); ++i)
    if (static_cast<char*>(sorted[i - 1].data) + sorted[i - 1].bytes != sorted[i].data) return {};
  const char* first = static_cast<char*>(sorted.front().data);
  const char* last = static_cast<char*>(sorted.back().data) + sorted.back().bytes;
  return {sorted.front().data, size_t(last - first), sorted.front().kind};
}

// Between two checks of a condition another thread or rank will make true: yield for the first
// 100 checks, then sleep 10 us doubling up to 100 us, so that waiting ranks leave the cores to
// ranks that compute when ranks share cores (see MpiCommunicator's Pause).
void ShortPause(int& spins) {
  if (++spins < 100) {
    std::this_thread::yield();
    return;
  }
  const long ns = std::min(100000L, 10000L << std::min(4, (spins - 100) / 8));
  timespec ts{0, ns};
  nanosleep(&ts, nullptr);
}

}  // namespace

struct Runtime::Impl {
  const plan::Plan& plan;
  const graph::Network& net;
  ComputeBackend& backend;
  Communicator& comm;
  RuntimeOptions options;
  const plan::Rank& rp;
  int rank = 0;
  int replica = 0, replicas = 1;
  bool needs_images = false, needs_labels = false;
  bool inputs_resident = false;  // reusable data filled and uploaded once (DataSource::reusable)
  int loss_layer = -1;

  // Per-task communication buffers, prepared once and reused every iteration.
  struct CommBuffers {
    std::vector<Buffer> parts;  // the layers' buffers in task order (gradients or parameters)
    Buffer direct;              // parts as one arena slice (fp32, adjacent), or empty
    Buffer staging;             // packed / cast buffer when `direct` is empty
    DataType wire = DataType::kF32;
  };
  std::map<int, CommBuffers> buffers;
  std::vector<int> collectives;  // task ids sorted by collective_id
  SendQueues send_queues;        // sends to one peer one after the other
  // Gradient pushes per layer (a layer split over servers is pushed once per shard): a worker
  // zeroes a layer's gradients once every push of it is done.
  std::map<int, int> pushes_of_layer;

  // Per-iteration state.
  std::vector<int> deps_left;
  std::vector<std::vector<int>> successors;
  std::vector<TaskTiming> timing;
  std::mutex mu;
  std::condition_variable cv;
  std::vector<bool> coll_ready;
  std::vector<std::pair<int, TaskTiming>> coll_done;
  std::exception_ptr comm_error;

  Impl(const plan::Plan& p, const graph::Network& n, ComputeBackend& b, Communicator& c,
       RuntimeOptions o)
      : plan(p),
        net(n),
        backend(b),
        comm(c),
        options(o),
        rp(p.ranks.at(size_t(c.rank()))),
        rank(c.rank()) {}

  // The stage-boundary tensor a send/recv without layers carries (plan::BoundaryOf).
  plan::Boundary BoundaryOf(const plan::Task& t) const {
    return plan::BoundaryOf(t, net, micro_batch, plan::detail::ActivationBytes(plan.precision));
  }
  int64_t micro_batch = 1;

  // Whether a parameter-server message carries parameters (odd tag: a pull, from a server or
  // forwarded by a node's leader) rather than gradients (even tag: a push, to a server or to the
  // node's leader), as the lowering numbers them (docs/plan-format.md).
  static bool CarriesParameters(const plan::Task& t) { return t.tag % 2 != 0; }

  // What a message carries: its own `layers` and slice, or those of the matching task on the
  // peer (the lowering names them on one side of a parameter-server exchange only).
  struct Carried {
    std::vector<int> layers;
    int64_t slice_offset = 0, slice_elements = 0;  // as plan::Task; elements 0: whole layers
  };
  std::map<int, Carried> carried;
  const Carried& CarriedBy(const plan::Task& t) {
    auto it = carried.find(t.id);
    if (it != carried.end()) return it->second;
    const plan::Task* named = &t;
    if (t.layers.empty() && t.peer >= 0 && t.peer < int(plan.ranks.size())) {
      const TaskKind want = t.kind == TaskKind::kSend ? TaskKind::kRecv : TaskKind::kSend;
      for (const plan::Task& o : plan.ranks[size_t(t.peer)].tasks)
        if (o.kind == want && o.peer == rank && o.tag == t.tag) named = &o;
    }
    return carried[t.id] = {named->layers, named->slice_offset, named->slice_elements};
  }
  const std::vector<int>& LayersOf(const plan::Task& t) { return CarriedBy(t).layers; }

  // The parameters (or gradients) of each layer a parameter-server message carries: the layers'
  // whole buffers, or the slice of the one layer. A slice beyond the layer, or a message whose
  // elements differ from its comm_bytes, is a plan that does not fit the model.
  std::vector<Buffer> CarriedParts(const plan::Task& t, bool parameters) {
    const Carried& c = CarriedBy(t);
    std::vector<Buffer> parts;
    for (int l : c.layers)
      parts.push_back(parameters ? backend.Parameters(l) : backend.Gradients(l));
    if (c.slice_elements > 0)
      parts = {SliceOf(t, c.layers.at(0), parts.at(0), c.slice_offset, c.slice_elements)};
    size_t elements = 0;
    for (const Buffer& b : parts) elements += b.bytes / 4;
    const double want = t.comm_bytes / plan::BytesPerElement(t.precision);
    if (double(elements) != want)
      throw InputError(
          Where(t) + ": carries " + std::to_string(elements) +
          " parameters of its layers, but its comm_bytes say " +
          (want == std::floor(want) ? std::to_string(int64_t(want)) : Json(want).dump()) +
          " elements of " + plan::Name(t.precision));
    return parts;
  }

  std::string Where(const plan::Task& t) const {
    return "rank " + std::to_string(rank) + ": task " + std::to_string(t.id) + " (\"" + t.name +
           "\")";
  }

  // Elements [offset, offset + elements) of `whole`, the parameters or gradients of `layer`
  // (fp32), for task `t`; a slice beyond the layer is a plan that does not fit the model.
  Buffer SliceOf(const plan::Task& t, int layer, Buffer whole, int64_t offset, int64_t elements) {
    const int64_t have = int64_t(whole.bytes / 4);
    if (offset > have || elements > have - offset)
      throw InputError(Where(t) + ": elements " + std::to_string(offset) + ".." +
                       std::to_string(offset + elements) + " of layer \"" + net.layer(layer).name +
                       "\", which has " + std::to_string(have) + " parameters");
    return whole.Slice(size_t(offset) * 4, size_t(elements) * 4);
  }

  CommGroup Group(const plan::Task& t) const {
    if (t.group < 0 || t.group >= int(plan.groups.size()))
      throw RuntimeError("rank " + std::to_string(rank) + ": task \"" + t.name + "\" names group " +
                         std::to_string(t.group) + ", which the plan lacks");
    CommGroup g;
    g.ranks = plan.groups[size_t(t.group)].ranks;
    g.index = t.group;
    if (!options.node_of_rank.empty())
      for (int r : g.ranks) g.node_of.push_back(options.node_of_rank.at(size_t(r)));
    else
      for (size_t i = 0; i < g.ranks.size(); ++i) g.node_of.push_back(int(i));
    return g;
  }

  std::vector<int> UpdateLayers(const plan::Task& t, const std::vector<int>& owned) const {
    if (!t.layers.empty()) return t.layers;
    if (t.layer >= 0) return {t.layer};
    return owned;
  }

  // Prepares the buffer of a collective (`parts` empty: the gradients of its layers) or of a
  // parameter-server message (`parts`: what it carries).
  void PrepareLayerBuffers(const plan::Task& t, bool parameters, DataType wire,
                           std::vector<Buffer> parts = {}) {
    CommBuffers cb;
    cb.wire = wire;
    if (parts.empty())
      for (int l : t.layers)
        parts.push_back(parameters ? backend.Parameters(l) : backend.Gradients(l));
    cb.parts = std::move(parts);
    size_t bytes = 0;
    for (const Buffer& b : cb.parts) bytes += b.bytes;
    if (cb.parts.empty()) {
      // No layers named: a payload of the plan's size (collective benchmarks, padding messages).
      const size_t e = size_t(SizeOf(wire));
      cb.staging = backend.Allocate(std::max<size_t>(e, size_t(t.comm_bytes) / e * e));
    } else {
      if (wire == DataType::kF32) cb.direct = Contiguous(cb.parts);
      if (cb.direct.empty()) cb.staging = backend.Allocate(bytes / 4 * size_t(SizeOf(wire)));
    }
    buffers[t.id] = cb;
  }

  Buffer Wire(const CommBuffers& cb) const { return cb.direct.empty() ? cb.staging : cb.direct; }

  // Layer buffers -> wire buffer (cast to the wire type when needed).
  void Pack(const CommBuffers& cb) {
    if (!cb.direct.empty() || cb.parts.empty()) return;
    size_t off = 0;
    const size_t e = size_t(SizeOf(cb.wire));
    for (const Buffer& b : cb.parts) {
      const size_t n = b.bytes / 4;
      backend.Cast(cb.staging.Slice(off, n * e), cb.wire, b, DataType::kF32);
      off += n * e;
    }
  }
  void Unpack(const CommBuffers& cb) {
    if (!cb.direct.empty() || cb.parts.empty()) return;
    size_t off = 0;
    const size_t e = size_t(SizeOf(cb.wire));
    for (const Buffer& b : cb.parts) {
      const size_t n = b.bytes / 4;
      backend.Cast(b, DataType::kF32, cb.staging.Slice(off, n * e), cb.wire);
      off += n * e;
    }
  }

  void Prepare() {
    const auto& tasks = rp.tasks;
    successors.assign(tasks.size(), {});
    for (const plan::Task& t : tasks)
      for (int d : t.deps) {
        if (d < 0 || d >= int(tasks.size()))
          throw RuntimeError("rank " + std::to_string(rank) + ": task " + std::to_string(t.id) +
                             " depends on task " + std::to_string(d) + ", which does not exist");
        successors[size_t(d)].push_back(t.id);
      }
    // Sends to peer p are queued (SendQueues) when p posts every receive from this rank at the
    // start of the iteration.
    std::vector<bool> fifo(plan.ranks.size(), false);
    for (size_t p = 0; p < plan.ranks.size(); ++p) {
      if (int(p) == rank) continue;
      bool any = false, all_undelayed = true;
      for (const plan::Task& t : plan.ranks[p].tasks)
        if (t.kind == TaskKind::kRecv && t.peer == rank) {
          any = true;
          all_undelayed = all_undelayed && t.deps.empty();
        }
      fifo[p] = any && all_undelayed;
    }
    send_queues = SendQueues(std::move(fifo));
    for (const plan::Task& t : tasks) {
      if (t.kind == TaskKind::kCompute && t.slice_elements > 0) {
        SliceOf(t, t.layers.at(0), backend.Parameters(t.layers.at(0)), t.slice_offset,
                t.slice_elements);
      } else if (t.kind == TaskKind::kCollective) {
        collectives.push_back(t.id);
        PrepareLayerBuffers(t, false, FromCommPrecision(t.precision));
      } else if (t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv) {
        const std::vector<int>& tl = LayersOf(t);
        if (!tl.empty()) {
          // Parameter-server traffic: workers push gradients and pull parameters; a gradient
          // receive (a server's, or a node leader's from its node's other workers) lands in a
          // slot of its own, which the aggregate depending on it sums.
          const bool params = CarriesParameters(t);
          if (!params && t.kind == TaskKind::kRecv) {
            CommBuffers cb;
            cb.parts = CarriedParts(t, false);
            size_t bytes = 0;
            for (const Buffer& b : cb.parts) bytes += b.bytes;
            cb.staging = backend.Allocate(bytes);
            buffers[t.id] = cb;
          } else {
            if (!params && t.kind == TaskKind::kSend)
              for (int l : tl) ++pushes_of_layer[l];
            PrepareLayerBuffers(t, params, DataType::kF32, CarriedParts(t, params));
          }
        } else {
          const plan::Boundary b = BoundaryOf(t);
          if (b.layer < 0) {
            CommBuffers cb;
            cb.staging = backend.Allocate(std::max<size_t>(1, size_t(t.comm_bytes)));
            buffers[t.id] = cb;
          } else if (b.grad && t.kind == TaskKind::kRecv) {
            CommBuffers cb;
            cb.staging = backend.Allocate(backend.ActivationGrad(b.layer, t.micro_batch).bytes);
            buffers[t.id] = cb;
          }
        }
      }
    }
    std::sort(collectives.begin(), collectives.end(), [&](int a, int b) {
      return tasks[size_t(a)].collective_id < tasks[size_t(b)].collective_id;
    });
  }

  // The buffer a send reads or a receive fills.
  Buffer MessageBuffer(const plan::Task& t) {
    auto it = buffers.find(t.id);
    if (it != buffers.end()) return Wire(it->second);
    const plan::Boundary b = BoundaryOf(t);
    if (b.grad) return backend.ActivationGrad(b.layer, t.micro_batch);
    return backend.Activation(b.layer, t.micro_batch);
  }

  // For a gradient receive `r` (a worker's push, on a server or on its node's leader): f(layer,
  // the layer's gradient buffer, the pushed gradient of that layer in r's staging buffer). Other
  // tasks: nothing.
  template <typename F>
  void ForEachPushedGradient(const plan::Task& r, F f) {
    if (r.kind != TaskKind::kRecv || LayersOf(r).empty() || CarriesParameters(r)) return;
    const std::vector<int>& rl = LayersOf(r);
    const CommBuffers& cb = buffers.at(r.id);
    size_t off = 0;
    for (size_t i = 0; i < rl.size(); ++i) {
      const Buffer& g = cb.parts[i];
      f(rl[i], g, cb.staging.Slice(off, g.bytes));
      off += g.bytes;
    }
  }

  void RunCompute(const plan::Task& t, const std::vector<int>& owned, IterationResult& result) {
    switch (t.phase) {
      case Phase::kForward:
        backend.Forward(t.layer, t.micro_batch);
        if (t.layer == loss_layer) {
          result.loss += backend.Loss(t.micro_batch) * double(t.samples > 0 ? t.samples : 1);
          result.loss_samples += t.samples > 0 ? t.samples : 1;
        }
        break;
      case Phase::kBackwardData:
        backend.BackwardData(t.layer, t.micro_batch);
        break;
      case Phase::kBackwardWeight:
        backend.BackwardWeight(t.layer, t.micro_batch);
        break;
      case Phase::kUpdate:
        // An asynchronous server applies each worker's push on its own: the update depends on
        // the push directly (no aggregate in between), so the pushed gradient becomes the
        // gradient of these layers.
        if (rp.role == Role::kServer)
          for (int d : t.deps)
            ForEachPushedGradient(rp.tasks[size_t(d)],
                                  [&](int, Buffer g, Buffer pushed) { backend.Copy(g, pushed); });
        if (t.slice_elements > 0)
          backend.UpdateSlice(t.layers.at(0), t.slice_offset, t.slice_elements);
        else
          backend.Update(UpdateLayers(t, owned));
        break;
      case Phase::kAggregate:
        // Sum the gradient slots of the receives this task depends on into the gradients: a
        // server's pushes from the workers (its gradients hold none of its own), or a node
        // leader's from its node's other workers (added to the leader's own).
        for (int d : t.deps)
          ForEachPushedGradient(rp.tasks[size_t(d)], [&](int, Buffer g, Buffer pushed) {
            backend.Accumulate(g, pushed, DataType::kF32);
          });
        break;
      case Phase::kCopy:
        break;
    }
  }

  void CommThread(int iteration) {
    try {
      for (int id : collectives) {
        {
          std::unique_lock<std::mutex> lock(mu);
          cv.wait(lock, [&] { return bool(coll_ready[size_t(id)]); });
        }
        const plan::Task& t = rp.tasks[size_t(id)];
        TaskTiming tt{id, iteration, comm.Now(), 0};
        const CommBuffers& cb = buffers.at(id);
        Pack(cb);
        comm.Collective(t.collective, t.algorithm, Wire(cb), cb.wire, Group(t), 0, t.collective_id);
        Unpack(cb);
        tt.end_s = comm.Now();
        std::lock_guard<std::mutex> lock(mu);
        coll_done.push_back({id, tt});
      }
    } catch (...) {
      std::lock_guard<std::mutex> lock(mu);
      comm_error = std::current_exception();
    }
  }

  IterationResult Run(int iteration, DataSource& data, const Runtime& rt) {
    const auto& tasks = rp.tasks;
    const size_t n = tasks.size();
    IterationResult result;
    result.iteration = iteration;
    backend.SetGradientScale(1.0 / double(plan.global_batch));
    if ((needs_images || needs_labels) && !(inputs_resident && data.reusable())) {
      std::vector<float> images(size_t(rt.micro_batch_ * net.input_shape().elements()));
      std::vector<int32_t> labels(size_t(rt.micro_batch_));
      for (int mb = 0; mb < rt.micro_batches_; ++mb) {
        const SampleSlice s = rt.Slice(iteration, mb);
        data.Fill(s.first, s.count, images.data(), labels.data());
        backend.SetInput(mb, needs_images ? images.data() : nullptr,
                         needs_labels ? labels.data() : nullptr, s.count);
      }
      inputs_resident = true;
    }
    deps_left.assign(n, 0);
    for (const plan::Task& t : tasks) deps_left[size_t(t.id)] = int(t.deps.size());
    timing.assign(n, TaskTiming{});
    coll_ready.assign(n, false);
    coll_done.clear();
    comm_error = nullptr;

    std::set<int> ready_compute;
    std::map<int, Request> in_flight;  // p2p task -> request
    std::map<int, int> pushes_left = pushes_of_layer;
    send_queues.Clear();
    auto post_send = [&](int id) {
      const plan::Task& t = tasks[size_t(id)];
      backend.Synchronize();
      auto it = buffers.find(id);
      if (it != buffers.end()) Pack(it->second);
      in_flight[id] = comm.Send(MessageBuffer(t), t.peer, t.tag);
    };
    size_t done = 0;
    auto complete = [&](int id) {
      ++done;
      for (int s : successors[size_t(id)])
        if (--deps_left[size_t(s)] == 0) {
          const plan::Task& t = tasks[size_t(s)];
          if (t.kind == TaskKind::kCompute) {
            ready_compute.insert(s);
          } else if (t.kind == TaskKind::kCollective) {
            backend.Synchronize();
            std::lock_guard<std::mutex> lock(mu);
            coll_ready[size_t(s)] = true;
            cv.notify_all();
          } else {
            timing[size_t(s)] = {s, iteration, comm.Now(), 0};
            if (t.kind == TaskKind::kSend) {
              // Ready from now (the simulator's send starts here too, queued behind the pair's
              // earlier messages); posted when the peer's earlier sends are done.
              if (send_queues.Ready(s, t.peer)) post_send(s);
            } else {
              in_flight[s] = comm.Recv(MessageBuffer(t), t.peer, t.tag);
            }
          }
        }
    };
    // Seed: tasks without dependencies. A fake "task -1" would do; handle directly.
    {
      std::vector<int> roots;
      for (const plan::Task& t : tasks)
        if (t.deps.empty()) roots.push_back(t.id);
      successors.emplace_back(roots);  // index n: the virtual start
      for (int r : roots) deps_left[size_t(r)] = 1;
      --done;  // the virtual start is not a task
      complete(int(n));
      successors.pop_back();
    }

    std::thread comm_thread([this, iteration] { CommThread(iteration); });
    const std::vector<int>& owned = rt.owned_;
    std::exception_ptr failure;
    try {
      int spins = 0;
      while (done < n) {
        bool progressed = false;
        // Finished point-to-point messages.
        for (auto it = in_flight.begin(); it != in_flight.end();) {
          if (comm.Test(it->second)) {
            const int id = it->first;
            const plan::Task& t = tasks[size_t(id)];
            auto bit = buffers.find(id);
            if (t.kind == TaskKind::kRecv && bit != buffers.end()) {
              if (!LayersOf(t).empty() && CarriesParameters(t)) {
                Unpack(bit->second);
              } else if (LayersOf(t).empty()) {
                const plan::Boundary b = BoundaryOf(t);
                if (b.grad)
                  backend.Accumulate(backend.ActivationGrad(b.layer, t.micro_batch),
                                     bit->second.staging, DataType::kF32);
              }
            }
            if (t.kind == TaskKind::kSend && !CarriesParameters(t))
              for (int l : LayersOf(t))
                if (--pushes_left[l] == 0)
                  backend.ZeroGradients({l});  // pushed whole: the receivers own the step now
            timing[size_t(id)].end_s = comm.Now();
            it = in_flight.erase(it);
            if (t.kind == TaskKind::kSend)
              if (const int next = send_queues.Done(t.peer); next >= 0) post_send(next);
            complete(id);
            progressed = true;
          } else {
            ++it;
          }
        }
        // Finished collectives.
        {
          std::vector<std::pair<int, TaskTiming>> finished;
          {
            std::lock_guard<std::mutex> lock(mu);
            if (comm_error) std::rethrow_exception(comm_error);
            finished.swap(coll_done);
          }
          for (auto& [id, tt] : finished) {
            timing[size_t(id)] = tt;
            complete(id);
            progressed = true;
          }
        }
        // One compute task.
        if (!ready_compute.empty()) {
          const int id = *ready_compute.begin();
          ready_compute.erase(ready_compute.begin());
          const plan::Task& t = tasks[size_t(id)];
          timing[size_t(id)] = {id, iteration, comm.Now(), 0};
          backend.BeginTask(id);
          RunCompute(t, owned, result);
          backend.EndTask(id);
          timing[size_t(id)].end_s = comm.Now();
          complete(id);
          progressed = true;
        }
        if (progressed)
          spins = 0;
        else
          ShortPause(spins);
      }
    } catch (...) {
      failure = std::current_exception();
      // Release the communication thread so it can be joined: mark everything ready.
      std::lock_guard<std::mutex> lock(mu);
      std::fill(coll_ready.begin(), coll_ready.end(), true);
      cv.notify_all();
    }
    if (failure) {
      // The communication thread may be blocked in a collective whose peers are gone; it gives
      // up after the peer timeout. Detach instead of waiting when the failure is ours.
      comm_thread.detach();
      std::rethrow_exception(failure);
    }
    comm_thread.join();
    if (comm_error) std::rethrow_exception(comm_error);
    // The iteration ends when the device has done its work, not when the host queued it; device
    // times replace the host's for the tasks the backend timed itself.
    backend.Synchronize();
    for (const ComputeBackend::DeviceTaskTime& d : backend.TaskTimes(comm.Now())) {
      timing[size_t(d.task)].start_s = d.start_s;
      timing[size_t(d.task)].end_s = d.end_s;
    }

    result.start_s = 1e300;
    result.end_s = -1e300;
    for (const TaskTiming& tt : timing) {
      result.start_s = std::min(result.start_s, tt.start_s);
      result.end_s = std::max(result.end_s, tt.end_s);
    }
    if (n == 0) result.start_s = result.end_s = comm.Now();
    if (result.loss_samples > 0)
      result.loss /= double(result.loss_samples);
    else
      result.loss = std::nan("");
    if (options.record_tasks) result.tasks = timing;
    return result;
  }
};

Runtime::Runtime(const plan::Plan& plan, const graph::Network& net, ComputeBackend& backend,
                 Communicator& comm, const OptimizerConfig& optimizer, uint64_t seed,
                 RuntimeOptions options) {
  if (comm.size() != int(plan.ranks.size()))
    throw InputError("the plan has " + std::to_string(plan.ranks.size()) +
                     " ranks but the job was started with " + std::to_string(comm.size()) +
                     " (run it with mpirun -np " + std::to_string(plan.ranks.size()) + ")");
  // A constructor that throws runs no destructor: the state is owned here until the end.
  std::unique_ptr<Impl> owner(new Impl(plan, net, backend, comm, options));
  impl_ = owner.get();
  Impl& m = *impl_;
  owned_ = OwnedLayers(m.rp);

  // Replicas and micro-batches: the global batch splits evenly over both.
  std::set<int> replica_ids;
  for (const plan::Rank& r : plan.ranks)
    if (r.role != Role::kServer && r.replica >= 0) replica_ids.insert(r.replica);
  m.replicas = std::max<int>(1, int(replica_ids.size()));
  m.replica = m.rp.replica >= 0 ? m.rp.replica : 0;
  if (m.replicas > 1 && m.replica >= m.replicas)
    throw InputError("rank " + std::to_string(m.rank) + " has replica " +
                     std::to_string(m.replica) + " of " + std::to_string(m.replicas));
  std::set<int> mbs;
  int64_t samples = 0;
  for (const plan::Task& t : m.rp.tasks)
    if (t.kind == TaskKind::kCompute && t.layer >= 0 && t.phase == Phase::kForward) {
      mbs.insert(t.micro_batch);
      if (t.samples > 0) samples = t.samples;
    }
  micro_batches_ = mbs.empty() ? 1 : *mbs.rbegin() + 1;
  const int64_t per_replica = plan.global_batch / m.replicas;
  micro_batch_ = samples > 0 ? samples : std::max<int64_t>(1, per_replica / micro_batches_);
  if (plan.global_batch <= 0) throw InputError("the plan's global batch is not positive");

  for (size_t v = 0; v < net.size(); ++v)
    if (net.layer(int(v)).type == graph::LayerType::kLoss) m.loss_layer = int(v);
  for (int l : owned_) {
    for (int in : net.layer(l).inputs)
      if (in == 0) m.needs_images = true;
    if (l == m.loss_layer) m.needs_labels = true;
  }

  // Layers whose parameters live here: computed ones, and those a server updates or any task
  // communicates.
  std::set<int> param_layers(owned_.begin(), owned_.end());
  for (const plan::Task& t : m.rp.tasks) {
    for (int l : t.layers) param_layers.insert(l);
    if (t.kind == TaskKind::kCompute && t.layer >= 0) param_layers.insert(t.layer);
    if ((t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv) && t.layer >= 0)
      param_layers.insert(t.layer);
    if (t.kind == TaskKind::kSend || t.kind == TaskKind::kRecv)
      for (int l : m.LayersOf(t)) param_layers.insert(l);
  }
  m.micro_batch = micro_batch_;
  BackendConfig cfg;
  cfg.micro_batch = micro_batch_;
  cfg.micro_batches = micro_batches_;
  cfg.precision = plan.precision;
  cfg.optimizer = optimizer;
  cfg.optimizer.kind = plan.optimizer;
  cfg.seed = seed;
  cfg.choices = options.choices;
  cfg.threads = options.threads;
  cfg.memory = std::make_shared<const plan::MemoryPlan>(plan::PlanRankMemory(
      net, m.rp, micro_batch_, plan::detail::ActivationBytes(plan.precision), true));
  backend.Setup(net, {param_layers.begin(), param_layers.end()}, cfg);
  m.Prepare();
  owner.release();
}

Runtime::~Runtime() {
  delete impl_;
}

IterationResult Runtime::RunIteration(int iteration, DataSource& data) {
  return impl_->Run(iteration, data, *this);
}

SampleSlice Runtime::Slice(int iteration, int micro_batch) const {
  const int64_t per_replica = impl_->plan.global_batch / impl_->replicas;
  return {int64_t(iteration) * impl_->plan.global_batch + impl_->replica * per_replica +
              int64_t(micro_batch) * micro_batch_,
          micro_batch_};
}

const plan::Rank& Runtime::rank_plan() const {
  return impl_->rp;
}

}  // namespace convscale::exec
