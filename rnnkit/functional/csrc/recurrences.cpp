// Fused time loops with hand-written backpropagation through time (CPU).
//
// The same equations as rnnkit/functional/recurrences.py (the readable reference), one
// direction of one layer, time-major. Each step is one matrix product for the recurrence
// (W_hh h_{t-1}, BLAS through ATen) and one pass of pointwise gate math written as plain
// loops that the compiler vectorizes. The backward pass walks time in reverse keeping only
// (B, H) carries; every weight gradient is one large product after the loop.
//
// What every kernel takes besides its weights (all optional, empty tensor = absent):
//   rmask (B, H_in)    variational recurrent-dropout mask on h_{t-1} where it enters W_hh h
//   keep_h, keep_c     zoneout: a bool (T, B, H) mask of the units that keep their previous
//                      value (training), or a 0-dim tensor with the rate (evaluation)
//   valid (T, B)       1 where the step is inside the sequence; past its length the state
//                      is carried unchanged and the output is 0
// Both collapse into one coefficient per unit, k = 1 - valid * (1 - keep):
//   state_t = k * state_{t-1} + (1 - k) * new_t,   out_t = valid * h_t.

#include <ATen/Context.h>
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/addmm.h>
#include <c10/core/GradMode.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <ATen/TensorOperators.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/empty_like.h>
#include <ATen/ops/mm.h>
#include <ATen/ops/sum.h>
#include <ATen/ops/zeros.h>
#include <torch/library.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <cmath>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <tuple>
#include <type_traits>

namespace {

using at::Tensor;

// ---------------------------------------------------------------------------------------
// exp, sigmoid, tanh without library calls, so that the gate loops vectorize. Range
// reduction exp(x) = 2^n exp(r), |r| <= ln2/2, then a Taylor polynomial: degree 7 in float
// (error < 1e-8 relative), 13 in double (< 1e-16).

template <typename T>
inline T exp_poly(T r);

template <>
inline float exp_poly<float>(float r) {
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  return p * r + 1.0f;
}

template <>
inline double exp_poly<double>(double r) {
  double p = 1.0 / 6227020800.0;  // 1/13!
  p = p * r + 1.0 / 479001600.0;
  p = p * r + 1.0 / 39916800.0;
  p = p * r + 1.0 / 3628800.0;
  p = p * r + 1.0 / 362880.0;
  p = p * r + 1.0 / 40320.0;
  p = p * r + 1.0 / 5040.0;
  p = p * r + 1.0 / 720.0;
  p = p * r + 1.0 / 120.0;
  p = p * r + 1.0 / 24.0;
  p = p * r + 1.0 / 6.0;
  p = p * r + 0.5;
  p = p * r + 1.0;
  return p * r + 1.0;
}

template <typename T>
inline T fast_exp(T x) {
  constexpr bool f32 = std::is_same_v<T, float>;
  using I = std::conditional_t<f32, int32_t, int64_t>;
  constexpr int mantissa = f32 ? 23 : 52;
  constexpr I bias = f32 ? 127 : 1023;
  constexpr T lo = f32 ? T(-87.0) : T(-708.0);  // 2^n stays a normal number
  constexpr T hi = f32 ? T(88.0) : T(709.0);
  constexpr T ln2_hi = f32 ? T(0.693359375) : T(0.6931471803691238);
  constexpr T ln2_lo = f32 ? T(-2.12194440e-4) : T(1.9082149292705877e-10);
  x = std::min(std::max(x, lo), hi);
  const T n = std::floor(x * T(1.4426950408889634) + T(0.5));
  const T r = (x - n * ln2_hi) - n * ln2_lo;
  const I bits = (static_cast<I>(n) + bias) << mantissa;
  return exp_poly<T>(r) * __builtin_bit_cast(T, bits);
}

template <typename T>
inline T sigmoid(T x) {
  return T(1) / (T(1) + fast_exp(-x));
}

template <typename T>
inline T tanh_(T x) {
  const T e = fast_exp(T(-2) * std::abs(x));
  return std::copysign((T(1) - e) / (T(1) + e), x);
}

// Row kernels stay out of line: inlined into their callers they lose the __restrict promises
// and the vectorizer gives up on the variants with more pointers.
#define ROW_KERNEL __attribute__((noinline))

// ---------------------------------------------------------------------------------------
// Optional inputs. Each row kernel below is a template over which of them are present, so
// its loop has no branches and vectorizes; `with_flags` picks the instance at run time.

template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() && t.numel() > 0 ? t.data_ptr<T>() : nullptr;
}

template <typename F>
void with_flags(bool a, bool b, bool c, F&& f) {
  auto pick = [](bool x, auto&& g) {
    if (x) {
      g(std::true_type{});
    } else {
      g(std::false_type{});
    }
  };
  pick(a, [&](auto A) { pick(b, [&](auto B) { pick(c, [&](auto C) { f(A, B, C); }); }); });
}

// The per-step view of the optional inputs: row pointers for unit b at step t. A zoneout
// input is a bool (T, B, H) mask of the units that keep their previous value (training),
// a 0-dim tensor holding the rate (evaluation: keep that share of the previous value), or
// empty (no zoneout).
template <typename T>
struct Masks {
  const uint8_t* keep_h = nullptr;  // (T, B, H) or nullptr
  const uint8_t* keep_c = nullptr;
  T z_h = 0, z_c = 0;  // the rates, when there is no mask
  const T* valid;  // (T, B) or nullptr
  int64_t B, H;

  Masks(const Tensor& kh, const Tensor& kc, const Tensor& v, int64_t B_, int64_t H_)
      : valid(ptr_or_null<T>(v)), B(B_), H(H_) {
    read(kh, keep_h, z_h);
    read(kc, keep_c, z_c);
  }
  static void read(const Tensor& k, const uint8_t*& mask, T& rate) {
    if (!k.defined() || k.numel() == 0) return;
    if (k.scalar_type() == at::kBool) {
      mask = reinterpret_cast<const uint8_t*>(k.data_ptr<bool>());
    } else {
      rate = static_cast<T>(k.item<double>());
    }
  }
  const uint8_t* kh(int64_t t, int64_t b) const { return keep_h ? keep_h + (t * B + b) * H : nullptr; }
  const uint8_t* kc(int64_t t, int64_t b) const { return keep_c ? keep_c + (t * B + b) * H : nullptr; }
  T v(int64_t t, int64_t b) const { return valid ? valid[t * B + b] : T(1); }
};

// The share of the previous state kept: 1 - valid * (1 - keep), keep the mask or the rate z.
template <bool KEEP, typename T>
inline T kept(const uint8_t* __restrict keep, int64_t j, T v, T z) {
  if constexpr (KEEP) {
    return T(1) - v * T(1 - keep[j]);
  } else {
    return T(1) - v * (T(1) - z);
  }
}

// Rows of the batch are split among threads when a step has enough work to pay for it.
template <typename F>
void for_rows(int64_t B, int64_t H, F&& body) {
  const int64_t grain = std::max<int64_t>(1, 2048 / std::max<int64_t>(H, 1));
  at::parallel_for(0, B, grain, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) body(b);
  });
}

constexpr double kThreadedProduct = 4e6;  // FLOP per step from which the BLAS threads its product

// BLAS threads pay only for large products: below ~4 MFLOP per step (B x H_in x G*H) the
// time loop runs on one thread, where the threads' hand-offs would cost more than they save.
// (at::set_num_threads is process-wide; the previous count is restored when the loop ends.)
class StepThreads {
 public:
  StepThreads(int64_t B, int64_t K, int64_t N) {
    if (2.0 * B * K * N < kThreadedProduct && at::get_num_threads() > 1) {
      previous_ = at::get_num_threads();
      at::set_num_threads(1);
    }
  }
  ~StepThreads() {
    if (previous_ > 0) at::set_num_threads(previous_);
  }
  StepThreads(const StepThreads&) = delete;
  StepThreads& operator=(const StepThreads&) = delete;

 private:
  int previous_ = 0;
};

// ---------------------------------------------------------------------------------------
// The per-step product out (B, N) = x (B, K) @ W^T, W (N, K), by one of two routes:
//   mm      at::mm: the BLAS torch was built with (MKL in the x86 wheels)
//   onednn  oneDNN's matmul (mkldnn::_linear_pointwise), W reordered once per sequence
// Neither wins everywhere: MKL's sgemm is a vendor's (fast on the CPUs it knows, half as fast
// as oneDNN's at batch 64 on an AMD EPYC), oneDNN pays more per call at small shapes. So the
// route is measured: the first time a (B, K, N, threads) comes, the two routes run interleaved
// on the real weight (the best of 6 samples of 8 calls each) and oneDNN is kept for the process
// if it is at least 5% faster (a smaller margin is noise), else mm. set_gemm_route (or the
// environment's RNNKIT_GEMM_ROUTE) forces one: the routes round differently in the last bits,
// so runs that must agree bit for bit across processes fix it; gemm_routes says what was chosen
// and the times. float64 always takes mm (oneDNN has no f64 matmul).
//
// The weight's dtype is the product's: a bfloat16 W (the layers pass one under CPU autocast to
// bfloat16) makes every product bfloat16, as autocast would make it: x is rounded to bfloat16,
// the product accumulates in float32 inside the GEMM and is rounded to bfloat16, then widened
// into the float32 out. The gates, the state and every row pass stay float32. Both routes are
// measured for bfloat16 too (a oneDNN without bfloat16 on this CPU leaves mm).

enum class Route { mm, onednn };
const char* route_name(Route r) { return r == Route::mm ? "mm" : "onednn"; }

using RouteKey = std::tuple<int64_t, int64_t, int64_t, int, c10::ScalarType>;  // B, K, N, threads, dtype

