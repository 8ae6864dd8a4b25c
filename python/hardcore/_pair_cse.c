/*
 * hardcore._pair_cse: the pair-pattern common-subexpression elimination of
 * hardcore.cmvm in C (the same algorithm, step for step, as cmvm.core._PairCse,
 * which stays the reference; see docs/cmvm.md).
 *
 * Values 0..n-1 are the inputs of the problem, n.. the adders built.  Every
 * row is a set of terms (value, shift, sign).  A pattern (a, b, d, sign) is
 * two terms of one row: a at s and b at s + d with a < b, or a == b and
 * d > 0; sign is the product of their signs.  The lazy greedy repeatedly
 * builds the pattern with most non-overlapping occurrences as one adder and
 * substitutes it everywhere.
 *
 * Data:
 *  - terms: one record per term ever created (alive flag, row, value, ...);
 *  - inputs' terms: dense planes [input][row][shift] of signs and term ids;
 *  - inputs' terms also in a list per input, in (row, shift) order;
 *  - adders' terms: created in one block per adder, grouped by row in
 *    ascending row order ("groups");
 *  - per row: lists of its live input terms and live adder terms;
 *  - counts of every pattern of two different inputs, exact at all times,
 *    in a dense table over a < b (triangular), 2 signs, 2S-1 shifts;
 *  - a binary heap ordered like cmvm.core._PairCse's heapq entries.
 * Nothing depends on pointer values or hash seeds: the result is a function
 * of the input alone.
 */
#include "_pair_cse.h"

#include <stdlib.h>
#include <string.h>

#define VALUE_BITS 21             /* pattern keys pack a and b in 21 bits each */
#define MAX_VALUES ((int64_t)1 << VALUE_BITS)
#define D_OFFSET 512              /* and d + D_OFFSET in 10 bits */
#define MAX_SHIFT_PLANES 128      /* S must stay below this */
#define MAX_DEPTH_BOUND 60        /* Kraft sums 2^depth fit int64 up to this bound */
#define PLACEHOLDER_TIE ((int64_t)1 << 41)
#define NO_THRESHOLD INT64_MAX    /* input pairs not yet queued at all */
#define EXPAND_FRACTION 0.8       /* cmvm.core._EXPAND_FRACTION */
#define RECOUNT_FRACTION 0.8      /* cmvm.core._RECOUNT_FRACTION */
#define TIE_SLACK 3               /* cmvm.core._TIE_SLACK */
#define LOOKAHEAD_RANKS 8         /* cmvm.LOOKAHEAD_RANKS */

/* -- small growable arrays --------------------------------------------------- */

static size_t next_cap(size_t cap, size_t need)
{
    cap = cap ? cap : 16;
    while (cap < need)
        cap *= 2;
    return cap;
}

/* data grown to hold need elements, *cap updated; data itself, *cap unchanged, if out of memory. */
static void *regrow(void *data, size_t *cap, size_t need, size_t elem)
{
    size_t cap2 = next_cap(*cap, need);
    void *p = realloc(data, cap2 * elem);
    if (!p)
        return data;
    *cap = cap2;
    return p;
}

/* Make room for need elements in arr (capacity cap): 0, or -1 if out of memory. */
#define GROW(arr, cap, need)                                                                   \
    ((need) <= (cap) ? 0                                                                       \
                     : ((arr) = regrow((arr), &(cap), (need), sizeof(*(arr))), (need) <= (cap) ? 0 : -1))

/* A row's live terms, copied out of the term records so that scans read them
 * in sequence: for each, its term id, its code value << 8 | shift << 1 | (sign
 * < 0), and its slot (value * W + shift) * 2 + (sign < 0) in the expansion's
 * counts (see expand). */
typedef struct {
    uint32_t *code, *slot;
    int32_t *t;
    size_t n, cap;
} RowList;

#define CODE_VALUE(c) ((int64_t)((c) >> 8))
#define CODE_SHIFT(c) ((int)(((c) >> 1) & 127))
#define CODE_NEG(c) ((int)((c) & 1))

/* An input's terms in (row, shift) order; dead ones are dropped now and then. */
typedef struct {
    int32_t t, row, shift, sign;
} InputTerm;

typedef struct {
    InputTerm *v;
    size_t n, cap, dead;
} InputList;

/* -- queue entries: cmvm's (-priority, key), priority = count << 42 | tie, where
 * tie is 1 << 41 for a placeholder, else below 2^41; counts stay below
 * 2^21 (checked: at most rows * S) -- */

#define COUNT_SHIFT 42

typedef struct {
    int64_t priority, key;
} Entry;

static inline int entry_before(const Entry *x, const Entry *y)
{
    if (x->priority != y->priority)
        return x->priority > y->priority;
    return x->key < y->key;
}

static inline int64_t entry_count(const Entry *x)
{
    return x->priority >> COUNT_SHIFT;
}

typedef struct {
    int32_t r, s_a, s_b, g_a, t_a, t_b; /* row, shifts, sign of a, term ids */
} Match;

typedef struct {
    /* problem */
    int n, m, S, W; /* W = 2S - 1 */
    int max_depth;  /* -1: unbounded */
    int64_t budget;
    int bounded, uniform, tie_b_first;

    /* values: depth of inputs then adders */
    int32_t *depth;
    size_t depth_cap;
    int64_t n_values;

    /* adders */
    int32_t *nd_a, *nd_ash, *nd_b, *nd_bsh, *nd_sign, *nd_group0, *nd_ngroups, *nd_occ, *nd_live;
    size_t nd_cap;
    int64_t n_nodes;

    /* terms */
    int32_t *t_value, *t_row, *t_shift, *t_sign, *t_pos, *t_group;
    uint8_t *t_alive;
    size_t t_cap;
    int64_t n_terms;

    /* adder groups: one per (adder, row), in occurrence order */
    int32_t *g_row, *g_start, *g_len, *g_alive;
    size_t g_cap;
    int64_t n_groups;


    /* inputs' digits: [input][row][shift] */
    int8_t *plane_sign;
    int32_t *plane_id;

    /* per row */
    RowList *row_in, *row_nd;

    /* per input */
    InputList *in_list;
    int64_t *kraft, *pending;
    int32_t *touched_rows;
    size_t n_touched_rows;

    /* exact counts of input pairs a < b */
    int32_t *table;
    int64_t input_threshold;

    /* queue */
    Entry *heap;
    size_t heap_n, heap_cap;

    /* scratch */
    Match *mt;
    size_t mt_n, mt_cap;
    int32_t *xcount; /* expansion of v: [value u][s_u - s_v + S - 1][sign], zero between uses */
    size_t xcount_cap;
    int64_t *xtouched;
    size_t xtouched_n, xtouched_cap;
    int32_t *vterms;
    size_t vterms_n, vterms_cap;

    /* look-ahead: at step k (adders built so far) build the rank[k]-th near-tie instead of the best */
    const int32_t *rank;
    int64_t n_rank;
    int missing; /* fewer near-ties than a rank asked: the run stopped there */
    Entry *held; /* near-ties passed over at this step, their exact counts */
    size_t held_n, held_cap;
} Solver;

/* -- helpers ------------------------------------------------------------------- */

static inline int64_t pack_key(int64_t a, int64_t b, int64_t d, int sign)
{
    return ((((a << VALUE_BITS) | b) << 10 | (d + D_OFFSET)) << 1) | (sign < 0);
}

