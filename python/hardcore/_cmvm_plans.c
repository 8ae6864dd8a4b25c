/*
 * hardcore._pair_cse.plans: the plans of hardcore.cmvm.plans._best_plan in C.
 *
 * A step-for-step port of cmvm's Python plan machinery (which stays the
 * reference, HARDCORE_CMVM_CORE=python): the same plans in the same order,
 * the same difference trees, the same final adder trees, so the same graphs.
 * One call runs every plan (or the ones asked for) on one matrix and returns
 * each plan's score and the best graph, so a plan costs no Python at all.
 *
 * Plans (codes as in cmvm.plans): direct CSE of the rows; CSE of row
 * differences along a spanning tree, then CSE of the tree's sums (two
 * stages); and both again on W^T, turned into W by transposition.
 *
 * Magnitude bounds are 128-bit; the matrix entries must stay below 2^60 (the
 * caller checks), and an intermediate coefficient beyond int64 or a magnitude
 * beyond 2^126 ends the call with None, for the Python machinery to redo.
 */
#include "_pair_cse.h"

#include <stdlib.h>
#include <string.h>

typedef unsigned __int128 u128;

#define MAG_LIMIT ((u128)1 << 126)
#define PLAN_OVERFLOW (-5)
#define MAX_PATHS 8
#define TRANSPOSED_CODE 100
#define KIND_CODE 10
#define FORM_CODE 1000
#define MAX_FORMS 16
#define N_DIGIT_FORMS 2

/* -- graphs under construction (cmvm.builder._Builder) ---------------------------------------- */

typedef struct {
    int n_inputs;
    CseNode *nodes;
    int64_t n_nodes;
    size_t cap;      /* nodes */
    int32_t *depth;  /* n_inputs + cap */
    u128 *mag;       /* n_inputs + cap */
    int overflow;
} Builder;

/* an output (value << shift) * sign, or none (value < 0) */
typedef struct {
    int32_t value, shift, sign;
} Out;

static const Out NO_OUT = {-1, 0, 1};

static int builder_init(Builder *B, int n_inputs, const u128 *mags)
{
    memset(B, 0, sizeof *B);
    B->n_inputs = n_inputs;
    B->cap = 64;
    B->nodes = malloc(B->cap * sizeof(CseNode));
    B->depth = malloc(((size_t)n_inputs + B->cap) * sizeof(int32_t));
    B->mag = malloc(((size_t)n_inputs + B->cap) * sizeof(u128));
    if (!B->nodes || !B->depth || !B->mag)
        return CSE_NO_MEMORY;
    for (int j = 0; j < n_inputs; j++) {
        B->depth[j] = 0;
        B->mag[j] = mags[j];
    }
    return 0;
}

static void builder_free(Builder *B)
{
    free(B->nodes);
    free(B->depth);
    free(B->mag);
    memset(B, 0, sizeof *B);
}

static inline int64_t builder_values(const Builder *B)
{
    return B->n_inputs + B->n_nodes;
}

static inline u128 shifted(Builder *B, u128 x, int32_t s)
{
    if (s >= 126 || x > (MAG_LIMIT >> s)) {
        B->overflow = 1;
        return MAG_LIMIT;
    }
    return x << s;
}

/* the new node's value, or -1 if out of memory */
static int32_t builder_add(Builder *B, int32_t a, int32_t a_shift, int32_t b, int32_t b_shift, int32_t sign)
{
    if ((size_t)B->n_nodes == B->cap) {
        size_t cap = B->cap * 2, values = (size_t)B->n_inputs + cap;
        CseNode *nodes = realloc(B->nodes, cap * sizeof(CseNode));
        if (!nodes)
            return -1;
        B->nodes = nodes;
        int32_t *depth = realloc(B->depth, values * sizeof(int32_t));
        if (!depth)
            return -1;
        B->depth = depth;
        u128 *mag = realloc(B->mag, values * sizeof(u128));
        if (!mag)
            return -1;
        B->mag = mag;
        B->cap = cap;
    }
    CseNode node = {a, a_shift, b, b_shift, sign};
    int32_t v = (int32_t)builder_values(B);
    B->nodes[B->n_nodes++] = node;
    B->depth[v] = 1 + (B->depth[a] > B->depth[b] ? B->depth[a] : B->depth[b]);
    u128 m = shifted(B, B->mag[a], a_shift) + shifted(B, B->mag[b], b_shift);
    if (m >= MAG_LIMIT) {
        B->overflow = 1;
        m = MAG_LIMIT;
    }
    B->mag[v] = m;
    return v;
}

static int bit_length(u128 x)
{
    uint64_t hi = (uint64_t)(x >> 64), lo = (uint64_t)x;
    if (hi)
        return 128 - __builtin_clzll(hi);
    return lo ? 64 - __builtin_clzll(lo) : 0;
}

static int64_t width_sum(const Builder *B)
{
    int64_t sum = 0;
    for (int64_t k = 0; k < B->n_nodes; k++)
        sum += bit_length(B->mag[B->n_inputs + k]) + 1;
    return sum;
}

/* -- final adder trees (cmvm.builder._sum_terms) ------------------------------------------------ */

typedef struct {
    int32_t depth, shift, value, sign;
} HeapTerm;

typedef struct {
    HeapTerm *v;
    size_t n, cap;
} Terms;

static int terms_push(Terms *t, HeapTerm x)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? 2 * t->cap : 16;
        HeapTerm *v = realloc(t->v, cap * sizeof(HeapTerm));
        if (!v)
            return -1;
        t->v = v;
        t->cap = cap;
    }
    t->v[t->n++] = x;
    return 0;
}

static inline int term_less(const HeapTerm *x, const HeapTerm *y)
{
    if (x->depth != y->depth)
        return x->depth < y->depth;
    if (x->shift != y->shift)
        return x->shift < y->shift;
    if (x->value != y->value)
        return x->value < y->value;
    return x->sign < y->sign;
}