struct RouteBook {
  RouteBook() {
    const char* env = std::getenv("RNNKIT_GEMM_ROUTE");
    if (env != nullptr && *env != '\0') {
      const std::string value(env);
      TORCH_CHECK(value == "auto" || value == "mm" || value == "onednn",
                  "RNNKIT_GEMM_ROUTE: expected auto, mm or onednn, got '", value, "'");
      forced = value;
    }
  }
  std::mutex lock;
  std::string forced = "auto";  // "auto", "mm" or "onednn"; RNNKIT_GEMM_ROUTE sets it at start
  std::map<RouteKey, std::pair<Route, std::string>> chosen;  // -> route, why
};
RouteBook& route_book() {
  static RouteBook book;
  return book;
}

std::optional<c10::OperatorHandle> mkldnn_op(const char* name) {
  if (!at::hasMKLDNN()) return std::nullopt;
  return c10::Dispatcher::singleton().findSchema({name, ""});
}

Tensor onednn_reorder(const Tensor& w, int64_t B) {
  static const auto op = mkldnn_op("mkldnn::_reorder_linear_weight");
  std::vector<c10::IValue> stack{w, c10::IValue(B)};
  op->callBoxed(stack);
  return stack[0].toTensor();
}

Tensor onednn_linear(const Tensor& x, const Tensor& packed) {
  static const auto op = mkldnn_op("mkldnn::_linear_pointwise");
  std::vector<c10::IValue> stack{x, packed, c10::IValue(), c10::IValue(std::string("none")),
                                 c10::IValue(c10::List<std::optional<c10::Scalar>>()), c10::IValue(std::string(""))};
  op->callBoxed(stack);
  return stack[0].toTensor();
}

bool onednn_available() {
  static const bool available = mkldnn_op("mkldnn::_linear_pointwise").has_value() &&
                                mkldnn_op("mkldnn::_reorder_linear_weight").has_value();
  return available;
}

// Whether oneDNN's bfloat16 matmul runs here (it needs AVX-512 at least): tried once.
bool onednn_bf16() {
  static const bool works = [] {
    if (!onednn_available()) return false;
    try {
      const Tensor w = at::zeros({8, 8}, at::TensorOptions().dtype(at::kBFloat16));
      onednn_linear(at::zeros({2, 8}, w.options()), onednn_reorder(w, 2));
      return true;
    } catch (const std::exception&) {
      return false;
    }
  }();
  return works;
}

class StepGemm {
 public:
  // out (B, N) = x (B, K) @ rhs, rhs (K, N) (a transposed view is fine: mm reads it as it is, oneDNN
  // gets it reordered once). rhs in bfloat16: bfloat16 products into float32 (see above).
  StepGemm(const Tensor& rhs, int64_t B) : rhs_(rhs), low_(rhs.scalar_type() == at::kBFloat16) {
    const bool onednn_dtype = rhs.scalar_type() == at::kFloat || low_;
    route_ = onednn_dtype && onednn_available() ? choose(B) : Route::mm;
    if (route_ == Route::onednn) packed_ = onednn_reorder(rhs.t().contiguous(), B);
  }

  void product(Tensor& out, const Tensor& x) const {
    if (route_ == Route::mm && !low_) {
      at::mm_out(out, x, rhs_);
    } else {
      out.copy_(raw(x));
    }
  }

  // The product in x's dtype.
  Tensor product(const Tensor& x) const {
    Tensor p = raw(x);
    return low_ ? p.to(x.scalar_type()) : p;
  }

  void add_product(Tensor& acc, const Tensor& x) const {
    if (route_ == Route::mm && !low_) {
      acc.addmm_(x, rhs_);
    } else {
      acc.add_(raw(x));
    }
  }

 private:
  // The product in the weight's dtype.
  Tensor raw(const Tensor& x) const {
    const Tensor xin = low_ ? x.to(at::kBFloat16) : x;
    return route_ == Route::mm ? at::mm(xin, rhs_) : onednn_linear(xin, packed_);
  }

  Route choose(int64_t B) const {
    RouteBook& book = route_book();
    const std::lock_guard<std::mutex> hold(book.lock);
    if (book.forced != "auto") return book.forced == "mm" || (low_ && !onednn_bf16()) ? Route::mm : Route::onednn;
    const int64_t K = rhs_.size(0), N = rhs_.size(1);
    const RouteKey key = std::make_tuple(B, K, N, at::get_num_threads(), rhs_.scalar_type());
    auto found = book.chosen.find(key);
    if (found != book.chosen.end()) return found->second.first;
    if (low_ && !onednn_bf16()) {
      book.chosen[key] = {Route::mm, "oneDNN has no bfloat16 matmul on this CPU"};
      return Route::mm;
    }
    const Tensor x = at::zeros({B, K}, rhs_.options());
    Tensor out = at::empty({B, N}, rhs_.options());
    const Tensor packed = onednn_reorder(rhs_.t().contiguous(), B);
    auto sample = [&](Route r) {  // seconds per call, over 8 calls
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 8; ++i) {
        if (r == Route::mm) {
          at::mm_out(out, x, rhs_);
        } else {
          out.copy_(onednn_linear(x, packed));
        }
      }
      return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count() / 8;
    };
    double mm = 1e30, dnn = 1e30;  // the best of 6 interleaved samples each, after 2 to warm up
    for (int round = 0; round < 8; ++round) {
      const double a = sample(Route::mm), b = sample(Route::onednn);
      if (round >= 2) {
        mm = std::min(mm, a);
        dnn = std::min(dnn, b);
      }
    }
    const Route r = dnn < 0.95 * mm ? Route::onednn : Route::mm;  // oneDNN when clearly faster: noise keeps mm
    std::ostringstream why;
    why.precision(3);
    why << "measured: mm " << mm * 1e6 << " us, onednn " << dnn * 1e6 << " us";
    book.chosen[key] = {r, why.str()};
    return r;
  }

  Tensor rhs_;
  Tensor packed_;
  bool low_ = false;
  Route route_ = Route::mm;
};

// dW_hh (N, K) = d (M, N)^T @ h_in (M, K), all steps at once, in the weight's dtype (bfloat16
// operands when the products were bfloat16, as autocast's backward of a bfloat16 matmul).
Tensor weight_grad(const Tensor& d, const Tensor& h_in, const Tensor& w_hh) {
  const auto dtype = w_hh.scalar_type();
  return d.scalar_type() == dtype ? at::mm(d.t(), h_in) : at::mm(d.t().to(dtype), h_in.to(dtype));
}

// The kernels choose their own dtypes: an autocast region around a call (or around the backward
// that calls them) must not recast the products inside them.
// W_hh in the inputs' dtype, or bfloat16 beside float32 inputs (bfloat16 products).
void check_weight(const Tensor& x, const Tensor& w_hh, const char* where) {
  TORCH_CHECK(w_hh.scalar_type() == x.scalar_type() ||
                  (w_hh.scalar_type() == at::kBFloat16 && x.scalar_type() == at::kFloat),
              "rnnkit ", where, ": w_hh must be ", x.scalar_type(), " like the inputs (or BFloat16 beside Float ",
              "inputs, for bfloat16 products), got ", w_hh.scalar_type());
}

struct NoAutocast {
  c10::impl::ExcludeDispatchKeyGuard guard{c10::autocast_dispatch_keyset};
};

void set_gemm_route(std::string route) {
  TORCH_CHECK(route == "auto" || route == "mm" || route == "onednn",
              "rnnkit set_gemm_route: expected 'auto', 'mm' or 'onednn', got '", route, "'");
  TORCH_CHECK(route != "onednn" || onednn_available(), "rnnkit set_gemm_route: oneDNN's matmul is not in this torch");
  RouteBook& book = route_book();
  const std::lock_guard<std::mutex> hold(book.lock);
  book.forced = route;
}

// One line per shape measured: "B K N threads dtype route (why)"; the first line says what is forced.
std::string gemm_routes() {
  RouteBook& book = route_book();
  const std::lock_guard<std::mutex> hold(book.lock);
  std::ostringstream text;
  text << "forced " << book.forced << " onednn_available " << onednn_available() << "\n";
  for (const auto& [key, value] : book.chosen) {
    text << std::get<0>(key) << " " << std::get<1>(key) << " " << std::get<2>(key) << " " << std::get<3>(key) << " "
         << c10::toString(std::get<4>(key)) << " " << route_name(value.first) << " (" << value.second << ")\n";
  }
  return text.str();
}

// h_in = h * rmask for this step's recurrent product (or h itself).
Tensor masked_input(const Tensor& h, const Tensor& rmask) {
  return rmask.defined() && rmask.numel() > 0 ? h * rmask : h;
}

// d h_{t-1} += (d pre-activations @ W_hh) * rmask; dh holds the share that bypassed the cell.
// ``back`` is the product by W_hh: StepGemm(w_hh, B).
void recurrent_grad(Tensor& dh, const Tensor& d_pre, const StepGemm& back, const Tensor& rmask) {
  if (rmask.defined() && rmask.numel() > 0) {
    dh.addcmul_(back.product(d_pre), rmask);
  } else {
    back.add_product(dh, d_pre);
  }
}

// ---------------------------------------------------------------------------------------
// Small steps shared among threads. A step whose product is under kThreadedProduct is too
// small for the BLAS to thread (StepThreads runs it on one thread). Two ways to share it
// instead, each a product by at::mm and row passes on every thread at once:
//   rows   the batch is cut into blocks, one per thread, and each thread runs the whole
//          sequence for its rows: rows never meet in a recurrence, so the threads never wait
//          for each other (the weight gradient is one product after the loop, as before).
//   units  (LSTM, for a batch smaller than the threads, e.g. one stream) the hidden units are
//          cut into slices; each thread makes its slice's product (the rows of W_hh that feed
//          its units' gates) and row pass, and in the backward its slice of
//          d h_{t-1} = d gates @ W_hh[:, slice] once every slice's d gates are in: one fork
//          and join of the threads per step.
// set_step_split(mode, parts) forces a way ("none", "rows", "units"; "auto": the rule in
// step_split) so that tests reach each on any machine.

enum class Split { none, rows, units };

struct SplitChoice {
  Split way = Split::none;
  int64_t parts = 1;
};