static inline void unpack_key(int64_t key, int64_t *a, int64_t *b, int *d, int *sign)
{
    *sign = (key & 1) ? -1 : 1;
    key >>= 1;
    *d = (int)(key & 1023) - D_OFFSET;
    key >>= 10;
    *a = key >> VALUE_BITS;
    *b = key & ((1 << VALUE_BITS) - 1);
}

static inline int64_t tie_of(const Solver *P, int64_t a, int64_t b)
{
    return P->tie_b_first ? ((b << 20) | a) : ((a << 20) | b);
}

static inline size_t pair_index(const Solver *P, int a, int b) /* a < b */
{
    return (size_t)a * (2 * (size_t)P->n - (size_t)a - 1) / 2 + (size_t)(b - a - 1);
}

static inline int32_t *cell(Solver *P, int a, int b, int d, int neg)
{
    return &P->table[(pair_index(P, a, b) * 2 + (size_t)neg) * (size_t)P->W + (size_t)(d + P->S - 1)];
}

static inline size_t plane_at(const Solver *P, int u, int r, int s)
{
    return ((size_t)u * (size_t)P->m + (size_t)r) * (size_t)P->S + (size_t)s;
}

static int list_push(RowList *l, int W, int32_t t, int64_t value, int shift, int sign, int32_t *pos)
{
    if (l->n == l->cap) {
        size_t cap = next_cap(l->cap, l->n + 1);
        uint32_t *code = realloc(l->code, cap * sizeof(uint32_t));
        if (code)
            l->code = code;
        uint32_t *slot = realloc(l->slot, cap * sizeof(uint32_t));
        if (slot)
            l->slot = slot;
        int32_t *ts = realloc(l->t, cap * sizeof(int32_t));
        if (ts)
            l->t = ts;
        if (!code || !slot || !ts)
            return -1;
        l->cap = cap;
    }
    pos[t] = (int32_t)l->n;
    l->code[l->n] = (uint32_t)(value << 8 | shift << 1 | (sign < 0));
    l->slot[l->n] = (uint32_t)(((uint64_t)value * (uint64_t)W + (uint64_t)shift) * 2 + (sign < 0));
    l->t[l->n++] = t;
    return 0;
}

static void list_remove(RowList *l, int32_t t, int32_t *pos)
{
    size_t i = (size_t)pos[t], last = --l->n;
    if (i < last) {
        l->code[i] = l->code[last];
        l->slot[i] = l->slot[last];
        l->t[i] = l->t[last];
        pos[l->t[i]] = (int32_t)i;
    }
}

/* -- heap -------------------------------------------------------------------- */

static int heap_push(Solver *P, int64_t count, int64_t tie, int64_t key)
{
    if (GROW(P->heap, P->heap_cap, P->heap_n + 1))
        return -1;
    Entry e = {(count << COUNT_SHIFT) | tie, key};
    size_t i = P->heap_n++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!entry_before(&e, &P->heap[parent]))
            break;
        P->heap[i] = P->heap[parent];
        i = parent;
    }
    P->heap[i] = e;
    return 0;
}

static Entry heap_pop(Solver *P)
{
    Entry top = P->heap[0];
    Entry e = P->heap[--P->heap_n];
    size_t n = P->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && entry_before(&P->heap[c + 1], &P->heap[c]))
            c++;
        if (!entry_before(&P->heap[c], &e))
            break;
        P->heap[i] = P->heap[c];
        i = c;
    }
    if (n)
        P->heap[i] = e;
    return top;
}

static inline int push_pattern(Solver *P, int64_t count, int64_t a, int64_t b, int d, int sign)
{
    return heap_push(P, count, tie_of(P, a, b), pack_key(a, b, d, sign));
}

static inline int push_placeholder(Solver *P, int64_t count, int64_t v)
{
    return heap_push(P, count, PLACEHOLDER_TIE, -1 - v);
}

/* An upper bound on every pattern's count (cmvm.core._PairCse._best). */
static int64_t best_bound(const Solver *P)
{
    int64_t top = P->heap_n ? entry_count(&P->heap[0]) : 0;
    int64_t inputs = P->input_threshold > 2 ? P->input_threshold - 1 : 0;
    return top > inputs ? top : inputs;
}

/* -- adders' groups ---------------------------------------------------------------
 * Every adder's groups are in ascending row order: occurrences of two inputs
 * are found row by row, and those of a pattern with an adder value in the
 * order of that value's groups.  So a row's group is found by bisection. */

/* The first group of adder value v at or after group lo with row >= r
 * (galloping from lo, then bisection). */