static void sift_down(HeapTerm *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, s = i;
        if (l < n && term_less(&h[l], &h[s]))
            s = l;
        if (r < n && term_less(&h[r], &h[s]))
            s = r;
        if (s == i)
            return;
        HeapTerm t = h[i];
        h[i] = h[s];
        h[s] = t;
        i = s;
    }
}

static HeapTerm heap_take(HeapTerm *h, size_t *n)
{
    HeapTerm top = h[0];
    h[0] = h[--*n];
    sift_down(h, *n, 0);
    return top;
}

static void heap_put(HeapTerm *h, size_t *n, HeapTerm x)
{
    size_t i = (*n)++;
    h[i] = x;
    while (i) {
        size_t p = (i - 1) / 2;
        if (!term_less(&h[i], &h[p]))
            break;
        HeapTerm t = h[i];
        h[i] = h[p];
        h[p] = t;
        i = p;
    }
}

/* The terms summed by a minimal-depth tree, shallowest and lowest-shifted first; *out the sum.
 * The pops depend on the multiset of terms alone, so the tree is Python's heapq tree. */
static int sum_terms(Builder *B, Terms *t, Out *out)
{
    size_t n = t->n;
    if (!n) {
        *out = NO_OUT;
        return 0;
    }
    HeapTerm *h = t->v;
    for (size_t i = n / 2; i-- > 0;)
        sift_down(h, n, i);
    while (n > 1) {
        HeapTerm x = heap_take(h, &n), y = heap_take(h, &n);
        if (x.sign < 0 && 0 < y.sign) { /* a - b rather than -a + b */
            HeapTerm s = x;
            x = y;
            y = s;
        }
        int32_t common = x.shift < y.shift ? x.shift : y.shift;
        int32_t v = builder_add(B, x.value, x.shift - common, y.value, y.shift - common, x.sign * y.sign);
        if (v < 0)
            return CSE_NO_MEMORY;
        HeapTerm z = {B->depth[v], common, v, x.sign};
        heap_put(h, &n, z);
    }
    Out o = {h[0].value, h[0].shift, h[0].sign};
    *out = o;
    t->n = 0;
    return 0;
}

/* -- digits and canonical rows ------------------------------------------------------------------ */

static inline int naf_weight(int64_t v)
{
    uint64_t a = v < 0 ? -(uint64_t)v : (uint64_t)v;
    uint64_t half = a >> 1;
    return __builtin_popcountll(half ^ (a + half));
}

/* The digits of v in digit form `form` (cmvm.digit_planes) as terms (row, column, shift, digit) at t;
   returns the end. */
static int32_t *form_digits(int64_t v, int form, int32_t row, int32_t column, int32_t *t)
{
    int negative = v < 0;
    int64_t r = (int64_t)(negative ? -(uint64_t)v : (uint64_t)v);
    for (int s = 0; r; s++) {
        if (r & 1) {
            int digit = 2 - (int)((uint64_t)r & 3);
            if (form == 1) {
                int weight = naf_weight(r);
                if (naf_weight((r - 1) >> 1) < weight && naf_weight((r + 1) >> 1) < weight)
                    digit = 1;
            }
            t[0] = row;
            t[1] = column;
            t[2] = s;
            t[3] = negative ? -digit : digit;
            t += 4;
            r -= digit;
        }
        r >>= 1;
    }
    return t;
}

static int ceil_log2(int64_t k)
{
    int bits = 0;
    for (int64_t x = k - 1; k > 1 && x; x >>= 1)
        bits++;
    return bits;
}

/* cmvm.min_depth */
static int min_depth_of(const int64_t *X, int rows, int cols)
{
    int depth = 0;
    for (int i = 0; i < rows; i++) {
        int64_t digits = 0;
        for (int j = 0; j < cols; j++)
            digits += naf_weight(X[(size_t)i * cols + j]);
        int d = ceil_log2(digits);
        if (d > depth)
            depth = d;
    }
    return depth;
}

/* Rows equal up to sign and a power of two, merged (cmvm.builder._canonical_rows). */
typedef struct {
    int64_t *rows; /* k unique canonical rows of cols entries */
    int k;
    int32_t *row_of, *shift, *sign; /* per input row; row_of -1 for a zero row */
} Canonical;

static void canonical_free(Canonical *C)
{
    free(C->rows);
    free(C->row_of);
    free(C->shift);
    free(C->sign);
    memset(C, 0, sizeof *C);
}

/* cmvm.builder._expand_rows: each original row is its canonical row's output, shifted and signed. */
static void expand_rows(const Canonical *C, const Out *canonical_outs, int rows, Out *outs)
{
    for (int i = 0; i < rows; i++) {
        outs[i] = NO_OUT;
        if (C->row_of[i] >= 0 && canonical_outs[C->row_of[i]].value >= 0) {
            Out o = canonical_outs[C->row_of[i]];
            o.shift += C->shift[i];
            o.sign *= C->sign[i];
            outs[i] = o;
        }
    }
}


static uint64_t row_hash(const int64_t *row, int cols)
{
    uint64_t h = 1469598103934665603ULL;
    for (int j = 0; j < cols; j++) {
        h ^= (uint64_t)row[j];
        h *= 1099511628211ULL;
        h ^= h >> 29;
    }
    return h;
}