struct ForcedSplit {
  std::mutex lock;
  std::string mode = "auto";
  int64_t parts = 2;
  // (kernel, B, H, threads) -> "GH way parts", the latest choice for that shape
  std::map<std::tuple<std::string, int64_t, int64_t, int>, std::string> chosen;
};
ForcedSplit& forced_split() {
  static ForcedSplit forced;
  return forced;
}

void set_step_split(std::string mode, int64_t parts) {
  TORCH_CHECK(mode == "auto" || mode == "none" || mode == "rows" || mode == "units",
              "rnnkit set_step_split: expected 'auto', 'none', 'rows' or 'units', got '", mode, "'");
  TORCH_CHECK(parts >= 1, "rnnkit set_step_split: expected parts >= 1, got ", parts);
  ForcedSplit& forced = forced_split();
  const std::lock_guard<std::mutex> hold(forced.lock);
  forced.mode = mode;
  forced.parts = parts;
}

// How `kernel`'s sequence of T steps of B rows, H units and GH = G * H gates is shared (the
// units' way is the LSTM kernel's alone). Sharing pays only for enough work: the rows' blocks fork the threads
// once per call, so the call's products must come to kRowsMinWork; the units' slices fork them
// every step and copy W_hh once per call, so a step's product must come to kUnitsMinWork and the
// call to kUnitsMinSteps steps (a stream fed step by step is not sliced). Products in another
// dtype than the inputs' (bfloat16) are shared by rows only.
constexpr double kRowsMinWork = 2e6;   // FLOP per call (~10 us of one core)
constexpr double kUnitsMinWork = 1e5;  // FLOP per step
constexpr int64_t kUnitsMinSteps = 8;

SplitChoice step_split(const std::string& kernel, int64_t B, int64_t H, int64_t GH, int64_t T, bool same_dtype) {
  const bool units = kernel == "lstm" && same_dtype;
  std::string mode;
  int64_t parts = 0;
  {
    ForcedSplit& forced = forced_split();
    const std::lock_guard<std::mutex> hold(forced.lock);
    mode = forced.mode;
    parts = forced.parts;
  }
  const int64_t threads = at::get_num_threads();
  const double step = 2.0 * B * H * GH;  // FLOP of one step's product
  SplitChoice choice;
  if (mode == "none") {
    choice = {};
  } else if (mode == "rows") {
    choice = parts > 1 && B >= parts ? SplitChoice{Split::rows, parts} : SplitChoice{};
  } else if (mode == "units") {
    choice = units && parts > 1 && H % parts == 0 ? SplitChoice{Split::units, parts} : SplitChoice{};
  } else if (threads < 2 || step >= kThreadedProduct || at::in_parallel_region()) {
    choice = {};
  } else if (B >= 2) {
    choice = step * T >= kRowsMinWork ? SplitChoice{Split::rows, std::min(threads, B)} : SplitChoice{};
  } else {
    int64_t n = threads;
    while (n > 1 && (H % n != 0 || H / n < 32)) --n;  // slices of at least 32 units
    choice = units && n > 1 && step >= kUnitsMinWork && T >= kUnitsMinSteps ? SplitChoice{Split::units, n}
                                                                             : SplitChoice{};
  }
  const char* way = choice.way == Split::rows ? "rows" : choice.way == Split::units ? "units" : "none";
  ForcedSplit& book = forced_split();
  const std::lock_guard<std::mutex> hold(book.lock);
  book.chosen[std::make_tuple(kernel, B, H, static_cast<int>(threads))] =
      std::to_string(GH) + " " + way + " " + std::to_string(choice.parts);
  return choice;
}

// One line per kernel and step shape met: "kernel B H threads GH way parts" (the latest choice).
std::string step_splits() {
  ForcedSplit& book = forced_split();
  const std::lock_guard<std::mutex> hold(book.lock);
  std::ostringstream text;
  text << "forced " << book.mode << " " << book.parts << "\n";
  for (const auto& [key, value] : book.chosen) {
    text << std::get<0>(key) << " " << std::get<1>(key) << " " << std::get<2>(key) << " " << std::get<3>(key) << " "
         << value << "\n";
  }
  return text.str();
}

// What a worker thread needs to call ATen as the kernel's own thread does: no autograd recording
// and no autocast (both are thread-local, and a pool thread starts with the defaults).
struct WorkerGuards {
  c10::AutoGradMode no_grad{false};
  c10::impl::ExcludeDispatchKeyGuard no_autocast{c10::autocast_dispatch_keyset};
};

// body(part) for part in [0, n), spread over the threads.
template <typename F>
void for_parts(int64_t n, F&& body) {
  at::parallel_for(0, n, 1, [&](int64_t s0, int64_t s1) {
    const WorkerGuards guards;
    for (int64_t s = s0; s < s1; ++s) body(s);
  });
}

Tensor rows_of(const Tensor& t, int64_t b0, int64_t b1) {
  return t.defined() && t.numel() > 0 ? t.narrow(0, b0, b1 - b0) : t;
}

// x @ rhs by at::mm, as StepGemm's mm route makes it: a bfloat16 rhs beside a float32 x makes a
// bfloat16 product (x rounded, the result rounded), returned widened to x's dtype.
Tensor block_product(const Tensor& x, const Tensor& rhs) {
  return rhs.scalar_type() == x.scalar_type() ? at::mm(x, rhs) : at::mm(x.to(rhs.scalar_type()), rhs).to(x.scalar_type());
}

// The forward time loop of every kernel, split or not: at each step t the product
// W_hh (h_{t-1} * rmask) into target(t) (B, GH), then row(t, b) for each row b.
template <typename Target, typename Row>
void forward_loop(int64_t T_, const Tensor& w_hh, const Tensor& hs, const Tensor& rmask, const SplitChoice& split,
                  Target&& target, Row&& row) {
  const int64_t B = hs.size(1), H = w_hh.size(1), GH = w_hh.size(0);
  if (split.way == Split::rows) {
    const Tensor rhs = w_hh.t();
    for_parts(split.parts, [&](int64_t part) {
      const int64_t b0 = part * B / split.parts, b1 = (part + 1) * B / split.parts;
      const Tensor mask = rows_of(rmask, b0, b1);
      for (int64_t t = 0; t < T_; ++t) {
        Tensor out = target(t).narrow(0, b0, b1 - b0);
        const Tensor x = masked_input(hs.select(0, t).narrow(0, b0, b1 - b0), mask);
        if (rhs.scalar_type() == x.scalar_type()) {
          at::mm_out(out, x, rhs);
        } else {
          out.copy_(block_product(x, rhs));
        }
        for (int64_t b = b0; b < b1; ++b) row(t, b);
      }
    });
    return;
  }
  const StepThreads threads(B, H, GH);
  const StepGemm gemm(w_hh.t(), B);  // W_hh h_{t-1}, by the route measured for this shape
  for (int64_t t = 0; t < T_; ++t) {
    Tensor out = target(t);
    gemm.product(out, masked_input(hs.select(0, t), rmask));
    for_rows(B, H, [&](int64_t b) { row(t, b); });
  }
}

// The backward time loop, split or not: at each step t (last first) row(t, b) for each row b,
// which leaves in dh the share of d h_{t-1} that bypassed the cell and writes the gradient of
// step t's pre-activations d_pre(t) (B, GH); then dh += (d_pre(t) @ W_hh) * rmask.
template <typename Dpre, typename Row>
void backward_loop(int64_t T_, const Tensor& w_hh, Tensor& dh, const Tensor& rmask, const SplitChoice& split,
                   Dpre&& d_pre, Row&& row) {
  const int64_t B = dh.size(0), H = w_hh.size(1), GH = w_hh.size(0);
  if (split.way == Split::rows) {
    for_parts(split.parts, [&](int64_t part) {
      const int64_t b0 = part * B / split.parts, b1 = (part + 1) * B / split.parts;
      const Tensor mask = rows_of(rmask, b0, b1);
      Tensor dh_rows = dh.narrow(0, b0, b1 - b0);
      for (int64_t t = T_ - 1; t >= 0; --t) {
        for (int64_t b = b0; b < b1; ++b) row(t, b);
        const Tensor d = d_pre(t).narrow(0, b0, b1 - b0);
        if (mask.defined() && mask.numel() > 0) {
          dh_rows.addcmul_(block_product(d, w_hh), mask);
        } else if (w_hh.scalar_type() == d.scalar_type()) {
          dh_rows.addmm_(d, w_hh);
        } else {
          dh_rows.add_(block_product(d, w_hh));
        }
      }
    });
    return;
  }
  const StepThreads threads(B, H, GH);
  const StepGemm back(w_hh, B);  // d h = d pre-activations @ W_hh
  for (int64_t t = T_ - 1; t >= 0; --t) {
    for_rows(B, H, [&](int64_t b) { row(t, b); });
    recurrent_grad(dh, d_pre(t), back, rmask);
  }
}


void check_cpu(std::initializer_list<std::pair<const Tensor*, const char*>> tensors) {
  for (const auto& [t, name] : tensors) {
    TORCH_CHECK(!t->defined() || t->numel() == 0 || (t->device().is_cpu() && t->is_contiguous()),
                "rnnkit kernel: ", name, " must be a contiguous CPU tensor");
  }
}

// =======================================================================================
// LSTM: gates (i, f, g, o), optional peepholes p = (p_i, p_f, p_o).
//   xg: (T, B, 4H) = W_ih x_t + b_ih + b_hh. Saved: act (T, B, 4H) the activated gates,
//   hs, cs (T+1, B, H) the carried states.

