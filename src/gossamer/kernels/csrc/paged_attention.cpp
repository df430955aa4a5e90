// Attention with sinks for a whole engine step over the paged KV cache: one call per layer.
//
// Every query token of every sequence (decode: one; a prefill chunk or a speculative
// verification: several) attends over its own sequence's cached keys, found through the
// sequence's block table, with gpt-oss's sink logit in the softmax denominator and, on sliding
// layers, only the last `window` positions. Work items are (sequence, KV head, tile of queries),
// handed out dynamically: a decode batch gives many short items, a long prefill many tiles.
//
// The only intermediate is one query's score row ([group, M] floats, in a per-thread buffer): a
// prefill chunk never materialises its [N, M] score matrix. And each query goes through the same
// per-query kernel over the same keys in the same order whatever else the step holds, so a
// token's attention output does not depend on the batch it lands in (greedy output is the same
// alone and batched, and a verified draft token gets the logits plain decoding would give it).
#include <omp.h>
#include <stdint.h>

#include <algorithm>
#include <atomic>
#include <vector>

#include "kernels.h"

namespace {

// Queries per work item: enough to share the item's block-table walk, few enough that a
// 512-token prefill chunk still gives the two threads 32 items per KV head to balance.
constexpr int64_t kQueryTile = 16;

struct Item {
    int64_t seq, q0, q1, kv_head;
};

inline float load_value(const void* p, int dtype, int64_t i) {
    return dtype == 1 ? ((const float*)p)[i] : bf16_to_float(((const uint16_t*)p)[i]);
}

inline void store_value(void* p, int dtype, int64_t i, float x) {
    if (dtype == 1)
        ((float*)p)[i] = x;
    else
        ((uint16_t*)p)[i] = float_to_bf16(x);
}

}  // namespace

extern "C" {

// q [N, H, D] (q_dtype 1 f32 / 2 bf16), cache k/v [num_slots, KV, D] (kv_dtype 1/2), both already
// holding this step's keys and values. Sequence s owns query rows [query_start[s], query_start[s+1])
// at the last positions before seq_lens[s] (so query i sits at seq_lens[s] - n_s + i), and its
// position p lives in cache slot block_tables[s, p / block_size] * block_size + p % block_size.
// window > 0: a query at p sees keys p - window + 1 .. p; else 0 .. p. out [N, H, D] (out_dtype 1/2).
// Returns 0, -1 for impossible shapes, -2 for a visible position whose block is missing.
int gk_paged_attention(const void* q, int q_dtype, const void* k_cache, const void* v_cache, int kv_dtype,
                       int64_t num_slots, int64_t H, int64_t KV, int64_t D, const int32_t* block_tables,
                       int64_t max_blocks, int64_t block_size, const int32_t* query_start, const int32_t* seq_lens,
                       int64_t S, int64_t window, const float* sinks, float scale, void* out, int out_dtype,
                       int num_threads) {
    if (S <= 0 || KV <= 0 || H % KV != 0 || D <= 0 || block_size <= 0 || max_blocks <= 0) return -1;
    if ((q_dtype != 1 && q_dtype != 2) || (kv_dtype != 1 && kv_dtype != 2) || (out_dtype != 1 && out_dtype != 2))
        return -1;
    std::vector<Item> items;
    int64_t work = 0;  // multiply-adds, about: every query against its sequence's length, q.k and p.v
    for (int64_t s = 0; s < S; ++s) {
        const int64_t n = query_start[s + 1] - query_start[s];
        if (n < 0 || seq_lens[s] < n || seq_lens[s] > max_blocks * block_size) return -1;
        work += 2 * n * seq_lens[s] * H * D;
        for (int64_t q0 = 0; q0 < n; q0 += kQueryTile)
            for (int64_t g = 0; g < KV; ++g) items.push_back({s, q0, std::min(n, q0 + kQueryTile), g});
    }
    const AttentionHeadsFn heads = gk_attention_heads_for(q_dtype == 2, kv_dtype, H, KV, D);
    const int64_t group = H / KV;
    std::atomic<int> status{0};
#pragma omp parallel for schedule(dynamic, 1) num_threads(num_threads) \
    if (num_threads > 1 && items.size() > 1 && work >= kMinParallelWork)
    for (size_t it = 0; it < items.size(); ++it) {
        const Item item = items[it];
        const int64_t n = query_start[item.seq + 1] - query_start[item.seq];
        const int64_t first = seq_lens[item.seq] - n;  // position of the sequence's first query
        // Cache rows of every key the item's queries can see, in position order.
        const int64_t lo = window > 0 ? std::max<int64_t>(0, first + item.q0 - window + 1) : 0;
        const int64_t hi = first + item.q1;
        thread_local std::vector<int32_t> rows;
        thread_local std::vector<float> qf, of;
        rows.resize((size_t)(hi - lo));
        qf.resize((size_t)(group * D));
        of.resize((size_t)(group * D));
        const int32_t* table = block_tables + item.seq * max_blocks;
        bool ok = true;
        for (int64_t p = lo; p < hi; ++p) {
            const int64_t block = table[p / block_size];
            const int64_t slot = block * block_size + p % block_size;
            ok &= block >= 0 && slot < num_slots;
            rows[p - lo] = ok ? (int32_t)slot : 0;
        }
        if (!ok) {
            status = -2;
            continue;
        }
        for (int64_t i = item.q0; i < item.q1; ++i) {
            const int64_t p = first + i;
            const int64_t key_lo = window > 0 ? std::max<int64_t>(0, p - window + 1) : 0;
            const int64_t row = (query_start[item.seq] + i) * H + item.kv_head * group;  // first head's row
            for (int64_t e = 0; e < group * D; ++e) qf[e] = load_value(q, q_dtype, row * D + e);
            heads(qf.data(), k_cache, v_cache, kv_dtype, rows.data() + (key_lo - lo), p + 1 - key_lo, KV, D,
                  item.kv_head, group, sinks + item.kv_head * group, scale, of.data());
            for (int64_t e = 0; e < group * D; ++e) store_value(out, out_dtype, row * D + e, of[e]);
        }
    }
    return status;
}

}  // extern "C"