static int canonical_rows(const int64_t *X, int rows, int cols, Canonical *C)
{
    memset(C, 0, sizeof *C);
    size_t slots = 16;
    while (slots < 2 * (size_t)rows)
        slots *= 2;
    C->rows = malloc(((size_t)rows * cols + 1) * sizeof(int64_t));
    C->row_of = malloc(((size_t)rows + 1) * sizeof(int32_t));
    C->shift = malloc(((size_t)rows + 1) * sizeof(int32_t));
    C->sign = malloc(((size_t)rows + 1) * sizeof(int32_t));
    int32_t *table = malloc(slots * sizeof(int32_t));
    if (!C->rows || !C->row_of || !C->shift || !C->sign || !table) {
        free(table);
        return CSE_NO_MEMORY;
    }
    for (size_t s = 0; s < slots; s++)
        table[s] = -1;
    for (int i = 0; i < rows; i++) {
        const int64_t *row = X + (size_t)i * cols;
        int shift = 64, sign = 0;
        for (int j = 0; j < cols; j++)
            if (row[j]) {
                int tz = __builtin_ctzll((uint64_t)row[j]);
                if (tz < shift)
                    shift = tz;
                if (!sign)
                    sign = row[j] > 0 ? 1 : -1;
            }
        if (!sign) {
            C->row_of[i] = -1;
            C->shift[i] = 0;
            C->sign[i] = 1;
            continue;
        }
        int64_t *candidate = C->rows + (size_t)C->k * cols;
        for (int j = 0; j < cols; j++)
            candidate[j] = (row[j] >> shift) * sign; /* exact: every entry has shift trailing zeros */
        size_t s = row_hash(candidate, cols) & (slots - 1);
        while (table[s] >= 0 && memcmp(C->rows + (size_t)table[s] * cols, candidate, (size_t)cols * sizeof(int64_t)))
            s = (s + 1) & (slots - 1);
        if (table[s] < 0)
            table[s] = C->k++;
        C->row_of[i] = table[s];
        C->shift[i] = shift;
        C->sign[i] = sign;
    }
    free(table);
    return 0;
}

/* -- one CSE of rows over given values (cmvm.plans._cse_rows with the C core) --------------------- */

static int cse_rows(Builder *B, const int64_t *X, int rows, int cols, const int32_t *input_values, int max_depth,
                    int tie_b, int form, int64_t lookahead, Out *outs)
{
    Canonical C;
    int32_t *depths = NULL, *terms = NULL, *values = NULL;
    Out *canonical_outs = NULL;
    Terms heap = {0};
    CseResult R;
    memset(&R, 0, sizeof R);
    int rc = canonical_rows(X, rows, cols, &C);
    if (rc)
        goto done;
    int64_t n_terms = 0;
    for (size_t i = 0; i < (size_t)C.k * cols; i++)
        n_terms += naf_weight(C.rows[i]);
    depths = malloc(((size_t)cols + 1) * sizeof(int32_t));
    terms = malloc(((size_t)n_terms * 4 + 1) * sizeof(int32_t));
    canonical_outs = malloc(((size_t)C.k + 1) * sizeof(Out));
    if (!depths || !terms || !canonical_outs) {
        rc = CSE_NO_MEMORY;
        goto done;
    }
    for (int j = 0; j < cols; j++)
        depths[j] = B->depth[input_values[j]];
    /* digits in (row, input, shift) order, as np.nonzero of cmvm.digit_planes */
    int32_t *t = terms;
    for (int r = 0; r < C.k; r++)
        for (int j = 0; j < cols; j++)
            t = form_digits(C.rows[(size_t)r * cols + j], form, r, j, t);
    rc = pair_cse_solve(cols, depths, C.k, terms, n_terms, max_depth, tie_b, lookahead, &R);
    if (rc)
        goto done;
    values = malloc(((size_t)cols + (size_t)R.n_nodes + 1) * sizeof(int32_t));
    if (!values) {
        rc = CSE_NO_MEMORY;
        goto done;
    }
    memcpy(values, input_values, (size_t)cols * sizeof(int32_t));
    for (int64_t k = 0; k < R.n_nodes; k++) {
        const CseNode *x = &R.nodes[k];
        int32_t v = builder_add(B, values[x->a], x->a_shift, values[x->b], x->b_shift, x->sign);
        if (v < 0) {
            rc = CSE_NO_MEMORY;
            goto done;
        }
        values[cols + k] = v;
    }
    for (int r = 0; r < C.k; r++) {
        for (int64_t i = R.row_start[r]; i < R.row_start[r + 1]; i++) {
            int32_t v = values[R.left[i].value];
            HeapTerm x = {B->depth[v], R.left[i].shift, v, R.left[i].sign};
            if (terms_push(&heap, x)) {
                rc = CSE_NO_MEMORY;
                goto done;
            }
        }
        rc = sum_terms(B, &heap, &canonical_outs[r]);
        if (rc)
            goto done;
    }
    expand_rows(&C, canonical_outs, rows, outs);
done:
    canonical_free(&C);
    cse_result_free(&R);
    free(depths);
    free(terms);
    free(values);
    free(canonical_outs);
    free(heap.v);
    return rc;
}

/* -- difference trees and the two-stage plan (cmvm.plans._difference_tree, cmvm.plans._two_stage) --- */

typedef struct {
    int32_t *parent, *sign, *path;
    int64_t digits;
    int max_path; /* the longest path in the tree */
} Tree;

static void tree_free(Tree *T)
{
    free(T->parent);
    free(T->sign);
    free(T->path);
    memset(T, 0, sizeof *T);
}