static inline int32_t group_at_or_after(const Solver *P, int64_t v, int32_t lo, int r)
{
    int64_t k = v - P->n;
    int32_t end = P->nd_group0[k] + P->nd_ngroups[k], hi = lo, step = 1;
    while (hi < end && P->g_row[hi] < r) {
        lo = hi + 1;
        hi = end - hi > step ? hi + step : end;
        step *= 2;
    }
    while (lo < hi) {
        int32_t mid = lo + (hi - lo) / 2;
        if (P->g_row[mid] < r)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* -- setup ------------------------------------------------------------------------ */

static void solver_free(Solver *P)
{
    free(P->depth);
    free(P->nd_a); free(P->nd_ash); free(P->nd_b); free(P->nd_bsh); free(P->nd_sign);
    free(P->nd_group0); free(P->nd_ngroups); free(P->nd_occ); free(P->nd_live);
    free(P->t_value); free(P->t_row); free(P->t_shift); free(P->t_sign); free(P->t_pos);
    free(P->t_group); free(P->t_alive);
    free(P->g_row); free(P->g_start); free(P->g_len); free(P->g_alive);
    free(P->plane_sign); free(P->plane_id);
    for (int k = 0; k < 2; k++) {
        RowList *rows = k ? P->row_nd : P->row_in;
        if (rows)
            for (int r = 0; r < P->m; r++) {
                free(rows[r].code);
                free(rows[r].slot);
                free(rows[r].t);
            }
    }
    free(P->row_in); free(P->row_nd);
    if (P->in_list)
        for (int u = 0; u < P->n; u++)
            free(P->in_list[u].v);
    free(P->in_list);
    free(P->kraft); free(P->pending); free(P->touched_rows);
    free(P->table); free(P->heap); free(P->mt);
    free(P->xcount); free(P->xtouched); free(P->vterms); free(P->held);
}

static int grow_terms(Solver *P, size_t need)
{
    if (need <= P->t_cap)
        return 0;
    size_t cap = next_cap(P->t_cap, need);
#define GROW_TO(field, type)                                                         \
    do {                                                                             \
        type *p_ = realloc(P->field, cap * sizeof(type));                            \
        if (!p_) return -1;                                                          \
        P->field = p_;                                                               \
    } while (0)
    GROW_TO(t_value, int32_t);
    GROW_TO(t_row, int32_t);
    GROW_TO(t_shift, int32_t);
    GROW_TO(t_sign, int32_t);
    GROW_TO(t_pos, int32_t);
    GROW_TO(t_group, int32_t);
    GROW_TO(t_alive, uint8_t);
    P->t_cap = cap;
    return 0;
}

static int grow_nodes(Solver *P, size_t need)
{
    if (need <= P->nd_cap)
        return 0;
    size_t cap = next_cap(P->nd_cap, need);
    GROW_TO(nd_a, int32_t);
    GROW_TO(nd_ash, int32_t);
    GROW_TO(nd_b, int32_t);
    GROW_TO(nd_bsh, int32_t);
    GROW_TO(nd_sign, int32_t);
    GROW_TO(nd_group0, int32_t);
    GROW_TO(nd_ngroups, int32_t);
    GROW_TO(nd_occ, int32_t);
    GROW_TO(nd_live, int32_t);
    P->nd_cap = cap;
    return 0;
}

static int grow_groups(Solver *P, size_t need)
{
    if (need <= P->g_cap)
        return 0;
    size_t cap = next_cap(P->g_cap, need);
    GROW_TO(g_row, int32_t);
    GROW_TO(g_start, int32_t);
    GROW_TO(g_len, int32_t);
    GROW_TO(g_alive, int32_t);
    P->g_cap = cap;
    return 0;
#undef GROW_TO
}

/* -- matching ------------------------------------------------------------------------ */

/* May one more occurrence with Kraft increase delta go into row r? (cmvm: _kraft_ok) */
static inline int kraft_ok(Solver *P, int r, int64_t delta)
{
    if (!P->bounded || delta == 0)
        return 1;
    if (P->kraft[r] + P->pending[r] + delta > P->budget)
        return 0;
    if (P->pending[r] == 0)
        P->touched_rows[P->n_touched_rows++] = r;
    P->pending[r] += delta;
    return 1;
}

static void reset_pending(Solver *P)
{
    for (size_t i = 0; i < P->n_touched_rows; i++)
        P->pending[P->touched_rows[i]] = 0;
    P->n_touched_rows = 0;
}

static inline int add_match(Solver *P, int r, int s_a, int s_b, int g_a, int t_a, int t_b)
{
    if (GROW(P->mt, P->mt_cap, P->mt_n + 1))
        return -1;
    Match x = {r, s_a, s_b, g_a, t_a, t_b};
    P->mt[P->mt_n++] = x;
    return 0;
}

/* Sorting a group's live terms by shift (groups are small: insertion sort). */
static void sort_by_shift(const Solver *P, int32_t *ids, size_t k)
{
    for (size_t i = 1; i < k; i++) {
        int32_t t = ids[i];
        size_t j = i;
        while (j > 0 && P->t_shift[ids[j - 1]] > P->t_shift[t]) {
            ids[j] = ids[j - 1];
            j--;
        }
        ids[j] = t;
    }
}

/* Input u's term list, its dead entries dropped if they are the majority. */
static InputList *live_inputs(Solver *P, int u)
{
    InputList *l = &P->in_list[u];
    if (2 * l->dead > l->n) {
        size_t k = 0;
        for (size_t i = 0; i < l->n; i++)
            if (P->t_alive[l->v[i].t])
                l->v[k++] = l->v[i];
        l->n = k;
        l->dead = 0;
    }
    return l;
}

/* Non-overlapping occurrences of (a, b, d, sign) within the depth budget, in
 * the order cmvm.core._PairCse._matches finds them, into P->mt.  -1: out of memory. */
static int find_matches(Solver *P, int64_t a, int64_t b, int d, int sign)
{
    const int n = P->n, S = P->S;
    P->mt_n = 0;
    int depth_new = (P->depth[a] > P->depth[b] ? P->depth[a] : P->depth[b]) + 1;
    int64_t delta = 0;
    if (P->bounded) {
        if (depth_new > P->max_depth)
            return 0;
        delta = ((int64_t)1 << depth_new) - ((int64_t)1 << P->depth[a]) - ((int64_t)1 << P->depth[b]);
    }
    int rc = 0;
    if (b < n && a != b) { /* two inputs: rows, then shifts, ascending */
        /* walk the input with fewer live terms; both lists are in (row, shift) order */
        InputList *la = live_inputs(P, (int)a), *lb = live_inputs(P, (int)b);
        int from_b = lb->n < la->n;
        const InputList *l = from_b ? lb : la;
        for (size_t i = 0; i < l->n; i++) {
            const InputTerm *e = &l->v[i];
            if (!P->t_alive[e->t])
                continue;
            int r = e->row, s_a = from_b ? e->shift - d : e->shift, s_b = s_a + d;
            if (s_a < 0 || s_a >= S || s_b < 0 || s_b >= S)
                continue;
            size_t at_a = plane_at(P, (int)a, r, s_a), at_b = plane_at(P, (int)b, r, s_b);
            int g_a = P->plane_sign[at_a];
            if (g_a && g_a * P->plane_sign[at_b] == sign && kraft_ok(P, r, delta))
                if ((rc = add_match(P, r, s_a, s_b, g_a, P->plane_id[at_a], P->plane_id[at_b])))
                    break;
        }
    } else if (b < n) { /* an input with itself: greedy from the lowest shift */
        uint8_t used[MAX_SHIFT_PLANES];
        const InputList *l = live_inputs(P, (int)a);
        int row = -1;
        for (size_t i = 0; i < l->n; i++) {
            const InputTerm *e = &l->v[i];
            if (!P->t_alive[e->t])
                continue;
            int r = e->row, s_a = e->shift, s_b = s_a + d;
            if (r != row) {
                memset(used, 0, (size_t)S);
                row = r;
            }
            if (s_b >= S || used[s_a] || used[s_b])
                continue;
            size_t at_b = plane_at(P, (int)a, r, s_b);
            if (e->sign * P->plane_sign[at_b] != sign || !kraft_ok(P, r, delta))
                continue;
            used[s_a] = used[s_b] = 1;
            if ((rc = add_match(P, r, s_a, s_b, e->sign, e->t, P->plane_id[at_b])))
                break;
        }
    } else if (a < n) { /* an input with an adder value */
        int64_t k = b - n;
        int32_t g0 = P->nd_group0[k], g1 = g0 + P->nd_ngroups[k];
        for (int32_t g = g0; g < g1 && !rc; g++) {
            if (!P->g_alive[g])
                continue;
            int r = P->g_row[g];
            for (int32_t t = P->g_start[g]; t < P->g_start[g] + P->g_len[g]; t++) {
                if (!P->t_alive[t])
                    continue;
                int s_b = P->t_shift[t], g_b = P->t_sign[t], s_a = s_b - d;
                if (s_a < 0 || s_a >= S)
                    continue;
                size_t at = plane_at(P, (int)a, r, s_a);
                if (P->plane_sign[at] == sign * g_b && kraft_ok(P, r, delta)) {
                    if ((rc = add_match(P, r, s_a, s_b, sign * g_b, P->plane_id[at], t)))
                        break;
                }
            }
        }
    } else if (a == b) { /* an adder value with itself */
        int64_t k = a - n;
        int32_t g0 = P->nd_group0[k], g1 = g0 + P->nd_ngroups[k];
        for (int32_t g = g0; g < g1 && !rc; g++) {
            if (P->g_alive[g] < 2)
                continue;
            int r = P->g_row[g];
            size_t cnt = 0;
            P->vterms_n = 0;
            if (GROW(P->vterms, P->vterms_cap, (size_t)P->g_len[g]))
                return -1;
            for (int32_t t = P->g_start[g]; t < P->g_start[g] + P->g_len[g]; t++)
                if (P->t_alive[t])
                    P->vterms[cnt++] = t;
            sort_by_shift(P, P->vterms, cnt);
            uint8_t used[MAX_SHIFT_PLANES];
            memset(used, 0, (size_t)S);
            for (size_t i = 0; i < cnt; i++) {
                int32_t ts = P->vterms[i];
                int s = P->t_shift[ts], t = s + d;
                if (used[s] || t >= S || used[t])
                    continue;
                int32_t tt = -1;
                for (size_t j = i + 1; j < cnt; j++)
                    if (P->t_shift[P->vterms[j]] == t) {
                        tt = P->vterms[j];
                        break;
                    }
                if (tt < 0 || P->t_sign[ts] * P->t_sign[tt] != sign)
                    continue;
                if (kraft_ok(P, r, delta)) {
                    used[s] = used[t] = 1;
                    if ((rc = add_match(P, r, s, t, P->t_sign[ts], ts, tt)))
                        break;
                }
            }
        }
    } else { /* two adder values: the rows of the one in fewer rows */
        int64_t ka = a - n, kb = b - n;
        int64_t x = (P->nd_occ[kb] < P->nd_occ[ka]) ? b : a, y = x == a ? b : a;
        int64_t kx = x - n, ky = y - n;
        int32_t g0 = P->nd_group0[kx], g1 = g0 + P->nd_ngroups[kx];
        int32_t gy = P->nd_group0[ky], gy1 = gy + P->nd_ngroups[ky];
        for (int32_t g = g0; g < g1 && !rc && gy < gy1; g++) {
            if (!P->g_alive[g])
                continue;
            int r = P->g_row[g];
            gy = group_at_or_after(P, y, gy, r);
            if (gy == gy1 || P->g_row[gy] != r || !P->g_alive[gy])
                continue;
            int32_t ga = x == a ? g : gy, gb = x == b ? g : gy;
            for (int32_t t = P->g_start[ga]; t < P->g_start[ga] + P->g_len[ga]; t++) {
                if (!P->t_alive[t])
                    continue;
                int s_a = P->t_shift[t], g_a = P->t_sign[t], s_b = s_a + d;
                int32_t tb = -1;
                for (int32_t u = P->g_start[gb]; u < P->g_start[gb] + P->g_len[gb]; u++)
                    if (P->t_alive[u] && P->t_shift[u] == s_b) {
                        tb = u;
                        break;
                    }
                if (tb >= 0 && g_a * P->t_sign[tb] == sign && kraft_ok(P, r, delta)) {
                    if ((rc = add_match(P, r, s_a, s_b, g_a, t, tb)))
                        break;
                }
            }
        }
    }
    reset_pending(P);
    return rc ? -1 : (int)P->mt_n;
}

/* -- substitution ------------------------------------------------------------------------ */

/* Clear an input digit, keeping the input-pair counts exact. */
static void remove_input_term(Solver *P, int32_t t)
{
    int a = P->t_value[t], r = P->t_row[t], s = P->t_shift[t], g = P->t_sign[t];
    size_t at = plane_at(P, a, r, s);
    P->plane_sign[at] = 0;
    P->plane_id[at] = -1;
    P->t_alive[t] = 0;
    P->in_list[a].dead++;
    RowList *row = &P->row_in[r];
    list_remove(row, t, P->t_pos);
    int g_neg = g < 0;
    for (size_t i = 0; i < row->n; i++) {
        uint32_t c = row->code[i];
        int u = (int)CODE_VALUE(c);
        if (u == a)
            continue;
        int neg = CODE_NEG(c) ^ g_neg;
        if (a < u)
            (*cell(P, a, u, CODE_SHIFT(c) - s, neg))--;
        else
            (*cell(P, u, a, s - CODE_SHIFT(c), neg))--;
    }
}

static void remove_node_term(Solver *P, int32_t t)
{
    int32_t g = P->t_group[t];
    P->t_alive[t] = 0;
    if (--P->g_alive[g] == 0)
        P->nd_occ[P->t_value[t] - P->n]--;
    P->nd_live[P->t_value[t] - P->n]--;
    list_remove(&P->row_nd[P->t_row[t]], t, P->t_pos);
}

static inline void remove_term(Solver *P, int32_t t)
{
    if (P->t_value[t] < P->n)
        remove_input_term(P, t);
    else
        remove_node_term(P, t);
}

/* Build (a, b, d, sign) as a new adder and substitute it at the matches in P->mt.
 * 0, -1 out of memory, -2 too many values, -3 internal error. */
static int apply(Solver *P, int64_t a, int64_t b, int d, int sign)
{
    int64_t v = P->n_values;
    if (v >= MAX_VALUES)
        return -2;
    int64_t k = P->n_nodes;
    if (grow_nodes(P, (size_t)k + 1) || GROW(P->depth, P->depth_cap, (size_t)v + 1))
        return -1;
    int depth_v = (P->depth[a] > P->depth[b] ? P->depth[a] : P->depth[b]) + 1;
    int64_t delta = 0;
    if (P->bounded)
        delta = ((int64_t)1 << depth_v) - ((int64_t)1 << P->depth[a]) - ((int64_t)1 << P->depth[b]);
    P->nd_a[k] = (int32_t)a;
    P->nd_ash[k] = d < 0 ? -d : 0;
    P->nd_b[k] = (int32_t)b;
    P->nd_bsh[k] = d > 0 ? d : 0;
    P->nd_sign[k] = sign;
    P->depth[v] = depth_v;
    P->n_nodes++;
    P->n_values++;

    size_t c = P->mt_n;
    /* a's terms, then b's (for a == b: both of each occurrence) */
    for (size_t i = 0; i < c; i++)
        remove_term(P, P->mt[i].t_a);
    for (size_t i = 0; i < c; i++)
        remove_term(P, P->mt[i].t_b);

    if (grow_terms(P, (size_t)P->n_terms + c) || grow_groups(P, (size_t)P->n_groups + c))
        return -1;
    P->nd_group0[k] = (int32_t)P->n_groups;
    P->nd_ngroups[k] = 0;
    P->nd_occ[k] = 0;
    P->nd_live[k] = (int32_t)c;
    int32_t g = -1;
    for (size_t i = 0; i < c; i++) {
        const Match *x = &P->mt[i];
        if (g >= 0 && x->r < P->g_row[g])
            return -3; /* occurrences must come in ascending row order */
        if (g < 0 || P->g_row[g] != x->r) {
            g = (int32_t)P->n_groups++;
            P->g_row[g] = x->r;
            P->g_start[g] = (int32_t)P->n_terms;
            P->g_len[g] = 0;
            P->g_alive[g] = 0;
            P->nd_ngroups[k]++;
            P->nd_occ[k]++;
        }
        int32_t t = (int32_t)P->n_terms++;
        P->t_value[t] = (int32_t)v;
        P->t_row[t] = x->r;
        P->t_shift[t] = x->s_a < x->s_b ? x->s_a : x->s_b;
        P->t_sign[t] = x->g_a;
        P->t_alive[t] = 1;
        P->t_group[t] = g;
        P->g_len[g]++;
        P->g_alive[g]++;
        if (list_push(&P->row_nd[x->r], P->W, t, v, P->t_shift[t], x->g_a, P->t_pos))
            return -1;
        P->kraft[x->r] += delta;
    }
    return push_placeholder(P, (int64_t)c, v) ? -1 : 0;
}

/* -- queueing ------------------------------------------------------------------------------- */

/* Queue the input pairs whose exact count lies in [new threshold, old threshold). */
static int materialize_input_pairs(Solver *P, int64_t best_other)
{
    const int n = P->n, W = P->W, S = P->S;
    size_t cells = (size_t)n * (size_t)(n > 0 ? n - 1 : 0) / 2 * 2 * (size_t)W;
    int64_t best = 0;
    for (size_t i = 0; i < cells; i++)
        if (P->table[i] > best)
            best = P->table[i];
    if (best_other > best)
        best = best_other;
    int64_t threshold = (int64_t)((double)best * RECOUNT_FRACTION);
    if (threshold < 2)
        threshold = 2;
    int64_t old = P->input_threshold;
    if (old != NO_THRESHOLD && threshold >= old)
        /* the Python reference would loop for ever here: every pair at or above
         * the old band was queued already, so go one count lower */
        threshold = old - 1;
    for (int a = 0; a < n; a++)
        for (int b = a + 1; b < n; b++) {
            const int32_t *base = &P->table[pair_index(P, a, b) * 2 * (size_t)W];
            for (int neg = 0; neg < 2; neg++)
                for (int j = 0; j < W; j++) {
                    int64_t c = base[neg * W + j];
                    if (c >= threshold && c < old)
                        if (push_pattern(P, c, a, b, j - (S - 1), neg ? -1 : 1))
                            return -1;
                }
        }
    P->input_threshold = threshold;
    return 0;
}

/* One more pair at idx in the expansion's counts (P->xtouched has room for every pair). */
static inline void count_slot(Solver *P, uint32_t idx)
{
    if (P->xcount[idx]++ == 0)
        P->xtouched[P->xtouched_n++] = (int64_t)idx;
}

/* Count the patterns of adder value v; queue those that may soon be best
 * (cmvm.core._PairCse._expand).  Counts are dense over (other value, relative
 * shift, sign): with an input u the pattern is (u, v, s_v - s_u); with an
 * adder value w (v itself included, with w's shift above v's) it is
 * (w, v, s_v - s_w) for w < v, else (v, w, s_w - s_v). */
static int expand(Solver *P, int64_t v)
{
    const int n = P->n, S = P->S, W = P->W;
    int64_t k = v - n;
    int32_t g0 = P->nd_group0[k], g1 = g0 + P->nd_ngroups[k];
    P->vterms_n = 0;
    for (int32_t g = g0; g < g1; g++) {
        if (!P->g_alive[g])
            continue;
        for (int32_t t = P->g_start[g]; t < P->g_start[g] + P->g_len[g]; t++)
            if (P->t_alive[t]) {
                if (GROW(P->vterms, P->vterms_cap, P->vterms_n + 1))
                    return -1;
                P->vterms[P->vterms_n++] = t;
            }
    }
    if (P->vterms_n < 2)
        return 0;
    int limit = P->bounded ? P->max_depth - 1 : INT32_MAX;
    if (P->depth[v] > limit)
        return 0;
    size_t need = (size_t)P->n_values * (size_t)W * 2;
    if (need > P->xcount_cap) {
        size_t cap = P->xcount_cap ? P->xcount_cap : 1024;
        while (cap < need)
            cap *= 2;
        int32_t *p = realloc(P->xcount, cap * sizeof(int32_t));
        if (!p)
            return -1;
        memset(p + P->xcount_cap, 0, (cap - P->xcount_cap) * sizeof(int32_t));
        P->xcount = p;
        P->xcount_cap = cap;
    }
    size_t pairs = 0;
    for (size_t i = 0; i < P->vterms_n; i++) {
        int r = P->t_row[P->vterms[i]];
        pairs += P->row_in[r].n + P->row_nd[r].n;
    }
    if (GROW(P->xtouched, P->xtouched_cap, pairs))
        return -1;
    P->xtouched_n = 0;
    for (size_t i = 0; i < P->vterms_n; i++) {
        int32_t tv = P->vterms[i];
        int r = P->t_row[tv], s_v = P->t_shift[tv], g_v = P->t_sign[tv];
        /* the count of (u at s_u, v at s_v) is at ((u * W + s_u - s_v + S - 1) * 2 +
         * (signs differ)): the term's slot moved by 2 (S - 1 - s_v), its sign bit
         * flipped if v's sign is negative */
        uint32_t offset = 2 * (uint32_t)(S - 1 - s_v), flip = g_v < 0;
        const RowList *row = &P->row_in[r];
        for (size_t j = 0; j < row->n; j++)
            count_slot(P, (row->slot[j] + offset) ^ flip);
        row = &P->row_nd[r];
        for (size_t j = 0; j < row->n; j++) {
            uint32_t c = row->code[j];
            int64_t w = CODE_VALUE(c);
            if (w == v ? CODE_SHIFT(c) <= s_v : P->nd_live[w - n] < 2)
                continue; /* counted from the other side, or found once at most */
            if (P->bounded && P->depth[w] > limit)
                continue;
            count_slot(P, (row->slot[j] + offset) ^ flip);
        }
    }
    int64_t threshold = (int64_t)((double)best_bound(P) * EXPAND_FRACTION);
    if (threshold < 2)
        threshold = 2;
    int64_t deferred = 0;
    int rc = 0;
    for (size_t i = 0; i < P->xtouched_n; i++) {
        size_t idx = (size_t)P->xtouched[i];
        int64_t c = P->xcount[idx];
        P->xcount[idx] = 0;
        if (c < 2 || rc)
            continue;
        if (c < threshold) {
            if (c > deferred)
                deferred = c;
            continue;
        }
        int sign = (idx & 1) ? -1 : 1;
        int64_t u = (int64_t)((idx >> 1) / (size_t)W);
        int du = (int)((idx >> 1) % (size_t)W) - (S - 1); /* s_u - s_v */
        if (u < v)
            rc = push_pattern(P, c, u, v, -du, sign);
        else
            rc = push_pattern(P, c, v, u, du, sign);
    }
    if (rc)
        return -1;
    if (deferred >= 2 && push_placeholder(P, deferred, v))
        return -1;
    return 0;
}

/* -- the greedy loop ------------------------------------------------------------------------ */

static int run(Solver *P)
{
    const int n = P->n;
    for (;;) {
        int64_t best = P->heap_n ? entry_count(&P->heap[0]) : 0;
        if (P->input_threshold > 2 && best < P->input_threshold) {
            if (materialize_input_pairs(P, best))
                return -1;
            continue;
        }
        if (P->held_n && best < entry_count(&P->held[0]) - TIE_SLACK) {
            P->missing = 1; /* fewer near-ties than the rank asked: the rollout is void */
            return 0;
        }
        if (best < 2)
            break;
        Entry e = heap_pop(P);
        if (e.key < 0) {
            if (expand(P, -1 - e.key))
                return -1;
            continue;
        }
        int64_t a, b;
        int d, sign;
        unpack_key(e.key, &a, &b, &d, &sign);
        int64_t count;
        int have = 0;
        if (b < n && a != b) {
            count = *cell(P, (int)a, (int)b, d, sign < 0);
            if (!(P->uniform || !P->bounded) && count >= 2) {
                int c = find_matches(P, a, b, d, sign);
                if (c < 0)
                    return -1;
                count = c;
                have = 1;
            }
        } else {
            int c = find_matches(P, a, b, d, sign);
            if (c < 0)
                return -1;
            count = c;
            have = 1;
        }
        if (count < 2)
            continue;
        if (count < best && count < best_bound(P)) {
            if (push_pattern(P, count, a, b, d, sign))
                return -1;
            continue;
        }
        if (P->held_n && count < entry_count(&P->held[0]) - TIE_SLACK) {
            P->missing = 1;
            return 0;
        }
        if (P->n_nodes < P->n_rank && (int64_t)P->held_n < P->rank[P->n_nodes]) {
            if (GROW(P->held, P->held_cap, P->held_n + 1))
                return -1;
            Entry held = {count << COUNT_SHIFT, pack_key(a, b, d, sign)};
            P->held[P->held_n++] = held;
            continue;
        }
        if (!have && find_matches(P, a, b, d, sign) < 0)
            return -1;
        int rc = apply(P, a, b, d, sign);
        if (rc)
            return rc;
        for (size_t i = 0; i < P->held_n; i++) {
            int64_t ha, hb;
            int hd, hsign;
            unpack_key(P->held[i].key, &ha, &hb, &hd, &hsign);
            if (push_pattern(P, entry_count(&P->held[i]), ha, hb, hd, hsign))
                return -1;
        }
        P->held_n = 0;
    }
    return 0;
}

/* The adders of the graph once every row's remaining terms are summed (cmvm.core._PairCse.adders). */
static int64_t total_adders(const Solver *P)
{
    int64_t adders = P->n_nodes;
    for (int r = 0; r < P->m; r++) {
        size_t terms = P->row_in[r].n + P->row_nd[r].n;
        if (terms)
            adders += (int64_t)terms - 1;
    }
    return adders;
}

/* Fill the solver from the terms; 0, -1 out of memory, 1 infeasible depth bound. */
static int setup(Solver *P, const int32_t *terms, Py_ssize_t n_terms, const int32_t *depths)
{
    const int n = P->n, m = P->m, S = P->S, W = P->W;
    size_t planes = (size_t)n * (size_t)m * (size_t)S;
    P->depth_cap = (size_t)n + 16;
    P->depth = malloc(P->depth_cap * sizeof(int32_t));
    P->plane_sign = calloc(planes ? planes : 1, 1);
    P->plane_id = malloc((planes ? planes : 1) * sizeof(int32_t));
    P->row_in = calloc((size_t)m + 1, sizeof(RowList));
    P->row_nd = calloc((size_t)m + 1, sizeof(RowList));
    P->in_list = calloc((size_t)n + 1, sizeof(InputList));
    P->kraft = calloc((size_t)m + 1, sizeof(int64_t));
    P->pending = calloc((size_t)m + 1, sizeof(int64_t));
    P->touched_rows = malloc(((size_t)m + 1) * sizeof(int32_t));
    size_t cells = (size_t)n * (size_t)(n > 0 ? n - 1 : 0) / 2 * 2 * (size_t)W;
    P->table = calloc(cells ? cells : 1, sizeof(int32_t));
    int32_t *self_count = calloc((size_t)n * (size_t)S * 2 + 1, sizeof(int32_t));
    if (!P->depth || !P->plane_sign || !P->plane_id || !P->row_in || !P->row_nd || !P->in_list || !P->kraft ||
        !P->pending || !P->touched_rows || !P->table || !self_count ||
        grow_terms(P, (size_t)n_terms + 16)) {
        free(self_count);
        return -1;
    }
    memcpy(P->depth, depths, (size_t)n * sizeof(int32_t));
    P->n_values = n;
    for (size_t i = 0; i < planes; i++)
        P->plane_id[i] = -1;
    for (Py_ssize_t i = 0; i < n_terms; i++) {
        const int32_t *x = terms + 4 * i;
        size_t at = plane_at(P, x[1], x[0], x[2]);
        P->plane_sign[at] = (int8_t)x[3];
        P->plane_id[at] = (int32_t)i;
        P->t_value[i] = x[1];
        P->t_row[i] = x[0];
        P->t_shift[i] = x[2];
        P->t_sign[i] = x[3];
        P->t_alive[i] = 1;
        P->t_group[i] = -1;
    }
    P->n_terms = n_terms;
    /* input lists in (row, shift) order */
    for (int u = 0; u < n; u++) {
        InputList *l = &P->in_list[u];
        for (int r = 0; r < m; r++)
            for (int s = 0; s < S; s++) {
                int32_t t = P->plane_id[plane_at(P, u, r, s)];
                if (t < 0)
                    continue;
                if (GROW(l->v, l->cap, l->n + 1)) {
                    free(self_count);
                    return -1;
                }
                InputTerm e = {t, r, s, P->t_sign[t]};
                l->v[l->n++] = e;
            }
    }
    /* row lists in (input, shift) order, and the pair counts of each row */
    int infeasible = 0;
    for (int r = 0; r < m; r++) {
        RowList *row = &P->row_in[r];
        for (int u = 0; u < n; u++)
            for (int s = 0; s < S; s++) {
                int32_t t = P->plane_id[plane_at(P, u, r, s)];
                if (t >= 0 && list_push(row, W, t, u, s, P->t_sign[t], P->t_pos)) {
                    free(self_count);
                    return -1;
                }
            }
        for (size_t i = 0; i < row->n; i++) {
            int32_t ti = row->t[i];
            int u = P->t_value[ti], s_u = P->t_shift[ti], g_u = P->t_sign[ti];
            if (P->bounded) {
                if (P->depth[u] > P->max_depth)
                    infeasible = 1;
                else if (!infeasible) {
                    P->kraft[r] += (int64_t)1 << P->depth[u];
                    if (P->kraft[r] > P->budget)
                        infeasible = 1;
                }
            }
            size_t j = i + 1;
            for (; j < row->n && CODE_VALUE(row->code[j]) == u; j++) {
                int32_t tj = row->t[j];
                self_count[((size_t)u * S + (size_t)(P->t_shift[tj] - s_u)) * 2 + (P->t_sign[tj] != g_u)]++;
            }
            if (j < row->n) {
                int32_t *base = &P->table[pair_index(P, u, u + 1) * 2 * (size_t)W] + (S - 1) - s_u;
                for (; j < row->n; j++) {
                    int32_t tj = row->t[j];
                    int v = P->t_value[tj];
                    /* pair (u, v) sits (v - u - 1) pairs after (u, u + 1) */
                    base[((size_t)(v - u - 1) * 2 + (P->t_sign[tj] != g_u)) * (size_t)W + P->t_shift[tj]]++;
                }
            }
        }
    }
    if (infeasible) {
        free(self_count);
        return 1;
    }
    /* input self pairs x_a ± (x_a << d), counted with overlaps: upper bounds */
    int rc = 0;
    for (int u = 0; u < n && !rc; u++)
        for (int d = 1; d < S && !rc; d++)
            for (int neg = 0; neg < 2 && !rc; neg++) {
                int32_t c = self_count[((size_t)u * S + d) * 2 + neg];
                if (c >= 2)
                    rc = push_pattern(P, c, u, u, d, neg ? -1 : 1);
            }
    free(self_count);
    return rc ? -1 : 0;
}

/* -- the core's entry point (for _cmvm_plans.c and py_solve) ---------------------------------- */

void cse_result_free(CseResult *result)
{
    free(result->nodes);
    free(result->left);
    free(result->row_start);
    memset(result, 0, sizeof *result);
}

/* One greedy run into P (freed by the caller whatever the result): 0, 1 infeasible, < 0 an error.
 * rank[k] (k < n_rank): build the rank[k]-th near-tie at step k (see run). */
static int greedy(Solver *P, int S, int n_values, const int32_t *depths, int n_rows, const int32_t *terms,
                  int64_t n_terms, int max_depth, int tie_b_first, const int32_t *rank, int64_t n_rank)
{
    memset(P, 0, sizeof *P);
    P->n = n_values;
    P->m = n_rows;
    P->S = S;
    P->W = 2 * S - 1;
    P->max_depth = max_depth;
    P->bounded = max_depth >= 0;
    P->budget = P->bounded ? (int64_t)1 << max_depth : 0;
    P->tie_b_first = tie_b_first;
    P->uniform = 1;
    for (int i = 1; i < n_values; i++)
        if (depths[i] != depths[0])
            P->uniform = 0;
    P->input_threshold = NO_THRESHOLD;
    P->rank = rank;
    P->n_rank = n_rank;
    int rc = setup(P, terms, (Py_ssize_t)n_terms, depths);
    return rc ? rc : run(P);
}

/* cmvm.core._pilot_cse after the plain greedy in *best: step by step, each near-tie of the step's pattern
 * built instead and the greedy finished; the fewest adders kept.  Work in adders built, up to
 * lookahead times the greedy's own. */
static int pilot(Solver *best, int S, int n_values, const int32_t *depths, int n_rows, const int32_t *terms,
                 int64_t n_terms, int max_depth, int tie_b_first, int64_t lookahead)
{
    int64_t best_adders = total_adders(best);
    int64_t work = 0, budget = lookahead * (best->n_nodes > 1 ? best->n_nodes : 1);
    int32_t *rank = NULL;
    size_t rank_cap = 0;
    int rc = 0;
    for (int64_t step = 0; step < best->n_nodes && work < budget && !rc; step++) {
        if (GROW(rank, rank_cap, (size_t)step + 1)) {
            rc = -1;
            break;
        }
        rank[step] = 0;
        int chosen = 0;
        for (int k = 1; k < LOOKAHEAD_RANKS; k++) {
            rank[step] = k;
            Solver trial;
            rc = greedy(&trial, S, n_values, depths, n_rows, terms, n_terms, max_depth, tie_b_first, rank,
                        step + 1);
            work += trial.n_nodes;
            if (rc || trial.missing) {
                solver_free(&trial);
                break;
            }
            int64_t adders = total_adders(&trial);
            if (adders < best_adders) {
                solver_free(best);
                *best = trial;
                best_adders = adders;
                chosen = k;
            } else
                solver_free(&trial);
            if (work >= budget)
                break;
        }
        rank[step] = chosen;
    }
    free(rank);
    return rc;
}

int pair_cse_solve(int n_values, const int32_t *depths, int n_rows, const int32_t *terms, int64_t n_terms,
                   int max_depth, int tie_b_first, int64_t lookahead, CseResult *out)
{
    memset(out, 0, sizeof *out);
    int S = 1;
    for (int64_t i = 0; i < n_terms; i++)
        if (terms[4 * i + 2] + 1 > S)
            S = terms[4 * i + 2] + 1;
    if ((int64_t)n_rows * S >= ((int64_t)1 << (63 - COUNT_SHIFT)))
        return CSE_TOO_MANY_ROWS; /* a pattern occurs at most once per (row, shift): counts stay below this */
    Solver P;
    int rc = greedy(&P, S, n_values, depths, n_rows, terms, n_terms, max_depth, tie_b_first, NULL, 0);
    if (rc == 0 && lookahead > 0)
        rc = pilot(&P, S, n_values, depths, n_rows, terms, n_terms, max_depth, tie_b_first, lookahead);
    if (rc == 1)
        rc = CSE_INFEASIBLE;
    else if (rc == -1)
        rc = CSE_NO_MEMORY;
    else if (rc == -2)
        rc = CSE_TOO_MANY_VALUES;
    else if (rc)
        rc = CSE_INTERNAL;
    if (rc) {
        solver_free(&P);
        return rc;
    }
    int64_t n_left = 0;
    for (int r = 0; r < P.m; r++)
        n_left += (int64_t)(P.row_in[r].n + P.row_nd[r].n);
    out->nodes = malloc(((size_t)P.n_nodes + 1) * sizeof(CseNode));
    out->left = malloc(((size_t)n_left + 1) * sizeof(CseTerm));
    out->row_start = malloc(((size_t)P.m + 1) * sizeof(int64_t));
    if (!out->nodes || !out->left || !out->row_start) {
        cse_result_free(out);
        solver_free(&P);
        return CSE_NO_MEMORY;
    }
    out->n_nodes = P.n_nodes;
    for (int64_t k = 0; k < P.n_nodes; k++) {
        CseNode node = {P.nd_a[k], P.nd_ash[k], P.nd_b[k], P.nd_bsh[k], P.nd_sign[k]};
        out->nodes[k] = node;
    }
    int64_t i = 0;
    for (int r = 0; r < P.m; r++) {
        out->row_start[r] = i;
        const RowList *lists[2] = {&P.row_in[r], &P.row_nd[r]};
        for (int l = 0; l < 2; l++)
            for (size_t j = 0; j < lists[l]->n; j++) {
                int32_t t = lists[l]->t[j];
                CseTerm term = {P.t_value[t], P.t_shift[t], P.t_sign[t]};
                out->left[i++] = term;
            }
    }
    out->row_start[P.m] = i;
    solver_free(&P);
    return 0;
}

/* -- Python interface ------------------------------------------------------------------------- */

static int buffer_is_int32(const Py_buffer *view)
{
    if (view->itemsize != 4 || !view->format)
        return 0;
    const char *f = view->format;
    if (*f == '@' || *f == '=')
        f++;
    else if (*f == '<') {
        const uint16_t one = 1;
        if (*(const uint8_t *)&one != 1)
            return 0;
        f++;
    }
    return (f[0] == 'i' || f[0] == 'l') && f[1] == '\0';
}

PyDoc_STRVAR(solve_doc,
"solve(n_values, depths, n_rows, terms, max_depth, tie_b_first, lookahead) -> (nodes, rows_left) or None\n"
"\n"
"Pair-pattern CSE of cmvm.core._PairCse.  Values 0..n_values-1 are the inputs, of\n"
"the given adder depths.  terms: a C-contiguous int32 buffer of shape (N, 4),\n"
"each (row, value, shift, sign) with 0 <= row < n_rows, 0 <= shift < 127,\n"
"sign +-1, and each (row, value, shift) at most once.  max_depth: the depth\n"
"bound (at most 60), or -1 for none.  tie_b_first: among equal counts prefer\n"
"the pattern with the newest operand b (else a).  lookahead: the work of the\n"
"look-ahead on pattern choice (cmvm.core._pilot_cse), 0 for none.\n"
"\n"
"nodes: (a, a_shift, b, b_shift, sign) per adder, node k being value\n"
"n_values + k = (v_a << a_shift) + sign * (v_b << b_shift).  rows_left: each\n"
"row's remaining terms (value, shift, sign).  None: a row's terms cannot be\n"
"summed within max_depth.");

void set_cse_error(int rc, const char *where)
{
    switch (rc) {
    case CSE_NO_MEMORY:
        PyErr_NoMemory();
        break;
    case CSE_TOO_MANY_VALUES:
        PyErr_Format(PyExc_ValueError, "the CSE needs more than %lld values", (long long)MAX_VALUES);
        break;
    case CSE_TOO_MANY_ROWS:
        PyErr_SetString(PyExc_ValueError, "too many rows for the CSE solver");
        break;
    default:
        PyErr_Format(PyExc_RuntimeError, "%s: internal error (code %d)", where, rc);
        break;
    }
}

static PyObject *py_solve(PyObject *self, PyObject *args)
{
    (void)self;
    Py_ssize_t n_values, n_rows;
    PyObject *depths_obj, *terms_obj;
    int max_depth, tie_b_first;
    long long lookahead;
    if (!PyArg_ParseTuple(args, "nOnOipL:solve", &n_values, &depths_obj, &n_rows, &terms_obj, &max_depth,
                          &tie_b_first, &lookahead))
        return NULL;
    if (lookahead < 0 || lookahead > (1LL << 20)) {
        PyErr_SetString(PyExc_ValueError, "lookahead must lie in 0..2**20");
        return NULL;
    }
    if (n_values < 0 || n_values >= MAX_VALUES || n_rows < 0 || n_rows >= INT32_MAX) {
        PyErr_SetString(PyExc_ValueError, "n_values or n_rows out of range");
        return NULL;
    }
    if (max_depth < -1 || max_depth > MAX_DEPTH_BOUND) {
        PyErr_Format(PyExc_ValueError, "max_depth must be -1 (none) or 0..%d, got %d", MAX_DEPTH_BOUND,
                     max_depth);
        return NULL;
    }
    PyObject *depths_seq = PySequence_Fast(depths_obj, "depths must be a sequence");
    if (!depths_seq)
        return NULL;
    if (PySequence_Fast_GET_SIZE(depths_seq) != n_values) {
        Py_DECREF(depths_seq);
        PyErr_SetString(PyExc_ValueError, "depths must have n_values entries");
        return NULL;
    }
    int32_t *depths = malloc(((size_t)n_values + 1) * sizeof(int32_t));
    if (!depths) {
        Py_DECREF(depths_seq);
        return PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n_values; i++) {
        long x = PyLong_AsLong(PySequence_Fast_GET_ITEM(depths_seq, i));
        if (x == -1 && PyErr_Occurred()) {
            Py_DECREF(depths_seq);
            free(depths);
            return NULL;
        }
        if (x < 0 || x > (1L << 24)) {
            Py_DECREF(depths_seq);
            free(depths);
            PyErr_SetString(PyExc_ValueError, "depths must lie in 0..2**24");
            return NULL;
        }
        depths[i] = (int32_t)x;
    }
    Py_DECREF(depths_seq);

    Py_buffer view;
    if (PyObject_GetBuffer(terms_obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT)) {
        free(depths);
        return NULL;
    }
    PyObject *result = NULL;
    CseResult R;
    memset(&R, 0, sizeof R);
    if (!buffer_is_int32(&view) || view.len % 16) {
        PyErr_SetString(PyExc_ValueError, "terms must be a C-contiguous int32 buffer of shape (N, 4)");
        goto done;
    }
    const int32_t *terms = view.buf;
    Py_ssize_t n_terms = view.len / 16;
    if (n_terms >= INT32_MAX / 2) {
        PyErr_SetString(PyExc_ValueError, "too many terms");
        goto done;
    }
    for (Py_ssize_t i = 0; i < n_terms; i++) {
        const int32_t *x = terms + 4 * i;
        if (x[0] < 0 || x[0] >= n_rows || x[1] < 0 || x[1] >= n_values || x[2] < 0 ||
            x[2] >= MAX_SHIFT_PLANES - 1 || (x[3] != 1 && x[3] != -1)) {
            PyErr_Format(PyExc_ValueError, "term %zd = (%d, %d, %d, %d) out of range", i, x[0], x[1], x[2],
                         x[3]);
            goto done;
        }
    }
    /* each (row, value, shift) once */
    {
        int S = 1;
        for (Py_ssize_t i = 0; i < n_terms; i++)
            if (terms[4 * i + 2] + 1 > S)
                S = terms[4 * i + 2] + 1;
        size_t planes = (size_t)n_values * (size_t)n_rows * (size_t)S;
        uint8_t *seen = calloc(planes ? planes : 1, 1);
        if (!seen) {
            PyErr_NoMemory();
            goto done;
        }
        for (Py_ssize_t i = 0; i < n_terms; i++) {
            const int32_t *x = terms + 4 * i;
            size_t at = ((size_t)x[1] * (size_t)n_rows + (size_t)x[0]) * (size_t)S + (size_t)x[2];
            if (seen[at]) {
                free(seen);
                PyErr_Format(PyExc_ValueError, "term (%d, %d, %d) given twice", x[0], x[1], x[2]);
                goto done;
            }
            seen[at] = 1;
        }
        free(seen);
    }

    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pair_cse_solve((int)n_values, depths, (int)n_rows, terms, n_terms, max_depth, tie_b_first, lookahead,
                        &R);
    Py_END_ALLOW_THREADS
    switch (rc) {
    case 0:
        break;
    case CSE_INFEASIBLE:
        result = Py_NewRef(Py_None);
        goto done;
    default:
        set_cse_error(rc, "_pair_cse.solve");
        goto done;
    }

    /* many small tuples: no garbage collection passes while they are made */
    int gc_was_enabled = PyGC_Disable();
    PyObject *nodes = PyList_New((Py_ssize_t)R.n_nodes);
    PyObject *rows = PyList_New(n_rows);
    if (!nodes || !rows) {
        Py_XDECREF(nodes);
        Py_XDECREF(rows);
        if (gc_was_enabled)
            PyGC_Enable();
        goto done;
    }
    for (int64_t k = 0; k < R.n_nodes; k++) {
        const CseNode *x = &R.nodes[k];
        PyObject *node = Py_BuildValue("(iiiii)", x->a, x->a_shift, x->b, x->b_shift, x->sign);
        if (!node)
            goto fail;
        PyList_SET_ITEM(nodes, (Py_ssize_t)k, node);
    }
    for (Py_ssize_t r = 0; r < n_rows; r++) {
        PyObject *row = PyList_New((Py_ssize_t)(R.row_start[r + 1] - R.row_start[r]));
        if (!row)
            goto fail;
        PyList_SET_ITEM(rows, r, row);
        for (int64_t i = R.row_start[r]; i < R.row_start[r + 1]; i++) {
            PyObject *term = Py_BuildValue("(iii)", R.left[i].value, R.left[i].shift, R.left[i].sign);
            if (!term)
                goto fail;
            PyList_SET_ITEM(row, (Py_ssize_t)(i - R.row_start[r]), term);
        }
    }
    result = PyTuple_Pack(2, nodes, rows);
fail:
    Py_DECREF(nodes);
    Py_DECREF(rows);
    if (gc_was_enabled)
        PyGC_Enable();
done:
    cse_result_free(&R);
    PyBuffer_Release(&view);
    free(depths);
    return result;
}

static PyMethodDef methods[] = {
    {"solve", py_solve, METH_VARARGS, solve_doc},
    {"plans", py_plans, METH_VARARGS, plans_doc},
    {NULL, NULL, 0, NULL},
};

static PyModuleDef_Slot slots[] = {
    {Py_mod_multiple_interpreters, Py_MOD_PER_INTERPRETER_GIL_SUPPORTED},
#ifdef Py_GIL_DISABLED
    {Py_mod_gil, Py_MOD_GIL_NOT_USED},
#endif
    {0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "hardcore._pair_cse",
    .m_doc = "Pair-pattern common-subexpression elimination for constant matrix-vector products "
             "(the C core of hardcore.cmvm).",
    .m_size = 0,
    .m_methods = methods,
    .m_slots = slots,
};

PyMODINIT_FUNC PyInit__pair_cse(void)
{
    return PyModuleDef_Init(&module);
}