// n units of one row. The gate blocks of x4, of the activations a4 written and of the
// peepholes p are S apart (S = H); those of the product g4 are sg apart (H, or a unit slice's
// width when the units are split among threads, see step_split). a4 may be g4 (in place).
template <bool PEEP, bool KEEP_H, bool KEEP_C, typename T>
ROW_KERNEL void lstm_row_forward(int64_t n, int64_t S, int64_t sg, const T* __restrict x4, const T* g4, T* a4,
                      const T* __restrict h_prev, const T* __restrict c_prev,
                      const T* __restrict p, const uint8_t* __restrict keep_h, const uint8_t* __restrict keep_c, T z_h, T z_c, T v,
                      T* __restrict h_next, T* __restrict c_next, T* __restrict out) {
#pragma omp simd
  for (int64_t j = 0; j < n; ++j) {
    const T cp = c_prev[j];
    T pre_i = x4[j] + g4[j], pre_f = x4[S + j] + g4[sg + j], pre_o = x4[3 * S + j] + g4[3 * sg + j];
    if constexpr (PEEP) {
      pre_i += p[j] * cp;
      pre_f += p[S + j] * cp;
    }
    const T i = sigmoid(pre_i), f = sigmoid(pre_f), g = tanh_(x4[2 * S + j] + g4[2 * sg + j]);
    const T c = f * cp + i * g;
    if constexpr (PEEP) pre_o += p[2 * S + j] * c;
    const T o = sigmoid(pre_o);
    const T h = o * tanh_(c);
    a4[j] = i;
    a4[S + j] = f;
    a4[2 * S + j] = g;
    a4[3 * S + j] = o;
    const T kh = kept<KEEP_H>(keep_h, j, v, z_h), kc = kept<KEEP_C>(keep_c, j, v, z_c);
    const T h_state = kh * h_prev[j] + (T(1) - kh) * h;
    h_next[j] = h_state;
    c_next[j] = kc * cp + (T(1) - kc) * c;
    out[j] = v * h_state;
  }
}

// n units of one row; the gate blocks of a4, d4 and p are S apart.
template <bool PEEP, bool KEEP_H, bool KEEP_C, typename T>
ROW_KERNEL void lstm_row_backward(int64_t n, int64_t S, const T* __restrict a4, const T* __restrict c_prev, const T* __restrict p,
                       const uint8_t* __restrict keep_h, const uint8_t* __restrict keep_c, T z_h, T z_c, T v, const T* __restrict d_out,
                       T* __restrict dh, T* __restrict dc, T* __restrict d4,
                       T* __restrict c_new) {
  for (int64_t j = 0; j < n; ++j) {
    const T i = a4[j], f = a4[S + j], g = a4[2 * S + j], o = a4[3 * S + j];
    const T cp = c_prev[j];
    const T c = f * cp + i * g;
    const T tc = tanh_(c);
    const T kh = kept<KEEP_H>(keep_h, j, v, z_h), kc = kept<KEEP_C>(keep_c, j, v, z_c);
    const T d_state = dh[j] + v * d_out[j];  // d h_state_t
    const T dh_new = (T(1) - kh) * d_state;
    const T dgo = dh_new * tc * o * (T(1) - o);
    T dcn = (T(1) - kc) * dc[j] + dh_new * o * (T(1) - tc * tc);
    if constexpr (PEEP) dcn += dgo * p[2 * S + j];
    const T dgi = dcn * g * i * (T(1) - i);
    const T dgf = dcn * cp * f * (T(1) - f);
    const T dgg = dcn * i * (T(1) - g * g);
    d4[j] = dgi;
    d4[S + j] = dgf;
    d4[2 * S + j] = dgg;
    d4[3 * S + j] = dgo;
    T dcp = kc * dc[j] + dcn * f;
    if constexpr (PEEP) {
      dcp += dgi * p[j] + dgf * p[S + j];
      c_new[j] = c;
    }
    dc[j] = dcp;
    dh[j] = kh * d_state;  // the share of d h_{t-1} that bypassed the cell; W_hh's is added after
  }
}

template <typename T>
void lstm_forward_impl(const Tensor& xg, const Tensor& w_hh, const Tensor& peep, const Tensor& rmask,
                       const Masks<T>& m, Tensor& act, Tensor& hs, Tensor& cs, Tensor& out, bool save) {
  const int64_t T_ = xg.size(0), B = xg.size(1), H = w_hh.size(1);
  const T* p = ptr_or_null<T>(peep);
  const T* X = xg.data_ptr<T>();
  T *H_ = hs.data_ptr<T>(), *C = cs.data_ptr<T>(), *O = out.data_ptr<T>();
  const SplitChoice split = step_split("lstm", B, H, 4 * H, T_, w_hh.scalar_type() == xg.scalar_type());
  with_flags(p != nullptr, m.keep_h != nullptr, m.keep_c != nullptr, [&](auto PEEP, auto KH, auto KC) {
    // units [j0, j0 + n) of row b at step t; g: their products, gate blocks sg apart; a: where the activations go
    auto units = [&](int64_t t, int64_t b, int64_t j0, int64_t n, const T* g, int64_t sg, T* a) {
      const int64_t u = (t * B + b) * H + j0, u1 = u + B * H;
      const uint8_t *kh = m.kh(t, b), *kc = m.kc(t, b);
      lstm_row_forward<decltype(PEEP)::value, decltype(KH)::value, decltype(KC)::value, T>(
          n, H, sg, X + 4 * (u - j0) + j0, g, a, H_ + u, C + u, p ? p + j0 : nullptr, kh ? kh + j0 : nullptr,
          kc ? kc + j0 : nullptr, m.z_h, m.z_c, m.v(t, b), H_ + u1, C + u1, O + u);
    };
    if (split.way != Split::units) {
      T* A = act.data_ptr<T>();  // the product, then the activations in place
      forward_loop(T_, w_hh, hs, rmask, split, [&](int64_t t) { return act.select(0, save ? t : 0); },
                   [&](int64_t t, int64_t b) {
        T* G = A + ((save ? t : 0) * B + b) * 4 * H;
        units(t, b, 0, H, G, H, G);
      });
      return;
    }
    // slice s: the rows of W_hh that feed its units' four gates, (4w, H), and its products (B, 4w)
    const int64_t slices = split.parts, w = H / slices;
    const Tensor w_split = w_hh.view({4, slices, w, H}).transpose(0, 1).contiguous();
    std::vector<Tensor> rhs, products;
    for (int64_t s = 0; s < slices; ++s) {
      rhs.push_back(w_split.select(0, s).view({4 * w, H}).t());
      products.push_back(at::empty({B, 4 * w}, xg.options()));
    }
    for (int64_t t = 0; t < T_; ++t) {
      const Tensor h_in = masked_input(hs.select(0, t), rmask);
      T* A = act.select(0, save ? t : 0).data_ptr<T>();
      for_parts(slices, [&](int64_t s) {
        at::mm_out(products[s], h_in, rhs[s]);
        const T* G = products[s].data_ptr<T>();
        for (int64_t b = 0; b < B; ++b) units(t, b, s * w, w, G + b * 4 * w, w, A + b * 4 * H + s * w);
      });
    }
  });
}

std::vector<Tensor> lstm_forward(const Tensor& xg, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                                 const Tensor& peep, const Tensor& rmask, const Tensor& keep_h,
                                 const Tensor& keep_c, const Tensor& valid, bool save) {
  const NoAutocast no_autocast;
  check_cpu({{&xg, "xg"}, {&h0, "h0"}, {&c0, "c0"}, {&w_hh, "w_hh"}, {&peep, "peep"}, {&rmask, "rmask"},
             {&keep_h, "keep_h"}, {&keep_c, "keep_c"}, {&valid, "valid"}});
  const int64_t T_ = xg.size(0), B = xg.size(1), H = w_hh.size(1);
  check_weight(xg, w_hh, "lstm_forward");
  TORCH_CHECK(xg.size(2) == 4 * H && h0.size(1) == H && c0.size(1) == H, "rnnkit lstm_forward: shapes disagree");
  Tensor act = at::empty({save ? T_ : 1, B, 4 * H}, xg.options());
  Tensor hs = at::empty({T_ + 1, B, H}, xg.options());
  Tensor cs = at::empty({T_ + 1, B, H}, xg.options());
  Tensor out = at::empty({T_, B, H}, xg.options());
  hs.select(0, 0).copy_(h0);
  cs.select(0, 0).copy_(c0);
  AT_DISPATCH_FLOATING_TYPES(xg.scalar_type(), "rnnkit_lstm_forward", [&] {
    const Masks<scalar_t> m(keep_h, keep_c, valid, B, H);
    lstm_forward_impl<scalar_t>(xg, w_hh, peep, rmask, m, act, hs, cs, out, save);
  });
  return {out, hs, cs, act};
}