static int difference_tree(const int64_t *X, int k, int cols, int max_path, Tree *T)
{
    memset(T, 0, sizeof *T);
    T->parent = malloc(((size_t)k + 1) * sizeof(int32_t));
    T->sign = malloc(((size_t)k + 1) * sizeof(int32_t));
    T->path = malloc(((size_t)k + 1) * sizeof(int32_t));
    int64_t *best_cost = malloc(((size_t)k + 1) * sizeof(int64_t));
    int32_t *best_parent = malloc(((size_t)k + 1) * sizeof(int32_t));
    int32_t *best_sign = malloc(((size_t)k + 1) * sizeof(int32_t));
    uint8_t *in_tree = calloc((size_t)k + 1, 1);
    int rc = 0;
    if (!T->parent || !T->sign || !T->path || !best_cost || !best_parent || !best_sign || !in_tree) {
        rc = CSE_NO_MEMORY;
        goto done;
    }
    for (int i = 0; i < k; i++) {
        int64_t w = 0;
        for (int j = 0; j < cols; j++)
            w += naf_weight(X[(size_t)i * cols + j]);
        best_cost[i] = w;
        best_parent[i] = -1;
        best_sign[i] = 1;
    }
    for (int step = 0; step < k; step++) {
        int i = -1;
        for (int r = 0; r < k; r++)
            if (!in_tree[r] && (i < 0 || best_cost[r] < best_cost[i]))
                i = r;
        in_tree[i] = 1;
        T->parent[i] = best_parent[i];
        T->sign[i] = best_sign[i];
        T->path[i] = T->parent[i] < 0 ? 1 : T->path[T->parent[i]] + 1;
        if (T->path[i] > T->max_path)
            T->max_path = T->path[i];
        if (T->path[i] >= max_path)
            continue;
        const int64_t *xi = X + (size_t)i * cols;
        for (int r = 0; r < k; r++) {
            if (in_tree[r])
                continue;
            const int64_t *xr = X + (size_t)r * cols;
            int64_t minus = 1, plus = 1;
            for (int j = 0; j < cols; j++) {
                minus += naf_weight(xr[j] - xi[j]);
                plus += naf_weight(xr[j] + xi[j]);
            }
            int64_t cost = minus < plus ? minus : plus;
            if (cost < best_cost[r]) {
                best_cost[r] = cost;
                best_parent[r] = i;
                best_sign[r] = minus <= plus ? 1 : -1;
            }
        }
    }
    for (int i = 0; i < k; i++)
        T->digits += best_cost[i];
done:
    free(best_cost);
    free(best_parent);
    free(best_sign);
    free(in_tree);
    return rc;
}

static int two_stage(Builder *B, const int64_t *X, int k, int cols, const Tree *T, int max_depth, int tie_b,
                     int form, int64_t lookahead, Out *outs)
{
    int rc = 0;
    int64_t *differences = malloc(((size_t)k * cols + 1) * sizeof(int64_t));
    int32_t *inputs = malloc(((size_t)cols + 1) * sizeof(int32_t));
    Out *z = malloc(((size_t)k + 1) * sizeof(Out));
    int32_t *order = malloc(((size_t)k + 1) * sizeof(int32_t));
    /* path of row i: (row j, sign c) from the root down, at most T->max_path long */
    int P = T->max_path;
    int32_t *path_row = malloc(((size_t)k * P + 1) * sizeof(int32_t));
    int32_t *path_sign = malloc(((size_t)k * P + 1) * sizeof(int32_t));
    int32_t *column_of = NULL, *columns = NULL;
    int64_t *stage1 = NULL, *packed = NULL;
    if (!differences || !inputs || !z || !order || !path_row || !path_sign) {
        rc = CSE_NO_MEMORY;
        goto done;
    }
    for (int i = 0; i < k; i++)
        for (int j = 0; j < cols; j++) {
            int64_t x = X[(size_t)i * cols + j];
            if (T->parent[i] >= 0)
                x -= T->sign[i] * X[(size_t)T->parent[i] * cols + j];
            differences[(size_t)i * cols + j] = x;
        }
    int stage0_depth = -1;
    if (max_depth >= 0) {
        stage0_depth = max_depth - ceil_log2(P);
        if (stage0_depth < 0 || min_depth_of(differences, k, cols) > stage0_depth) {
            rc = CSE_INFEASIBLE;
            goto done;
        }
    }
    for (int j = 0; j < cols; j++)
        inputs[j] = j;
    rc = cse_rows(B, differences, k, cols, inputs, stage0_depth, tie_b, form, lookahead, z);
    if (rc)
        goto done;
    /* rows in order of path length (a stable sort): each one's parent's path is known before it */
    int n_ordered = 0;
    for (int length = 1; length <= P; length++)
        for (int i = 0; i < k; i++)
            if (T->path[i] == length)
                order[n_ordered++] = i;
    for (int o = 0; o < n_ordered; o++) {
        int i = order[o], p = T->parent[i], length = T->path[i];
        for (int q = 0; q + 1 < length; q++) {
            path_row[(size_t)i * P + q] = path_row[(size_t)p * P + q];
            path_sign[(size_t)i * P + q] = T->sign[i] * path_sign[(size_t)p * P + q];
        }
        path_row[(size_t)i * P + length - 1] = i;
        path_sign[(size_t)i * P + length - 1] = 1;
    }
    /* y_i = the sum of its path's z's: columns are the distinct z values, numbered as met */
    int64_t n_values = builder_values(B);
    column_of = malloc(((size_t)n_values + 1) * sizeof(int32_t));
    columns = malloc(((size_t)k + 1) * sizeof(int32_t));
    stage1 = calloc((size_t)k * k + 1, sizeof(int64_t));
    if (!column_of || !columns || !stage1) {
        rc = CSE_NO_MEMORY;
        goto done;
    }
    for (int64_t v = 0; v < n_values; v++)
        column_of[v] = -1;
    int n_columns = 0;
    for (int i = 0; i < k; i++)
        for (int q = 0; q < T->path[i]; q++) {
            Out zj = z[path_row[(size_t)i * P + q]];
            if (zj.value < 0) {
                rc = CSE_INTERNAL; /* a difference of two distinct canonical rows is never zero */
                goto done;
            }
            if (column_of[zj.value] < 0) {
                column_of[zj.value] = n_columns;
                columns[n_columns++] = zj.value;
            }
            int64_t *entry = &stage1[(size_t)i * k + column_of[zj.value]];
            if (zj.shift >= 62) {
                rc = PLAN_OVERFLOW;
                goto done;
            }
            int64_t term = (int64_t)path_sign[(size_t)i * P + q] * zj.sign * ((int64_t)1 << zj.shift);
            if (__builtin_add_overflow(*entry, term, entry)) {
                rc = PLAN_OVERFLOW;
                goto done;
            }
        }
    packed = malloc(((size_t)k * n_columns + 1) * sizeof(int64_t));
    if (!packed) {
        rc = CSE_NO_MEMORY;
        goto done;
    }
    for (int i = 0; i < k; i++)
        memcpy(packed + (size_t)i * n_columns, stage1 + (size_t)i * k, (size_t)n_columns * sizeof(int64_t));
    if (max_depth >= 0) {
        for (int i = 0; i < k; i++) {
            u128 kraft = 0;
            for (int c = 0; c < n_columns; c++) {
                int64_t x = packed[(size_t)i * n_columns + c];
                if (x)
                    kraft += (u128)naf_weight(x) << B->depth[columns[c]];
            }
            if (kraft > ((u128)1 << max_depth)) {
                rc = CSE_INFEASIBLE;
                goto done;
            }
        }
    }
    rc = cse_rows(B, packed, k, n_columns, columns, max_depth, tie_b, form, lookahead, outs);
done:
    free(differences);
    free(inputs);
    free(z);
    free(order);
    free(path_row);
    free(path_sign);
    free(column_of);
    free(columns);
    free(stage1);
    free(packed);
    return rc;
}

