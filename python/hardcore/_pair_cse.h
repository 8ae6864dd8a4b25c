/*
 * The C side of hardcore.cmvm, shared by its two files: _pair_cse.c (the
 * pair-pattern CSE core, cmvm._PairCse) and _cmvm_plans.c (the plans around
 * it: canonical rows, difference trees, two stages, transposition, final
 * adder trees; cmvm._best_plan and the functions it calls).
 */
#ifndef HARDCORE_PAIR_CSE_H
#define HARDCORE_PAIR_CSE_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

/* node k of a graph over n inputs is value n + k = (a << a_shift) + sign * (b << b_shift) */
typedef struct {
    int32_t a, a_shift, b, b_shift, sign;
} CseNode;

typedef struct {
    int32_t value, shift, sign;
} CseTerm;

/* What the CSE core built, and each row's terms left to sum (row r: left[row_start[r] .. row_start[r + 1])). */
typedef struct {
    CseNode *nodes;
    int64_t n_nodes;
    CseTerm *left;
    int64_t *row_start;
} CseResult;

/* pair_cse_solve's results besides 0 (solved) */
#define CSE_INFEASIBLE 1     /* a row cannot be summed within max_depth */
#define CSE_NO_MEMORY (-1)
#define CSE_TOO_MANY_VALUES (-2)
#define CSE_INTERNAL (-3)
#define CSE_TOO_MANY_ROWS (-4)

/* Pair-pattern CSE of n_values inputs (of the given depths) into n_rows rows;
 * terms: n_terms records (row, value, shift, sign), each (row, value, shift)
 * once, shift < 127; max_depth -1 (none) or 0..60.  Runs without the GIL. */
int pair_cse_solve(int n_values, const int32_t *depths, int n_rows, const int32_t *terms, int64_t n_terms,
                   int max_depth, int tie_b_first, int64_t lookahead, CseResult *out);
void cse_result_free(CseResult *result);

/* Sets the Python exception for a pair_cse_solve/run_plans error code (one of the
 * negative codes above); `where` names the caller in the internal-error message. */
void set_cse_error(int rc, const char *where);

PyObject *py_plans(PyObject *self, PyObject *args);
extern const char plans_doc[];

#endif