template <typename T>
void lstm_backward_impl(const Tensor& dout, Tensor& dh, Tensor& dc, const Tensor& w_hh, const Tensor& peep,
                        const Tensor& rmask, const Masks<T>& m, const Tensor& act, const Tensor& cs, Tensor& dgates,
                        Tensor& c_new) {
  const int64_t T_ = act.size(0), B = act.size(1), H = act.size(2) / 4;
  const T* p = ptr_or_null<T>(peep);
  const T *A = act.data_ptr<T>(), *C = cs.data_ptr<T>(), *DO = dout.data_ptr<T>();
  T* D = dgates.data_ptr<T>();
  T* CN = ptr_or_null<T>(c_new) ? c_new.data_ptr<T>() : nullptr;
  const SplitChoice split = step_split("lstm", B, H, 4 * H, T_, w_hh.scalar_type() == act.scalar_type());
  with_flags(p != nullptr, m.keep_h != nullptr, m.keep_c != nullptr, [&](auto PEEP, auto KH, auto KC) {
    // units [j0, j0 + n) of row b at step t; dh_row, dc_row: that row's carries of those units
    auto units = [&](int64_t t, int64_t b, int64_t j0, int64_t n, T* dh_row, T* dc_row) {
      const int64_t u = (t * B + b) * H + j0;
      const uint8_t *kh = m.kh(t, b), *kc = m.kc(t, b);
      lstm_row_backward<decltype(PEEP)::value, decltype(KH)::value, decltype(KC)::value, T>(
          n, H, A + 4 * (u - j0) + j0, C + u, p ? p + j0 : nullptr, kh ? kh + j0 : nullptr, kc ? kc + j0 : nullptr,
          m.z_h, m.z_c, m.v(t, b), DO + u, dh_row, dc_row, D + 4 * (u - j0) + j0, CN ? CN + u : nullptr);
    };
    if (split.way != Split::units) {
      T *dH = dh.data_ptr<T>(), *dC = dc.data_ptr<T>();
      backward_loop(T_, w_hh, dh, rmask, split, [&](int64_t t) { return dgates.select(0, t); },
                    [&](int64_t t, int64_t b) { units(t, b, 0, H, dH + b * H, dC + b * H); });
      return;
    }
    // slice s: its units' carries (B, w), and d h_{t-1}[:, slice] = d gates_t @ W_hh[:, slice] (* the mask's slice)
    const int64_t slices = split.parts, w = H / slices;
    const bool masked = rmask.defined() && rmask.numel() > 0;
    std::vector<Tensor> rhs, dh_s, dc_s, mask_s;
    for (int64_t s = 0; s < slices; ++s) {
      rhs.push_back(w_hh.narrow(1, s * w, w));
      dh_s.push_back(dh.narrow(1, s * w, w).contiguous());
      dc_s.push_back(dc.narrow(1, s * w, w).contiguous());
      mask_s.push_back(masked ? rmask.narrow(1, s * w, w) : Tensor());
    }
    auto add_recurrent = [&](int64_t s, int64_t t) {  // the product by W_hh of step t's d gates, into d h_{t-1}
      if (masked) {
        dh_s[s].addcmul_(at::mm(dgates.select(0, t), rhs[s]), mask_s[s]);
      } else {
        dh_s[s].addmm_(dgates.select(0, t), rhs[s]);
      }
    };
    for (int64_t t = T_ - 1; t >= 0; --t) {
      for_parts(slices, [&](int64_t s) {
        if (t + 1 < T_) add_recurrent(s, t + 1);
        T *dH = dh_s[s].data_ptr<T>(), *dC = dc_s[s].data_ptr<T>();
        for (int64_t b = 0; b < B; ++b) units(t, b, s * w, w, dH + b * w, dC + b * w);
      });
    }
    if (T_ > 0) for_parts(slices, [&](int64_t s) { add_recurrent(s, 0); });
    for (int64_t s = 0; s < slices; ++s) {
      dh.narrow(1, s * w, w).copy_(dh_s[s]);
      dc.narrow(1, s * w, w).copy_(dc_s[s]);
    }
  });
}

// Returns dxg (T, B, 4H) (also the gradient of every pre-activation), dh0, dc0, dw_hh, and
// c_new (T, B, H), the cell before zoneout/lengths, which the peephole gradient p_o needs.
std::vector<Tensor> lstm_backward(const Tensor& dout, const Tensor& dhT, const Tensor& dcT, const Tensor& w_hh,
                                  const Tensor& peep, const Tensor& rmask, const Tensor& keep_h,
                                  const Tensor& keep_c, const Tensor& valid, const Tensor& act, const Tensor& hs,
                                  const Tensor& cs) {
  const NoAutocast no_autocast;
  check_cpu({{&dout, "dout"}, {&dhT, "dhT"}, {&dcT, "dcT"}, {&act, "act"}});
  const int64_t T_ = act.size(0), B = act.size(1), H = act.size(2) / 4;
  Tensor dh = dhT.clone(), dc = dcT.clone();
  Tensor dgates = at::empty_like(act);
  const bool has_peep = peep.defined() && peep.numel() > 0;
  Tensor c_new = at::empty({has_peep ? T_ : 0, B, H}, act.options());
  AT_DISPATCH_FLOATING_TYPES(act.scalar_type(), "rnnkit_lstm_backward", [&] {
    const Masks<scalar_t> m(keep_h, keep_c, valid, B, H);
    lstm_backward_impl<scalar_t>(dout, dh, dc, w_hh, peep, rmask, m, act, cs, dgates, c_new);
  });
  const Tensor h_in = masked_input(hs.narrow(0, 0, T_), rmask).reshape({T_ * B, H});
  Tensor dw_hh = weight_grad(dgates.reshape({T_ * B, 4 * H}), h_in, w_hh);
  return {dgates, dh, dc, dw_hh, c_new};
}

// =======================================================================================
// Layer-normalized LSTM (Ba et al. 2016), as rnnkit.functional.lstm_recurrence with ln_*:
//   gates = LN_blocks(xp) * ih_w + LN_blocks(W_hh h_in) * hh_w + shift
//   h = o * tanh(LN(c) * c_w + c_b), c carried unnormalized; peepholes optional.
//   xp: (T, B, 4H) = W_ih x, raw; each H-wide gate block is normalized on its own, both for
//   the input's and the recurrence's product. shift (4H) = every bias on the gates summed
//   (LN(W_ih x)'s shift, LN(W_hh h)'s, b_ih, b_hh): they all add to the same pre-activation.
//   The input's normalization is here rather than before the loop so that its forward, its
//   backward and the gain and shift gradients ride the row passes the loop makes anyway
//   (apart, they were four more passes over (T, B, 4H)).
//   Saved: act (T, B, 4H), xin (T, B, 4H) the normalized xp, xhat (T, B, 4H) the normalized
//   W_hh h, chat (T, B, H) the normalized c, rstd (T, B, 9) the reciprocal deviations (4
//   input blocks, 4 recurrent blocks, then c), hs, cs.

constexpr double kLayerNormEps = 1e-5;  // rnnkit.functional.recurrences.LAYER_NORM_EPS

// Normalize v[0:H] in place; returns 1 / sqrt(var + eps). The sums vectorize as OpenMP SIMD
// reductions, which may reassociate them: rounding differs from torch's by ~1 ulp.
template <typename T>
inline T normalize(T* __restrict v, int64_t H) {
  T mean = 0;
#pragma omp simd reduction(+ : mean)
  for (int64_t j = 0; j < H; ++j) mean += v[j];
  mean /= T(H);
  T var = 0;
#pragma omp simd reduction(+ : var)
  for (int64_t j = 0; j < H; ++j) var += (v[j] - mean) * (v[j] - mean);
  const T rstd = T(1) / std::sqrt(var / T(H) + T(kLayerNormEps));
  for (int64_t j = 0; j < H; ++j) v[j] = (v[j] - mean) * rstd;
  return rstd;
}

// The gradient through y = normalize(v): dv = rstd * (dy - mean(dy) - y * mean(dy * y)), in place on dy.
template <typename T>
inline void normalize_backward(T* __restrict dy, const T* __restrict y, T rstd, int64_t H) {
  T m1 = 0, m2 = 0;
#pragma omp simd reduction(+ : m1, m2)
  for (int64_t j = 0; j < H; ++j) {
    m1 += dy[j];
    m2 += dy[j] * y[j];
  }
  m1 /= T(H);
  m2 /= T(H);
  for (int64_t j = 0; j < H; ++j) dy[j] = rstd * (dy[j] - m1 - y[j] * m2);
}

template <typename T>
struct LayerNormWeights {
  const T *ih_w, *hh_w, *shift, *c_w, *c_b;  // (4H,) x 3, (H,), (H,)
};

// Per-row sums of the vector parameters' gradients over the steps; rows are split among
// threads within a step, so a row's sums are only ever touched by one thread at a time.
// Layout per row: ih_w, hh_w, shift (4H each), c_w, c_b (H each), peepholes (3H).
constexpr int64_t kLayerNormSums = 17;  // in units of H

template <bool PEEP, bool KEEP_H, bool KEEP_C, typename T>
ROW_KERNEL void lstm_ln_row_forward(int64_t H, const T* __restrict xp4, T* __restrict xi, T* __restrict xh,
                                    T* __restrict a4, T* __restrict chat, T* __restrict rstd9, LayerNormWeights<T> ln,
                                    const T* __restrict h_prev, const T* __restrict c_prev, const T* __restrict p,
                                    const uint8_t* __restrict keep_h, const uint8_t* __restrict keep_c, T z_h, T z_c,
                                    T v, T* __restrict h_next, T* __restrict c_next, T* __restrict out) {
  // xi: LN(xp), written here; xh: LN(W_hh h), normalized in place (the step's product wrote it)
  for (int64_t j = 0; j < 4 * H; ++j) xi[j] = xp4[j];
  for (int k = 0; k < 4; ++k) {
    rstd9[k] = normalize(xi + k * H, H);
    rstd9[4 + k] = normalize(xh + k * H, H);
  }
  for (int64_t j = 0; j < H; ++j) {
    const T cp = c_prev[j];
    T pre[4];
    for (int k = 0; k < 4; ++k) {
      const int64_t u = k * H + j;
      pre[k] = xi[u] * ln.ih_w[u] + xh[u] * ln.hh_w[u] + ln.shift[u];
    }
    if constexpr (PEEP) {
      pre[0] += p[j] * cp;
      pre[1] += p[H + j] * cp;
    }
    const T i = sigmoid(pre[0]), f = sigmoid(pre[1]), g = tanh_(pre[2]);
    const T c = f * cp + i * g;
    if constexpr (PEEP) pre[3] += p[2 * H + j] * c;
    a4[j] = i;
    a4[H + j] = f;
    a4[2 * H + j] = g;
    a4[3 * H + j] = sigmoid(pre[3]);
    chat[j] = c;
    c_next[j] = c;  // the new cell, unnormalized, until zoneout/lengths below
  }
  rstd9[8] = normalize(chat, H);
  for (int64_t j = 0; j < H; ++j) {
    const T h = a4[3 * H + j] * tanh_(chat[j] * ln.c_w[j] + ln.c_b[j]);
    const T kh = kept<KEEP_H>(keep_h, j, v, z_h), kc = kept<KEEP_C>(keep_c, j, v, z_c);
    const T h_state = kh * h_prev[j] + (T(1) - kh) * h;
    h_next[j] = h_state;
    c_next[j] = kc * c_prev[j] + (T(1) - kc) * c_next[j];
    out[j] = v * h_state;
  }
}