/* -- transposition (cmvm.plans._transpose_into) ------------------------------------------------- */

/* W·x into B from a graph I of W^T·u (I's n_outputs outputs, one per input of B). */
static int transpose_into(Builder *B, const Builder *I, const Out *inner_outputs, int n_outputs, int max_depth,
                          Out *outs)
{
    int64_t nv = builder_values(I);
    int rc = 0;
    int64_t *start = calloc((size_t)nv + 2, sizeof(int64_t));
    int64_t n_uses = 2 * I->n_nodes + n_outputs;
    /* a use: (target value or -1, column, shift, sign) */
    int32_t *use = malloc(((size_t)n_uses * 4 + 1) * sizeof(int32_t));
    Out *sums = malloc(((size_t)nv + 1) * sizeof(Out));
    int64_t *fill = malloc(((size_t)nv + 1) * sizeof(int64_t));
    Terms heap = {0};
    if (!start || !use || !sums || !fill) {
        rc = CSE_NO_MEMORY;
        goto done;
    }
    for (int j = 0; j < n_outputs; j++)
        if (inner_outputs[j].value >= 0)
            start[inner_outputs[j].value + 1]++;
    for (int64_t k = 0; k < I->n_nodes; k++) {
        start[I->nodes[k].a + 1]++;
        start[I->nodes[k].b + 1]++;
    }
    for (int64_t v = 0; v < nv; v++)
        start[v + 1] += start[v];
    memcpy(fill, start, (size_t)nv * sizeof(int64_t));
#define PUT_USE(v, target, column, shift, sign)                                                                \
    do {                                                                                                       \
        int32_t *u_ = use + 4 * fill[(v)]++;                                                                   \
        u_[0] = (target);                                                                                      \
        u_[1] = (column);                                                                                      \
        u_[2] = (shift);                                                                                       \
        u_[3] = (sign);                                                                                        \
    } while (0)
    for (int j = 0; j < n_outputs; j++)
        if (inner_outputs[j].value >= 0)
            PUT_USE(inner_outputs[j].value, -1, j, inner_outputs[j].shift, inner_outputs[j].sign);
    for (int64_t k = 0; k < I->n_nodes; k++) {
        int32_t target = (int32_t)(I->n_inputs + k);
        PUT_USE(I->nodes[k].a, target, -1, I->nodes[k].a_shift, 1);
        PUT_USE(I->nodes[k].b, target, -1, I->nodes[k].b_shift, I->nodes[k].sign);
    }
#undef PUT_USE
    for (int64_t v = nv - 1; v >= 0; v--) {
        for (int64_t e = start[v]; e < start[v + 1]; e++) {
            const int32_t *u = use + 4 * e;
            HeapTerm x;
            if (u[0] < 0) {
                HeapTerm y = {B->depth[u[1]], u[2], u[1], u[3]};
                x = y;
            } else {
                Out s = sums[u[0]];
                if (s.value < 0)
                    continue;
                HeapTerm y = {B->depth[s.value], s.shift + u[2], s.value, s.sign * u[3]};
                x = y;
            }
            if (terms_push(&heap, x)) {
                rc = CSE_NO_MEMORY;
                goto done;
            }
        }
        rc = sum_terms(B, &heap, &sums[v]);
        if (rc)
            goto done;
    }
    for (int i = 0; i < I->n_inputs; i++) {
        outs[i] = sums[i];
        if (max_depth >= 0 && outs[i].value >= 0 && B->depth[outs[i].value] > max_depth)
            rc = CSE_INFEASIBLE;
    }
done:
    free(start);
    free(use);
    free(sums);
    free(fill);
    free(heap.v);
    return rc;
}

/* -- the plans (cmvm.plans._plans, cmvm.plans._best_plan's first loop) --------------------------- */

typedef struct {
    /* the problem */
    const int64_t *W;
    int64_t *WT;
    int m, n, max_depth;
    const u128 *mags;
    u128 *inner_mags;
    /* the configuration */
    int64_t small_nonzeros, transpose_nonzeros;
    double gain;
    int n_paths, paths[MAX_PATHS];
    int n_forms, forms[MAX_FORMS]; /* the digit forms run, in order */
    int form;                      /* the one running */
    int64_t lookahead;             /* the look-ahead's work (cmvm.core._pilot_cse), 0: none */
    const int32_t *wanted; /* NULL: every plan */
    int n_wanted;
    int64_t bound_adders, bound_width; /* return the best graph only if it scores below this */
    /* the results: (code, adders, width sum) per feasible plan, in order run */
    int64_t *scores;
    int n_scores, scores_cap;
    int best_code;
    int64_t best_adders, best_width;
    CseNode *best_nodes;
    int64_t best_n_nodes;
    Out *best_outs;
} Search;

static int wanted(const Search *S, int lo, int hi) /* any code in [lo, hi) wanted */
{
    if (!S->wanted)
        return 1;
    for (int i = 0; i < S->n_wanted; i++)
        if (S->wanted[i] >= lo && S->wanted[i] < hi)
            return 1;
    return 0;
}