// One row of one step backward. Writes d xp (through LN(xp)) and d (W_hh h) (through LN),
// and adds this step's share of every vector parameter's gradient to the row's sums.
template <bool PEEP, bool KEEP_H, bool KEEP_C, typename T>
ROW_KERNEL void lstm_ln_row_backward(int64_t H, const T* __restrict a4, const T* __restrict xi,
                                     const T* __restrict xh, const T* __restrict chat, const T* __restrict rstd9, LayerNormWeights<T> ln,
                                     const T* __restrict c_prev, const T* __restrict p,
                                     const uint8_t* __restrict keep_h, const uint8_t* __restrict keep_c, T z_h,
                                     T z_c, T v, const T* __restrict d_out, T* __restrict dh, T* __restrict dc,
                                     T* __restrict dxp4, T* __restrict dhh4, T* __restrict sums) {
  T* __restrict s_ih = sums;
  T* __restrict s_hh = sums + 4 * H;
  T* __restrict s_shift = sums + 8 * H;
  T* __restrict s_cw = sums + 12 * H;
  T* __restrict s_cb = sums + 13 * H;
  T* __restrict s_peep = sums + 14 * H;
  T* __restrict dpre4 = dxp4;  // the pre-activations' gradient, turned into d xp at the end
  // h = o * tanh(chat * w_c + b_c): the output gate, and the gradient of LN(c)'s output.
  for (int64_t j = 0; j < H; ++j) {
    const T o = a4[3 * H + j];
    const T tc = tanh_(chat[j] * ln.c_w[j] + ln.c_b[j]);
    const T kh = kept<KEEP_H>(keep_h, j, v, z_h);
    const T d_state = dh[j] + v * d_out[j];
    const T dh_new = (T(1) - kh) * d_state;
    const T dcout = dh_new * o * (T(1) - tc * tc);
    dpre4[3 * H + j] = dh_new * tc * o * (T(1) - o);
    s_cw[j] += dcout * chat[j];
    s_cb[j] += dcout;
    dhh4[j] = dcout * ln.c_w[j];  // scratch: d chat, normalized back below
    dh[j] = kh * d_state;  // the share of d h_{t-1} that bypassed the cell
  }
  normalize_backward(dhh4, chat, rstd9[8], H);  // dhh4[0:H] = d c through LN(c)
  for (int64_t j = 0; j < H; ++j) {
    const T i = a4[j], f = a4[H + j], g = a4[2 * H + j];
    const T cp = c_prev[j];
    const T kc = kept<KEEP_C>(keep_c, j, v, z_c);
    const T dgo = dpre4[3 * H + j];
    T dcn = (T(1) - kc) * dc[j] + dhh4[j];
    if constexpr (PEEP) dcn += dgo * p[2 * H + j];
    const T dgi = dcn * g * i * (T(1) - i);
    const T dgf = dcn * cp * f * (T(1) - f);
    dpre4[j] = dgi;
    dpre4[H + j] = dgf;
    dpre4[2 * H + j] = dcn * i * (T(1) - g * g);
    T dcp = kc * dc[j] + dcn * f;
    if constexpr (PEEP) {
      dcp += dgi * p[j] + dgf * p[H + j];
      s_peep[j] += dgi * cp;
      s_peep[H + j] += dgf * cp;
      s_peep[2 * H + j] += dgo * (f * cp + i * g);  // the o gate sees the new cell
    }
    dc[j] = dcp;
  }
  // gates = xi * ih_w + xh * hh_w + shift: the sums, then back through each block's normalization.
  for (int64_t j = 0; j < 4 * H; ++j) {
    const T d = dpre4[j];
    s_ih[j] += d * xi[j];
    s_hh[j] += d * xh[j];
    s_shift[j] += d;
    dhh4[j] = d * ln.hh_w[j];
    dpre4[j] = d * ln.ih_w[j];
  }
  for (int k = 0; k < 4; ++k) {
    normalize_backward(dhh4 + k * H, xh + k * H, rstd9[4 + k], H);
    normalize_backward(dpre4 + k * H, xi + k * H, rstd9[k], H);
  }
}

std::vector<Tensor> lstm_ln_forward(const Tensor& xp, const Tensor& h0, const Tensor& c0, const Tensor& w_hh,
                                    const Tensor& ln_ih_w, const Tensor& ln_hh_w, const Tensor& shift,
                                    const Tensor& ln_c_w, const Tensor& ln_c_b, const Tensor& peep, const Tensor& rmask,
                                    const Tensor& keep_h, const Tensor& keep_c, const Tensor& valid, bool save) {
  const NoAutocast no_autocast;
  check_cpu({{&xp, "xp"}, {&h0, "h0"}, {&c0, "c0"}, {&w_hh, "w_hh"}, {&ln_ih_w, "ln_ih_w"}, {&ln_hh_w, "ln_hh_w"},
             {&shift, "shift"}, {&ln_c_w, "ln_c_w"}, {&ln_c_b, "ln_c_b"}, {&peep, "peep"}, {&rmask, "rmask"},
             {&keep_h, "keep_h"}, {&keep_c, "keep_c"}, {&valid, "valid"}});
  const int64_t T_ = xp.size(0), B = xp.size(1), H = w_hh.size(1), S = save ? T_ : 1;
  check_weight(xp, w_hh, "lstm_ln_forward");
  TORCH_CHECK(xp.size(2) == 4 * H && ln_ih_w.numel() == 4 * H && ln_hh_w.numel() == 4 * H &&
                  shift.numel() == 4 * H && ln_c_w.numel() == H && ln_c_b.numel() == H,
              "rnnkit lstm_ln_forward: shapes disagree");
  Tensor act = at::empty({S, B, 4 * H}, xp.options()), xin = at::empty({S, B, 4 * H}, xp.options());
  Tensor xhat = at::empty({S, B, 4 * H}, xp.options());
  Tensor chat = at::empty({S, B, H}, xp.options()), rstd = at::empty({S, B, 9}, xp.options());
  Tensor hs = at::empty({T_ + 1, B, H}, xp.options()), cs = at::empty({T_ + 1, B, H}, xp.options());
  Tensor out = at::empty({T_, B, H}, xp.options());
  hs.select(0, 0).copy_(h0);
  cs.select(0, 0).copy_(c0);
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "rnnkit_lstm_ln_forward", [&] {
    using T = scalar_t;
    const Masks<T> m(keep_h, keep_c, valid, B, H);
    const LayerNormWeights<T> ln{ln_ih_w.data_ptr<T>(), ln_hh_w.data_ptr<T>(), shift.data_ptr<T>(),
                                 ln_c_w.data_ptr<T>(), ln_c_b.data_ptr<T>()};
    const T *X = xp.data_ptr<T>(), *p = ptr_or_null<T>(peep);
    T *H_ = hs.data_ptr<T>(), *C = cs.data_ptr<T>(), *O = out.data_ptr<T>();
    T *XI = xin.data_ptr<T>(), *XH = xhat.data_ptr<T>(), *A = act.data_ptr<T>(), *CH = chat.data_ptr<T>();
    T* R = rstd.data_ptr<T>();
    const SplitChoice split = step_split("lstm_ln", B, H, 4 * H, T_, w_hh.scalar_type() == xp.scalar_type());
    with_flags(p != nullptr, m.keep_h != nullptr, m.keep_c != nullptr, [&](auto PEEP, auto KH, auto KC) {
      // W_hh h into xhat (normalized by the row in place)
      forward_loop(T_, w_hh, hs, rmask, split, [&](int64_t t) { return xhat.select(0, save ? t : 0); },
                   [&](int64_t t, int64_t b) {
        const int64_t s = save ? t : 0, u = (t * B + b) * H, u1 = u + B * H, r = s * B + b;
        lstm_ln_row_forward<decltype(PEEP)::value, decltype(KH)::value, decltype(KC)::value, T>(
            H, X + 4 * u, XI + 4 * r * H, XH + 4 * r * H, A + 4 * r * H, CH + r * H, R + 9 * r, ln, H_ + u, C + u, p,
            m.kh(t, b), m.kc(t, b), m.z_h, m.z_c, m.v(t, b), H_ + u1, C + u1, O + u);
      });
    });
  });
  return {out, hs, cs, act, xin, xhat, chat, rstd};
}

// Returns d xp (T, B, 4H), dh0, dc0, dw_hh, and the gradients of ln_ih_w, ln_hh_w, shift
// (4H each), ln_c_w, ln_c_b (H each) and the peepholes (3H; empty without them).
std::vector<Tensor> lstm_ln_backward(const Tensor& dout, const Tensor& dhT, const Tensor& dcT, const Tensor& w_hh,
                                     const Tensor& ln_ih_w, const Tensor& ln_hh_w, const Tensor& shift,
                                     const Tensor& ln_c_w, const Tensor& ln_c_b, const Tensor& peep,
                                     const Tensor& rmask, const Tensor& keep_h, const Tensor& keep_c,
                                     const Tensor& valid, const Tensor& act, const Tensor& xin, const Tensor& xhat,
                                     const Tensor& chat, const Tensor& rstd, const Tensor& hs, const Tensor& cs) {
  const NoAutocast no_autocast;
  check_cpu({{&dout, "dout"}, {&dhT, "dhT"}, {&dcT, "dcT"}, {&act, "act"}, {&xin, "xin"}, {&xhat, "xhat"},
             {&chat, "chat"}});
  const int64_t T_ = act.size(0), B = act.size(1), H = act.size(2) / 4;
  Tensor dh = dhT.clone(), dc = dcT.clone();
  Tensor dxp = at::empty_like(act), dhh = at::empty_like(act);
  Tensor sums = at::zeros({B, kLayerNormSums * H}, act.options());
  const bool has_peep = peep.defined() && peep.numel() > 0;
  AT_DISPATCH_FLOATING_TYPES(act.scalar_type(), "rnnkit_lstm_ln_backward", [&] {
    using T = scalar_t;
    const Masks<T> m(keep_h, keep_c, valid, B, H);
    const LayerNormWeights<T> ln{ln_ih_w.data_ptr<T>(), ln_hh_w.data_ptr<T>(), shift.data_ptr<T>(),
                                 ln_c_w.data_ptr<T>(), ln_c_b.data_ptr<T>()};
    const T *A = act.data_ptr<T>(), *XI = xin.data_ptr<T>(), *XH = xhat.data_ptr<T>(), *CH = chat.data_ptr<T>(), *R = rstd.data_ptr<T>();
    const T *C = cs.data_ptr<T>(), *DO = dout.data_ptr<T>(), *p = ptr_or_null<T>(peep);
    T *DX = dxp.data_ptr<T>(), *DHH = dhh.data_ptr<T>(), *SUM = sums.data_ptr<T>();
    T *dH = dh.data_ptr<T>(), *dC = dc.data_ptr<T>();
    const SplitChoice split = step_split("lstm_ln", B, H, 4 * H, T_, w_hh.scalar_type() == act.scalar_type());
    with_flags(p != nullptr, m.keep_h != nullptr, m.keep_c != nullptr, [&](auto PEEP, auto KH, auto KC) {
      backward_loop(T_, w_hh, dh, rmask, split, [&](int64_t t) { return dhh.select(0, t); },
                    [&](int64_t t, int64_t b) {
        const int64_t u = (t * B + b) * H, r = b * H;
        lstm_ln_row_backward<decltype(PEEP)::value, decltype(KH)::value, decltype(KC)::value, T>(
            H, A + 4 * u, XI + 4 * u, XH + 4 * u, CH + u, R + 9 * (t * B + b), ln, C + u, p, m.kh(t, b), m.kc(t, b), m.z_h,
            m.z_c, m.v(t, b), DO + u, dH + r, dC + r, DX + 4 * u, DHH + 4 * u, SUM + kLayerNormSums * r);
      });
    });
  });
  const Tensor h_in = masked_input(hs.narrow(0, 0, T_), rmask).reshape({T_ * B, H});
  Tensor dw_hh = weight_grad(dhh.reshape({T_ * B, 4 * H}), h_in, w_hh);
  const Tensor total = sums.sum(0);  // (17H,)
  auto part = [&](int64_t at, int64_t size) { return total.narrow(0, at * H, size * H).clone(); };  // no aliases
  return {dxp, dh, dc, dw_hh, part(0, 4), part(4, 4), part(8, 4), part(12, 1), part(13, 1),
          has_peep ? part(14, 3) : at::empty({0}, act.options())};
}

// =======================================================================================
// GRU, reset-after form (torch, cuDNN): gates (r, z, n).
//   xg: (T, B, 3H) = W_ih x_t + b_ih; b_hh (3H) or empty. Saved: hg (T, B, 3H) holding
//   (r, z, W_hn h + b_hn), n (T, B, H), hs (T+1, B, H).

template <bool KEEP, typename T>
ROW_KERNEL void gru_row_forward(int64_t H, const T* __restrict x3, T* __restrict hg3, const T* __restrict bias,
                                const T* __restrict h_prev,
                     const uint8_t* __restrict keep, T rate, T v, T* __restrict n_out, T* __restrict h_next, T* __restrict out) {
  for (int64_t j = 0; j < H; ++j) {
    const T r = sigmoid(x3[j] + hg3[j] + bias[j]);
    const T z = sigmoid(x3[H + j] + hg3[H + j] + bias[H + j]);
    const T hn = hg3[2 * H + j] + bias[2 * H + j];  // W_hn h + b_hn, which r gates
    const T n = tanh_(x3[2 * H + j] + r * hn);
    const T h = (T(1) - z) * n + z * h_prev[j];
    hg3[j] = r;
    hg3[H + j] = z;
    hg3[2 * H + j] = hn;
    n_out[j] = n;
    const T kh = kept<KEEP>(keep, j, v, rate);
    const T h_state = kh * h_prev[j] + (T(1) - kh) * h;
    h_next[j] = h_state;
    out[j] = v * h_state;
  }
}

template <bool KEEP, typename T>
ROW_KERNEL void gru_row_backward(int64_t H, const T* __restrict hg3, const T* __restrict n_, const T* __restrict h_prev,
                      const uint8_t* __restrict keep, T rate, T v, const T* __restrict d_out, T* __restrict dh,
                      T* __restrict dx3, T* __restrict dhg3) {
  for (int64_t j = 0; j < H; ++j) {
    const T r = hg3[j], z = hg3[H + j], hn = hg3[2 * H + j], n = n_[j];
    const T kh = kept<KEEP>(keep, j, v, rate);
    const T d_state = dh[j] + v * d_out[j];
    const T d_new = (T(1) - kh) * d_state;
    const T dxn = d_new * (T(1) - z) * (T(1) - n * n);
    const T dxr = dxn * hn * r * (T(1) - r);
    const T dxz = d_new * (h_prev[j] - n) * z * (T(1) - z);
    dx3[j] = dxr;
    dx3[H + j] = dxz;
    dx3[2 * H + j] = dxn;
    dhg3[j] = dxr;
    dhg3[H + j] = dxz;
    dhg3[2 * H + j] = dxn * r;
    dh[j] = kh * d_state + d_new * z;
  }
}

std::vector<Tensor> gru_forward(const Tensor& xg, const Tensor& h0, const Tensor& w_hh, const Tensor& b_hh,
                                const Tensor& rmask, const Tensor& keep_h, const Tensor& valid, bool save) {
  const NoAutocast no_autocast;
  check_cpu({{&xg, "xg"}, {&h0, "h0"}, {&w_hh, "w_hh"}, {&b_hh, "b_hh"}, {&rmask, "rmask"}, {&keep_h, "keep_h"},
             {&valid, "valid"}});
  const int64_t T_ = xg.size(0), B = xg.size(1), H = w_hh.size(1);
  check_weight(xg, w_hh, "gru_forward");
  TORCH_CHECK(xg.size(2) == 3 * H && h0.size(1) == H, "rnnkit gru_forward: shapes disagree");
  Tensor hg = at::empty({save ? T_ : 1, B, 3 * H}, xg.options());
  Tensor n_all = at::empty({save ? T_ : 1, B, H}, xg.options());
  Tensor hs = at::empty({T_ + 1, B, H}, xg.options());
  Tensor out = at::empty({T_, B, H}, xg.options());
  hs.select(0, 0).copy_(h0);
    const Tensor bias = b_hh.defined() && b_hh.numel() > 0 ? b_hh : at::zeros({3 * H}, xg.options());
  AT_DISPATCH_FLOATING_TYPES(xg.scalar_type(), "rnnkit_gru_forward", [&] {
    using T = scalar_t;
    const Masks<T> m(keep_h, Tensor(), valid, B, H);
    const T *X = xg.data_ptr<T>(), *bias_ = bias.data_ptr<T>();
    T *H_ = hs.data_ptr<T>(), *O = out.data_ptr<T>();
    T *HG = hg.data_ptr<T>(), *N = n_all.data_ptr<T>();
    const SplitChoice split = step_split("gru", B, H, 3 * H, T_, w_hh.scalar_type() == xg.scalar_type());
    with_flags(m.keep_h != nullptr, false, false, [&](auto KH, auto, auto) {
      // W_hh h into hg; the row adds b_hh
      forward_loop(T_, w_hh, hs, rmask, split, [&](int64_t t) { return hg.select(0, save ? t : 0); },
                   [&](int64_t t, int64_t b) {
        const int64_t u = (t * B + b) * H, r = (save ? t : 0) * B + b;
        gru_row_forward<decltype(KH)::value, T>(H, X + 3 * u, HG + 3 * r * H, bias_, H_ + u, m.kh(t, b), m.z_h, m.v(t, b),
                                                N + r * H, H_ + u + B * H, O + u);
      });
    });
  });
  return {out, hs, hg, n_all};
}

// Returns dxg (T, B, 3H), dhg (T, B, 3H) (the gradient of W_hh h + b_hh), dh0, dw_hh.
std::vector<Tensor> gru_backward(const Tensor& dout, const Tensor& dhT, const Tensor& w_hh, const Tensor& rmask,
                                 const Tensor& keep_h, const Tensor& valid, const Tensor& hg, const Tensor& n_all,
                                 const Tensor& hs) {
  const NoAutocast no_autocast;
  check_cpu({{&dout, "dout"}, {&dhT, "dhT"}, {&hg, "hg"}});
  const int64_t T_ = hg.size(0), B = hg.size(1), H = hg.size(2) / 3;
  Tensor dh = dhT.clone();
  Tensor dxg = at::empty_like(hg), dhg = at::empty_like(hg);
  AT_DISPATCH_FLOATING_TYPES(hg.scalar_type(), "rnnkit_gru_backward", [&] {
    using T = scalar_t;
    const Masks<T> m(keep_h, Tensor(), valid, B, H);
    const T *HG = hg.data_ptr<T>(), *N = n_all.data_ptr<T>(), *H_ = hs.data_ptr<T>(), *DO = dout.data_ptr<T>();
    T *DX = dxg.data_ptr<T>(), *DHG = dhg.data_ptr<T>(), *dH = dh.data_ptr<T>();
    const SplitChoice split = step_split("gru", B, H, 3 * H, T_, w_hh.scalar_type() == hg.scalar_type());
    with_flags(m.keep_h != nullptr, false, false, [&](auto KH, auto, auto) {
      backward_loop(T_, w_hh, dh, rmask, split, [&](int64_t t) { return dhg.select(0, t); },
                    [&](int64_t t, int64_t b) {
        const int64_t u = (t * B + b) * H, r = b * H;
        gru_row_backward<decltype(KH)::value, T>(H, HG + 3 * u, N + u, H_ + u, m.kh(t, b), m.z_h, m.v(t, b), DO + u,
                                                 dH + r, DX + 3 * u, DHG + 3 * u);
      });
    });
  });
  const Tensor h_in = masked_input(hs.narrow(0, 0, T_), rmask).reshape({T_ * B, H});
  Tensor dw_hh = weight_grad(dhg.reshape({T_ * B, 3 * H}), h_in, w_hh);
  return {dxg, dhg, dh, dw_hh};
}