static int consider(Search *S, int code, Builder *B, const Out *outs)
{
    if (B->overflow)
        return PLAN_OVERFLOW;
    int64_t adders = B->n_nodes, width = width_sum(B);
    if (S->n_scores == S->scores_cap) {
        int cap = S->scores_cap ? 2 * S->scores_cap : 32;
        int64_t *scores = realloc(S->scores, (size_t)cap * 3 * sizeof(int64_t));
        if (!scores)
            return CSE_NO_MEMORY;
        S->scores = scores;
        S->scores_cap = cap;
    }
    int64_t *x = S->scores + 3 * S->n_scores++;
    x[0] = code;
    x[1] = adders;
    x[2] = width;
    int better_than_best = S->best_code < 0 || adders < S->best_adders ||
                           (adders == S->best_adders && width < S->best_width);
    int below_bound = adders < S->bound_adders || (adders == S->bound_adders && width < S->bound_width);
    if (!better_than_best || !below_bound)
        return 0;
    CseNode *nodes = malloc(((size_t)B->n_nodes + 1) * sizeof(CseNode));
    if (!nodes)
        return CSE_NO_MEMORY;
    memcpy(nodes, B->nodes, (size_t)B->n_nodes * sizeof(CseNode));
    memcpy(S->best_outs, outs, (size_t)S->m * sizeof(Out));
    free(S->best_nodes);
    S->best_nodes = nodes;
    S->best_n_nodes = B->n_nodes;
    S->best_code = code;
    S->best_adders = adders;
    S->best_width = width;
    return 0;
}

/* The plan body on X (rows × cols) into B: direct (tree NULL) or two-stage on X's canonical rows C. */
static int plan_body(Builder *B, const int64_t *X, int rows, int cols, const Canonical *C, const Tree *T,
                     int max_depth, int tie_b, int form, int64_t lookahead, Out *outs)
{
    if (!T) {
        int32_t *inputs = malloc(((size_t)cols + 1) * sizeof(int32_t));
        if (!inputs)
            return CSE_NO_MEMORY;
        for (int j = 0; j < cols; j++)
            inputs[j] = j;
        int rc = cse_rows(B, X, rows, cols, inputs, max_depth, tie_b, form, lookahead, outs);
        free(inputs);
        return rc;
    }
    Out *canonical_outs = malloc(((size_t)C->k + 1) * sizeof(Out));
    if (!canonical_outs)
        return CSE_NO_MEMORY;
    int rc = two_stage(B, C->rows, C->k, cols, T, max_depth, tie_b, form, lookahead, canonical_outs);
    if (!rc)
        expand_rows(C, canonical_outs, rows, outs);
    free(canonical_outs);
    return rc;
}

/* Run one plan; transposed plans run on W^T into an inner graph, then turn it around. */
static int run_plan(Search *S, int code, int transposed, const Canonical *C, const Tree *T, int tie_b)
{
    Builder B, I;
    memset(&I, 0, sizeof I);
    Out *outs = malloc(((size_t)S->m + 1) * sizeof(Out));
    Out *inner_outs = malloc(((size_t)S->n + 1) * sizeof(Out));
    int rc = builder_init(&B, S->n, S->mags);
    if (!outs || !inner_outs) {
        rc = CSE_NO_MEMORY;
        goto done;
    }
    if (rc)
        goto done;
    if (!transposed)
        rc = plan_body(&B, S->W, S->m, S->n, C, T, S->max_depth, tie_b, S->form, S->lookahead, outs);
    else {
        rc = builder_init(&I, S->m, S->inner_mags);
        if (!rc)
            rc = plan_body(&I, S->WT, S->n, S->m, C, T, S->max_depth, tie_b, S->form, S->lookahead, inner_outs);
        if (!rc)
            rc = transpose_into(&B, &I, inner_outs, S->n, S->max_depth, outs);
    }
    if (!rc)
        rc = consider(S, code, &B, outs);
    else if (rc == CSE_INFEASIBLE)
        rc = 0; /* this plan cannot meet the bound: the others may */
done:
    builder_free(&B);
    builder_free(&I);
    free(outs);
    free(inner_outs);
    return rc;
}

static int trees_equal(const Tree *x, const Tree *y, int k)
{
    return !memcmp(x->parent, y->parent, (size_t)k * sizeof(int32_t)) &&
           !memcmp(x->sign, y->sign, (size_t)k * sizeof(int32_t));
}

/* cmvm.plans._form_plans on X (rows × cols: W, or W^T when transposed) with digit form S->form */
static int run_plans(Search *S, const int64_t *X, int rows, int cols, int transposed)
{
    int base = S->form * FORM_CODE;
    int offset = base + (transposed ? TRANSPOSED_CODE : 0);
    int64_t nonzeros = 0;
    for (size_t i = 0; i < (size_t)rows * cols; i++)
        nonzeros += X[i] != 0;
    int ties = nonzeros <= S->small_nonzeros ? 2 : 1; /* tie b (code 0), then tie a (code 1) */
    int rc = 0;
    for (int tie = 0; tie < ties && !rc; tie++)
        if (wanted(S, offset + tie, offset + tie + 1))
            rc = run_plan(S, offset + tie, transposed, NULL, NULL, tie == 0);
    if (rc)
        return rc;
    Canonical C;
    Tree trees[MAX_PATHS];
    int n_trees = 0;
    rc = canonical_rows(X, rows, cols, &C);
    if (!rc && C.k >= 3) {
        int64_t direct_digits = 0;
        for (size_t i = 0; i < (size_t)C.k * cols; i++)
            direct_digits += naf_weight(C.rows[i]);
        for (int p = 0; p < S->n_paths && !rc; p++) {
            int kind = offset + (p + 1) * KIND_CODE;
            if (!wanted(S, kind, offset + TRANSPOSED_CODE))
                break; /* nothing wanted from here on */
            Tree *T = &trees[n_trees];
            rc = difference_tree(C.rows, C.k, cols, S->paths[p], T);
            n_trees++;
            if (rc)
                break;
            if ((double)T->digits > S->gain * (double)direct_digits)
                break; /* looser bounds only save a little more */
            int seen = 0;
            for (int q = 0; q + 1 < n_trees; q++)
                seen |= trees_equal(&trees[q], T, C.k);
            if (seen)
                break; /* a looser bound found the same tree */
            for (int tie = 0; tie < ties && !rc; tie++)
                if (wanted(S, kind + tie, kind + tie + 1))
                    rc = run_plan(S, kind + tie, transposed, &C, T, tie == 0);
            if (T->max_path < S->paths[p])
                break; /* a looser bound gives the same tree */
        }
    }
    for (int q = 0; q < n_trees; q++)
        tree_free(&trees[q]);
    canonical_free(&C);
    if (rc || transposed || nonzeros > S->transpose_nonzeros ||
        !wanted(S, base + TRANSPOSED_CODE, base + 2 * TRANSPOSED_CODE))
        return rc;
    return run_plans(S, S->WT, cols, rows, 1);
}

/* -- Python interface ------------------------------------------------------------------------- */

const char plans_doc[] =
    "plans(W, magnitudes, max_depth, wanted, bound, config) -> (scores, best) or None\n"
    "\n"
    "cmvm.plans._best_plan's plans on the int64 matrix W (C-contiguous, m x n, entries\n"
    "below 2**60 in magnitude): magnitudes, the n inputs' magnitude bounds (each\n"
    "below 2**63); max_depth -1 (none) or 0..60; wanted, the plan codes to run,\n"
    "or None for all; bound (adders, width sum): the best graph is returned only\n"
    "if it scores below it; config (small_nonzeros, transpose_nonzeros,\n"
    "difference_gain, difference_paths, digit_forms, lookahead): digit_forms, the forms\n"
    "of cmvm.digit_planes to run the plans with, one after the other (codes + form *\n"
    "1000); lookahead, the work of every CSE's look-ahead (cmvm.core._pilot_cse), 0: none.\n"
    "\n"
    "scores: (code, adders, width sum) per feasible plan, in the order run.  best:\n"
    "(code, nodes, outputs) or None, nodes as in solve() over n inputs, outputs\n"
    "(value, shift, sign) or None per row.  None instead of the pair: a\n"
    "coefficient or magnitude outgrew the C types (the Python plans can do it).";

static int parse_config(PyObject *config, Search *S)
{
    PyObject *paths, *forms;
    long long lookahead;
    if (!PyArg_ParseTuple(config, "LLdOOL:plans config", &S->small_nonzeros, &S->transpose_nonzeros, &S->gain,
                          &paths, &forms, &lookahead))
        return -1;
    if (lookahead < 0 || lookahead > (1LL << 20)) {
        PyErr_SetString(PyExc_ValueError, "lookahead must lie in 0..2**20");
        return -1;
    }
    S->lookahead = lookahead;
    PyObject *form_seq = PySequence_Fast(forms, "digit forms must be a sequence");
    if (!form_seq)
        return -1;
    Py_ssize_t n_forms = PySequence_Fast_GET_SIZE(form_seq);
    if (n_forms > MAX_FORMS) {
        Py_DECREF(form_seq);
        PyErr_Format(PyExc_ValueError, "at most %d digit forms", MAX_FORMS);
        return -1;
    }
    S->n_forms = (int)n_forms;
    for (Py_ssize_t i = 0; i < n_forms; i++) {
        long f = PyLong_AsLong(PySequence_Fast_GET_ITEM(form_seq, i));
        if (f == -1 && PyErr_Occurred()) {
            Py_DECREF(form_seq);
            return -1;
        }
        if (f < 0 || f >= N_DIGIT_FORMS) {
            Py_DECREF(form_seq);
            PyErr_Format(PyExc_ValueError, "digit forms must lie in 0..%d", N_DIGIT_FORMS - 1);
            return -1;
        }
        S->forms[i] = (int)f;
    }
    Py_DECREF(form_seq);
    PyObject *seq = PySequence_Fast(paths, "difference_paths must be a sequence");
    if (!seq)
        return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n > MAX_PATHS) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "at most %d difference paths", MAX_PATHS);
        return -1;
    }
    S->n_paths = (int)n;
    for (Py_ssize_t i = 0; i < n; i++) {
        long p = PyLong_AsLong(PySequence_Fast_GET_ITEM(seq, i));
        if (p == -1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        if (p < 1 || p > 64) {
            Py_DECREF(seq);
            PyErr_SetString(PyExc_ValueError, "difference paths must lie in 1..64");
            return -1;
        }
        S->paths[i] = (int)p;
    }
    Py_DECREF(seq);
    return 0;
}

static PyObject *out_tuple(Out o)
{
    if (o.value < 0)
        return Py_NewRef(Py_None);
    return Py_BuildValue("(iii)", o.value, o.shift, o.sign);
}