// =======================================================================================
// Elman RNN: h_t = act(xg_t + W_hh h_{t-1}), act tanh or relu; xg includes both biases.
//   Saved: hn (T, B, H) the new hidden value before zoneout/lengths, hs (T+1, B, H).

template <bool RELU, bool KEEP, typename T>
ROW_KERNEL void rnn_row_forward(int64_t H, const T* __restrict x, T* __restrict a, const T* __restrict h_prev, const uint8_t* __restrict keep, T rate, T v,
                     T* __restrict h_next, T* __restrict out) {
  for (int64_t j = 0; j < H; ++j) {
    const T pre = x[j] + a[j];
    const T h = RELU ? std::max(pre, T(0)) : tanh_(pre);
    a[j] = h;
    const T kh = kept<KEEP>(keep, j, v, rate);
    const T h_state = kh * h_prev[j] + (T(1) - kh) * h;
    h_next[j] = h_state;
    out[j] = v * h_state;
  }
}

template <bool RELU, bool KEEP, typename T>
ROW_KERNEL void rnn_row_backward(int64_t H, const T* __restrict hn, const uint8_t* __restrict keep, T rate, T v, const T* __restrict d_out,
                      T* __restrict dh, T* __restrict da) {
  for (int64_t j = 0; j < H; ++j) {
    const T h = hn[j];
    const T kh = kept<KEEP>(keep, j, v, rate);
    const T d_state = dh[j] + v * d_out[j];
    const T d_new = (T(1) - kh) * d_state;
    da[j] = RELU ? (h > T(0) ? d_new : T(0)) : d_new * (T(1) - h * h);
    dh[j] = kh * d_state;
  }
}

std::vector<Tensor> rnn_forward(const Tensor& xg, const Tensor& h0, const Tensor& w_hh, bool relu,
                                const Tensor& rmask, const Tensor& keep_h, const Tensor& valid, bool save) {
  const NoAutocast no_autocast;
  check_cpu({{&xg, "xg"}, {&h0, "h0"}, {&w_hh, "w_hh"}, {&rmask, "rmask"}, {&keep_h, "keep_h"}, {&valid, "valid"}});
  const int64_t T_ = xg.size(0), B = xg.size(1), H = w_hh.size(1);
  check_weight(xg, w_hh, "rnn_forward");
  TORCH_CHECK(xg.size(2) == H && h0.size(1) == H, "rnnkit rnn_forward: shapes disagree");
  Tensor hn_all = at::empty({save ? T_ : 1, B, H}, xg.options());
  Tensor hs = at::empty({T_ + 1, B, H}, xg.options());
  Tensor out = at::empty({T_, B, H}, xg.options());
  hs.select(0, 0).copy_(h0);
    AT_DISPATCH_FLOATING_TYPES(xg.scalar_type(), "rnnkit_rnn_forward", [&] {
    using T = scalar_t;
    const Masks<T> m(keep_h, Tensor(), valid, B, H);
    const T* X = xg.data_ptr<T>();
    T *H_ = hs.data_ptr<T>(), *O = out.data_ptr<T>();
    T* A = hn_all.data_ptr<T>();
    const SplitChoice split = step_split("rnn", B, H, H, T_, w_hh.scalar_type() == xg.scalar_type());
    with_flags(relu, m.keep_h != nullptr, false, [&](auto RELU, auto KH, auto) {
      // W_hh h into hn_all; the row adds xg
      forward_loop(T_, w_hh, hs, rmask, split, [&](int64_t t) { return hn_all.select(0, save ? t : 0); },
                   [&](int64_t t, int64_t b) {
        const int64_t u = (t * B + b) * H, r = (save ? t : 0) * B + b;
        rnn_row_forward<decltype(RELU)::value, decltype(KH)::value, T>(H, X + u, A + r * H, H_ + u, m.kh(t, b), m.z_h,
                                                                       m.v(t, b), H_ + u + B * H, O + u);
      });
    });
  });
  return {out, hs, hn_all};
}

std::vector<Tensor> rnn_backward(const Tensor& dout, const Tensor& dhT, const Tensor& w_hh, bool relu,
                                 const Tensor& rmask, const Tensor& keep_h, const Tensor& valid, const Tensor& hn_all,
                                 const Tensor& hs) {
  const NoAutocast no_autocast;
  check_cpu({{&dout, "dout"}, {&dhT, "dhT"}, {&hn_all, "hn_all"}});
  const int64_t T_ = hn_all.size(0), B = hn_all.size(1), H = hn_all.size(2);
  Tensor dh = dhT.clone();
  Tensor da = at::empty_like(hn_all);
  AT_DISPATCH_FLOATING_TYPES(hn_all.scalar_type(), "rnnkit_rnn_backward", [&] {
    using T = scalar_t;
    const Masks<T> m(keep_h, Tensor(), valid, B, H);
    const T *HN = hn_all.data_ptr<T>(), *DO = dout.data_ptr<T>();
    T *DA = da.data_ptr<T>(), *dH = dh.data_ptr<T>();
    const SplitChoice split = step_split("rnn", B, H, H, T_, w_hh.scalar_type() == hn_all.scalar_type());
    with_flags(relu, m.keep_h != nullptr, false, [&](auto RELU, auto KH, auto) {
      backward_loop(T_, w_hh, dh, rmask, split, [&](int64_t t) { return da.select(0, t); },
                    [&](int64_t t, int64_t b) {
        const int64_t u = (t * B + b) * H, r = b * H;
        rnn_row_backward<decltype(RELU)::value, decltype(KH)::value, T>(H, HN + u, m.kh(t, b), m.z_h, m.v(t, b), DO + u,
                                                                        dH + r, DA + u);
      });
    });
  });
  const Tensor h_in = masked_input(hs.narrow(0, 0, T_), rmask).reshape({T_ * B, H});
  Tensor dw_hh = weight_grad(da.reshape({T_ * B, H}), h_in, w_hh);
  return {da, dh, dw_hh};
}

// =======================================================================================
// Zoneout masks, drawn counter-based: unit i keeps its previous value when the upper 32 bits
// of splitmix64(seed + (i + 1) * golden) fall below rate * 2^32. Fast, and the same for any
// thread count; the seed comes from torch's generator, so torch.manual_seed fixes the draw.

Tensor keep_mask(int64_t seed, at::IntArrayRef shape, double rate) {
  TORCH_CHECK(rate >= 0 && rate <= 1, "rnnkit keep_mask: expected a probability in [0, 1], got ", rate);
  Tensor out = at::empty(shape, at::TensorOptions().dtype(at::kBool));
  uint8_t* o = reinterpret_cast<uint8_t*>(out.data_ptr<bool>());
  const uint64_t threshold = static_cast<uint64_t>(rate * 4294967296.0), base = static_cast<uint64_t>(seed);
  at::parallel_for(0, out.numel(), 1 << 16, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      uint64_t z = base + static_cast<uint64_t>(i + 1) * 0x9E3779B97F4A7C15ull;
      z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
      z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
      z ^= z >> 31;
      o[i] = (z >> 32) < threshold || rate == 1.0;
    }
  });
  return out;
}

}  // namespace

TORCH_LIBRARY(rnnkit, m) {
  m.def("keep_mask(int seed, int[] shape, float rate) -> Tensor", &keep_mask);
  m.def("set_gemm_route(str route) -> ()", &set_gemm_route);
  m.def("gemm_routes() -> str", &gemm_routes);
  m.def("set_step_split(str mode, int parts) -> ()", &set_step_split);
  m.def("step_splits() -> str", &step_splits);
  m.def("lstm_forward(Tensor xg, Tensor h0, Tensor c0, Tensor w_hh, Tensor peep, Tensor rmask, Tensor keep_h, "
        "Tensor keep_c, Tensor valid, bool save) -> Tensor[]", &lstm_forward);
  m.def("lstm_backward(Tensor dout, Tensor dhT, Tensor dcT, Tensor w_hh, Tensor peep, Tensor rmask, "
        "Tensor keep_h, Tensor keep_c, Tensor valid, Tensor act, Tensor hs, Tensor cs) -> Tensor[]", &lstm_backward);
  m.def("lstm_ln_forward(Tensor xp, Tensor h0, Tensor c0, Tensor w_hh, Tensor ln_ih_w, Tensor ln_hh_w, "
        "Tensor shift, Tensor ln_c_w, Tensor ln_c_b, Tensor peep, Tensor rmask, Tensor keep_h, Tensor keep_c, "
        "Tensor valid, bool save) -> Tensor[]", &lstm_ln_forward);
  m.def("lstm_ln_backward(Tensor dout, Tensor dhT, Tensor dcT, Tensor w_hh, Tensor ln_ih_w, Tensor ln_hh_w, "
        "Tensor shift, Tensor ln_c_w, Tensor ln_c_b, Tensor peep, Tensor rmask, Tensor keep_h, Tensor keep_c, "
        "Tensor valid, "
        "Tensor act, Tensor xin, Tensor xhat, Tensor chat, Tensor rstd, Tensor hs, Tensor cs) -> Tensor[]",
        &lstm_ln_backward);
  m.def("gru_forward(Tensor xg, Tensor h0, Tensor w_hh, Tensor b_hh, Tensor rmask, Tensor keep_h, Tensor valid, "
        "bool save) -> Tensor[]", &gru_forward);
  m.def("gru_backward(Tensor dout, Tensor dhT, Tensor w_hh, Tensor rmask, Tensor keep_h, Tensor valid, "
        "Tensor hg, Tensor n_all, Tensor hs) -> Tensor[]", &gru_backward);
  m.def("rnn_forward(Tensor xg, Tensor h0, Tensor w_hh, bool relu, Tensor rmask, Tensor keep_h, Tensor valid, "
        "bool save) -> Tensor[]", &rnn_forward);
  m.def("rnn_backward(Tensor dout, Tensor dhT, Tensor w_hh, bool relu, Tensor rmask, Tensor keep_h, "
        "Tensor valid, Tensor hn_all, Tensor hs) -> Tensor[]", &rnn_backward);
}