PyObject *py_plans(PyObject *self, PyObject *args)
{
    (void)self;
    PyObject *W_obj, *mags_obj, *wanted_obj, *config;
    int max_depth;
    long long bound_adders, bound_width;
    if (!PyArg_ParseTuple(args, "OOiO(LL)O:plans", &W_obj, &mags_obj, &max_depth, &wanted_obj, &bound_adders,
                          &bound_width, &config))
        return NULL;
    Search S;
    memset(&S, 0, sizeof S);
    S.best_code = -1;
    S.max_depth = max_depth;
    S.bound_adders = bound_adders;
    S.bound_width = bound_width;
    if (max_depth < -1 || max_depth > 60) {
        PyErr_Format(PyExc_ValueError, "max_depth must be -1 (none) or 0..60, got %d", max_depth);
        return NULL;
    }
    if (parse_config(config, &S))
        return NULL;

    Py_buffer view;
    if (PyObject_GetBuffer(W_obj, &view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT | PyBUF_ND))
        return NULL;
    PyObject *result = NULL, *mags_seq = NULL, *wanted_seq = NULL;
    u128 *mags = NULL;
    int32_t *wanted_codes = NULL;
    const char *f = view.format ? view.format : "";
    if (*f == '@' || *f == '=' || *f == '<')
        f++;
    if (view.ndim != 2 || view.itemsize != 8 || !(f[0] == 'q' || f[0] == 'l') || f[1] ||
        view.shape[0] < 1 || view.shape[1] < 1 || view.shape[0] >= INT32_MAX / 4 || view.shape[1] >= INT32_MAX / 4) {
        PyErr_SetString(PyExc_ValueError, "W must be a non-empty C-contiguous 2-D int64 array");
        goto done;
    }
    S.m = (int)view.shape[0];
    S.n = (int)view.shape[1];
    S.W = view.buf;
    for (size_t i = 0; i < (size_t)S.m * S.n; i++)
        if (S.W[i] >= ((int64_t)1 << 60) || S.W[i] <= -((int64_t)1 << 60)) {
            PyErr_SetString(PyExc_ValueError, "W's entries must lie below 2**60 in magnitude");
            goto done;
        }
    mags_seq = PySequence_Fast(mags_obj, "magnitudes must be a sequence");
    if (!mags_seq)
        goto done;
    if (PySequence_Fast_GET_SIZE(mags_seq) != S.n) {
        PyErr_SetString(PyExc_ValueError, "magnitudes must have one entry per column of W");
        goto done;
    }
    mags = malloc(((size_t)S.n + (size_t)S.m + 1) * sizeof(u128));
    S.WT = malloc(((size_t)S.m * S.n + 1) * sizeof(int64_t));
    S.best_outs = malloc(((size_t)S.m + 1) * sizeof(Out));
    if (!mags || !S.WT || !S.best_outs) {
        PyErr_NoMemory();
        goto done;
    }
    for (int j = 0; j < S.n; j++) {
        long long x = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(mags_seq, j));
        if (x == -1 && PyErr_Occurred())
            goto done;
        if (x < 0) {
            PyErr_SetString(PyExc_ValueError, "magnitudes must be >= 0");
            goto done;
        }
        mags[j] = (u128)x;
    }
    for (int i = 0; i < S.m; i++)
        mags[S.n + i] = 128; /* the inner graphs of transposed plans: their widths do not count */
    S.mags = mags;
    S.inner_mags = mags + S.n;
    for (int i = 0; i < S.m; i++)
        for (int j = 0; j < S.n; j++)
            S.WT[(size_t)j * S.m + i] = S.W[(size_t)i * S.n + j];
    if (wanted_obj != Py_None) {
        wanted_seq = PySequence_Fast(wanted_obj, "wanted must be a sequence or None");
        if (!wanted_seq)
            goto done;
        S.n_wanted = (int)PySequence_Fast_GET_SIZE(wanted_seq);
        wanted_codes = malloc(((size_t)S.n_wanted + 1) * sizeof(int32_t));
        if (!wanted_codes) {
            PyErr_NoMemory();
            goto done;
        }
        for (int i = 0; i < S.n_wanted; i++) {
            long x = PyLong_AsLong(PySequence_Fast_GET_ITEM(wanted_seq, i));
            if (x == -1 && PyErr_Occurred())
                goto done;
            wanted_codes[i] = (int32_t)x;
        }
        S.wanted = wanted_codes;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = 0;
    for (int f = 0; f < S.n_forms && !rc; f++) {
        S.form = S.forms[f];
        rc = run_plans(&S, S.W, S.m, S.n, 0);
    }
    Py_END_ALLOW_THREADS
    switch (rc) {
    case 0:
        break;
    case PLAN_OVERFLOW:
        result = Py_NewRef(Py_None);
        goto done;
    default:
        set_cse_error(rc, "_pair_cse.plans");
        goto done;
    }
    int gc_was_enabled = PyGC_Disable();
    PyObject *scores = PyList_New(S.n_scores), *best = NULL;
    if (!scores)
        goto built;
    for (int i = 0; i < S.n_scores; i++) {
        const int64_t *x = S.scores + 3 * i;
        PyObject *t = Py_BuildValue("(iLL)", (int)x[0], (long long)x[1], (long long)x[2]);
        if (!t)
            goto built;
        PyList_SET_ITEM(scores, i, t);
    }
    if (!S.best_nodes) {
        best = Py_NewRef(Py_None);
    } else {
        PyObject *nodes = PyList_New((Py_ssize_t)S.best_n_nodes), *outputs = PyList_New(S.m);
        if (!nodes || !outputs) {
            Py_XDECREF(nodes);
            Py_XDECREF(outputs);
            goto built;
        }
        int ok = 1;
        for (int64_t k = 0; k < S.best_n_nodes && ok; k++) {
            const CseNode *x = &S.best_nodes[k];
            PyObject *t = Py_BuildValue("(iiiii)", x->a, x->a_shift, x->b, x->b_shift, x->sign);
            ok = t != NULL;
            if (ok)
                PyList_SET_ITEM(nodes, (Py_ssize_t)k, t);
        }
        for (int i = 0; i < S.m && ok; i++) {
            PyObject *t = out_tuple(S.best_outs[i]);
            ok = t != NULL;
            if (ok)
                PyList_SET_ITEM(outputs, i, t);
        }
        if (ok)
            best = Py_BuildValue("(iNN)", S.best_code, nodes, outputs);
        else {
            Py_DECREF(nodes);
            Py_DECREF(outputs);
        }
    }
    if (best)
        result = PyTuple_Pack(2, scores, best);
built:
    Py_XDECREF(scores);
    Py_XDECREF(best);
    if (gc_was_enabled)
        PyGC_Enable();
done:
    PyBuffer_Release(&view);
    Py_XDECREF(mags_seq);
    Py_XDECREF(wanted_seq);
    free(mags);
    free(wanted_codes);
    free(S.WT);
    free(S.scores);
    free(S.best_nodes);
    free(S.best_outs);
    return result;
}
